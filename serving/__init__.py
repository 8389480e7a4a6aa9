"""Ray Serve inference service (built in a later issue)."""
