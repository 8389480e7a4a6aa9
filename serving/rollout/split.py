"""The traffic split the gateway applies, and which side of it a request falls on."""

from __future__ import annotations

import hashlib
import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STICKY_HEADER = "X-Rollout-Key"
"""A client's key (a user or session id): requests with the same key fall on the same side of a split."""


class Split(BaseModel):
    """A share of live requests for the candidate: answered by it (canary), or also sent to it (shadow)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Registered model name.")
    champion: str = Field(description="The version @champion serves.")
    version: str = Field(description="The candidate: the version the challenger deployment must serve.")
    share: float = Field(ge=0.0, le=1.0, description="Share of requests for the candidate, 0 to 1.")
    mode: Literal["canary", "shadow"] = Field(
        "canary",
        description="canary: the candidate answers its share; shadow: the champion answers every request "
        "and the candidate's share is also sent to it, its answers only recorded.",
    )


def bucket(key: str | None) -> float:
    """A request's place in [0, 1), below the share for the candidate: fixed by ``key`` when the client sent one
    (the same key always lands in the same place, whatever the share), else drawn at random."""
    if key is None:
        return random.random()
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
