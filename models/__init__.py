"""Attention models: scorers, encoders, decoders, search and Lightning modules (torch only)."""
