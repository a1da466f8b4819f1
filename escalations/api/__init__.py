"""The integrator REST API (/api/v1/): escalations, events, conversations."""
