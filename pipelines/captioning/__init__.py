"""Captioning: Show, Attend and Tell or a Transformer over a pretrained EfficientNet-Lite0 grid (Flickr8k)."""
