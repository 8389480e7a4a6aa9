"""Deployment tooling: the local process stack, Serve configs for a cluster, KubeRay manifests."""
