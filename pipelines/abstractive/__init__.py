"""Abstractive summarization: a pointer-generator with coverage writes a short summary of a document."""
