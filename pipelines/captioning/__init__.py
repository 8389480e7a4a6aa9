"""Captioning: Show, Attend and Tell over a pretrained EfficientNet-Lite0 grid (Flickr8k)."""
