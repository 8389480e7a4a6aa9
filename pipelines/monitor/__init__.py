"""What models meet in production: per-request signals, the inference log store and drift reports."""
