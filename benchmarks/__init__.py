"""Benchmarks: programs that print figures (``attnops bench decode``, ``attnops bench serve``)."""
