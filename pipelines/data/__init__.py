"""Data sets by name: the catalogue of public sources, fetching and verifying them, a user's own files, lineage."""
