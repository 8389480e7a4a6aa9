"""What the service tells about itself: the inference log and the Prometheus series."""
