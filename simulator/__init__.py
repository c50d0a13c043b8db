"""The local staging world: Google Cloud APIs, the Netra backend/auth services and Slack, on loopback."""
