"""Shared plumbing of the REST API (/api/v1/): auth, errors, pagination, throttling."""
