"""Ray Serve inference service: the gateway, one model deployment per task, and their settings."""
