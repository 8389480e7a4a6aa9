"""Offline batch prediction (``attnops predict``): input files through an export on Ray Data, with resume."""
