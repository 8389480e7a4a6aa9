"""The Ray a lifecycle step runs on: the cluster ``$RAY_ADDRESS`` names, else a private local instance."""

from __future__ import annotations

import os
from typing import Any

from attnops.pipelines.errors import UserError


def init_ray(**options: Any) -> None:
    """``ray.init`` on ``$RAY_ADDRESS``'s cluster, or a new local instance ("local": never a cluster another
    process left running on this host); a cluster that cannot be joined is a one-line :class:`UserError`."""
    import ray

    address = os.environ.get("RAY_ADDRESS") or "local"
    try:
        ray.init(address=address, **options)
    except ConnectionError as exc:
        hint = "" if os.environ.get("RAY_AUTH_MODE") else "; a cluster with token auth needs RAY_AUTH_MODE=token"
        raise UserError(f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0]}{hint}") from exc
