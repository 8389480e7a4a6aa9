"""Tracked pipelines: data → tokenizer → train → evaluate (each stage a typed function)."""
