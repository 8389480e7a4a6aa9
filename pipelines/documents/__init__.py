"""Documents: hierarchical attention (HAN) for classification and extractive summarization of BBC News."""
