"""Fault suite (issue 14): Redis stopped or frozen, a worker killed mid-delivery, PostgreSQL
restarted under load. Each test starts the processes it breaks (its own Redis, its own
PostgreSQL cluster), never the services other test runs share."""
