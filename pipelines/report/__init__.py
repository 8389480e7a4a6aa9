"""``attnops report``: the results tables of the docs, built from the runs of the store tagged as headlines."""
