"""A rollout's registry side: who may start one, its state while it runs, and its audit trail.

While a rollout of a model runs, the candidate holds the alias ``@challenger`` and the registered model
carries the tag ``attnops.rollout`` (the rollout's state, JSON); one rollout per model at a time. Every
step (start, each traffic change with the guards' figures, promotion, rollback, abort) is a tag on the
candidate version, ``rollout.<started>.<n>``, holding one JSON event with who and when: the registry
keeps the trail with the versions it concerns, and ``attnops models NAME --history`` reads it back.
"""

from __future__ import annotations

import getpass
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from attnops.pipelines import tracking
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.artifacts import CHALLENGER_ALIAS
from attnops.pipelines.inference.resolve import alias_holder, check_registered, model_version
from attnops.pipelines.registry import DEFAULT_ALIAS, check_gate
from attnops.pipelines.registry_lock import alias_lock

STATE_TAG = "attnops.rollout"
EVENT_PREFIX = "rollout."
Mode = Literal["canary", "shadow"]


@dataclass
class RolloutState:
    """A running rollout, as the registry keeps it."""

    name: str
    version: str
    """The candidate (holds ``@challenger``)."""
    champion: str
    """The version that held ``@champion`` when the rollout started."""
    task: str
    mode: Mode
    steps: list[float]
    """Shares of live requests, in order (canary: answered by the candidate; shadow: mirrored to it)."""
    started: str
    by: str
    events: int = field(default=0)
    """Events recorded so far (numbers the next one)."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def current(name: str) -> RolloutState | None:
    """The rollout of ``name`` that runs now, if any."""
    check_registered(name)
    text = tracking.client().get_registered_model(name).tags.get(STATE_TAG)
    return RolloutState(**json.loads(text)) if text else None


def start(name: str, version: str, mode: Mode, steps: list[float]) -> RolloutState:
    """Start a rollout of ``version`` against ``@champion``, or refuse (one line) and change nothing: a version
    that fails the quality gate, already holds ``@champion`` or is of another task, or a rollout of ``name``
    already running."""
    candidate = model_version(name, version)
    version = str(candidate.version)
    with alias_lock(name, CHALLENGER_ALIAS):
        running = current(name)
        if running is not None:
            raise UserError(
                f"a rollout of {name} v{running.version} is running (started {running.started} by {running.by}); "
                f"wait for it to end or stop it with 'attnops rollout {name} --abort'"
            )
        champion = alias_holder(name, DEFAULT_ALIAS)
        if champion is None:
            raise UserError(f"{name} has no @{DEFAULT_ALIAS} to roll out against; promote a first version instead")
        task, theirs = candidate.tags.get("task", "?"), champion.tags.get("task", "?")
        if task != theirs:
            raise UserError(f"{name} v{version} is a {task} model; @{DEFAULT_ALIAS} v{champion.version} is {theirs}")
        check_gate(name, version)
        state = RolloutState(name, version, str(champion.version), task, mode, steps, _now(), getpass.getuser())
        client = tracking.client()
        client.set_registered_model_tag(name, STATE_TAG, json.dumps(asdict(state)))
        client.set_registered_model_alias(name, CHALLENGER_ALIAS, version)
    record(state, "start", mode=mode, steps=steps, champion=state.champion)
    return state


def record(state: RolloutState, event: str, **details: Any) -> None:
    """Add one event to the candidate version's trail."""
    entry = {"at": _now(), "by": getpass.getuser(), "event": event, **details}
    key = f"{EVENT_PREFIX}{state.started}.{state.events:03d}"
    tracking.client().set_model_version_tag(state.name, state.version, key, json.dumps(entry))
    state.events += 1


def finish(state: RolloutState, outcome: str, **details: Any) -> None:
    """End the rollout: record ``outcome``, drop ``@challenger`` and the state. ``@champion`` is left as it is."""
    record(state, outcome, **details)
    client = tracking.client()
    try:
        client.delete_registered_model_alias(state.name, CHALLENGER_ALIAS)
    except MlflowException:
        pass  # already gone (an abort from another shell)
    client.delete_registered_model_tag(state.name, STATE_TAG)


def abort(name: str) -> RolloutState:
    """End the running rollout of ``name`` from anywhere (the controller sees it at its next look)."""
    state = current(name)
    if state is None:
        raise UserError(f"no rollout of {name} is running")
    tags = model_version(name, state.version).tags
    state.events = sum(key.startswith(f"{EVENT_PREFIX}{state.started}.") for key in tags)
    finish(state, "aborted")
    return state


def _events(version: ModelVersion) -> list[dict[str, Any]]:
    return [
        {
            **json.loads(value),
            "version": str(version.version),
            "rollout": key.removeprefix(EVENT_PREFIX).rsplit(".", 1)[0],
        }
        for key, value in sorted(version.tags.items())
        if key.startswith(EVENT_PREFIX)
    ]


def history(name: str) -> list[dict[str, Any]]:
    """Every recorded rollout event of ``name``'s versions, oldest first."""
    check_registered(name)
    versions = tracking.client().search_model_versions(f"name='{name}'")
    events = [event for v in versions for event in _events(v)]
    return sorted(events, key=lambda e: (e["rollout"], e["at"]))
