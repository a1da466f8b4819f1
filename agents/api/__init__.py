"""DRF views of /api/v1/agents/ and /api/v1/teams/{id}/labels/: configuration as code."""
