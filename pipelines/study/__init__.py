"""``attnops study``: train several configs (× seeds) at one budget as child runs of one parent run, then compare."""
