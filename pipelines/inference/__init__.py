"""The inference side: bundles, ONNX Runtime sessions, decoding settings and registry resolution.

Nothing here imports Lightning, the dataset library, the metric libraries or the ONNX exporter, so a
Serve replica or ``attnops translate`` loads only what it runs.
"""
