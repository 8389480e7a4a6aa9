"""The toy task's REST bodies (tests/test_task_registry.py): pydantic only, so the gateway's process stays light."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from attnops.serving.schemas import ServedModel


class LanguageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[StrictStr] = Field(min_length=1, max_length=16)


class LanguageResponse(BaseModel):
    languages: list[str]
    model: ServedModel
