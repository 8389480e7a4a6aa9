"""The MLflow Model Registry: register exports, promote by alias behind a quality gate, roll back.

Aliases only (stages are deprecated). Each registered model remembers, per alias, the versions that
held it (tag ``attnops.alias_history.<alias>``), which is what ``rollback`` walks back.

The gate's tolerance is policy, not the candidate's say: an operator's registered-model tag
``attnops.gate_tolerance`` when set, else the value the candidate's config recorded; either must lie in
[0, :data:`~attnops.pipelines.config.MAX_GATE_TOLERANCE`]. Gate values must be finite. Every promotion the gate
alone would have refused (``--force``) or that passed only by the tolerance leaves a tag on the version
(``forced_<alias>``, ``tolerated_<alias>``), which ``attnops models`` shows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from attnops.pipelines import tracking
from attnops.pipelines.config import MAX_GATE_TOLERANCE
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.artifacts import DIGEST_TAG, EXPORT_TAG
from attnops.pipelines.inference.checksums import model_digest
from attnops.pipelines.inference.resolve import (
    alias_holder,
    check_alias,
    check_name,
    check_registered,
    export_root,
    fetch_bundle,
    model_version,
)
from attnops.pipelines.registry_lock import alias_lock, is_lock
from attnops.pipelines.tasks import task_for

DEFAULT_ALIAS = "champion"
HISTORY_TAG = "attnops.alias_history.{alias}"
TOLERANCE_TAG = "attnops.gate_tolerance"
"""Registered-model tag an operator sets to fix the gate's tolerance for every version of the model."""
OVERRIDE_TAGS = ("forced_", "tolerated_")
"""Version tag prefixes (then the alias) of promotions the gate did not pass on merit."""


@dataclass
class Promotion:
    name: str
    alias: str
    version: str
    previous: str | None
    forced: bool


def _history(name: str, alias: str) -> list[str]:
    tag = tracking.client().get_registered_model(name).tags.get(HISTORY_TAG.format(alias=alias), "")
    return [v for v in tag.split(",") if v]


def register(run_id: str, name: str | None = None) -> ModelVersion:
    """Create a model version from ``run_id``'s ONNX export, tagged with its task, variant and figures."""
    tags = tracking.run_tags(run_id)
    model_uri = tags.get(EXPORT_TAG)
    if not model_uri:
        raise UserError(f"run {run_id} has no ONNX export; run 'attnops export {run_id}' first")
    bundle = fetch_bundle(model_uri)
    if not bundle.manifest.parity.passed:
        raise UserError(f"run {run_id}'s export did not pass its parity check; it cannot be registered")
    config = bundle.config
    name = name or config.registry.model_name
    check_name(name)
    metrics = tracking.client().get_run(run_id).data.metrics
    gate = config.registry.gate_metric
    if gate not in metrics:
        raise UserError(f"run {run_id} has no {gate!r} metric, which the promotion gate needs")
    if not math.isfinite(metrics[gate]):
        raise UserError(f"run {run_id}'s {gate} is {metrics[gate]}; the promotion gate needs a finite value")
    parity = bundle.manifest.parity
    version_tags = {
        "task": config.task,
        **task_for(config).version_tags(config),
        "gate_metric": gate,
        "gate_value": f"{metrics[gate]:.4f}",
        "gate_tolerance": f"{config.registry.gate_tolerance:g}",
        "parity": "passed",
        "parity_max_abs_logits": f"{parity.max_abs_logits:.3g}",
        "parity_greedy": f"{parity.greedy_sentences - parity.greedy_mismatches}/{parity.greedy_sentences}",
        "precisions": ",".join(bundle.manifest.precisions),
        "serves": bundle.config.runtime.precision,
        "source_run": run_id,
        DIGEST_TAG: model_digest(export_root(bundle)),
    }
    client = tracking.client()
    try:
        client.get_registered_model(name)
        created = False
    except MlflowException:
        client.create_registered_model(name, tags={"task": config.task})
        created = True
    try:
        return tracking.create_model_version(name, model_uri, run_id, version_tags)
    except Exception:
        if created:  # leave no empty registered model behind
            client.delete_registered_model(name)
        raise


def promote(name: str, version: str, alias: str = DEFAULT_ALIAS, force: bool = False) -> Promotion:
    """Point ``alias`` at ``version`` if it is at least as good as the current holder (or ``force``).

    Concurrent promotions and rollbacks of the same alias are serialized (:func:`alias_lock`)."""
    check_alias(alias)
    model_version(name, version)
    with alias_lock(name, alias):
        return _promote(name, version, alias, force)


def _promote(name: str, version: str, alias: str, force: bool) -> Promotion:
    candidate = model_version(name, version)
    version = str(candidate.version)
    if candidate.tags.get("parity") != "passed":
        raise UserError(f"{name} version {version} has no passing parity check; it cannot be promoted")
    holder = alias_holder(name, alias)
    previous = str(holder.version) if holder else None
    if previous == version:
        raise UserError(f"{name} version {version} already holds @{alias}")
    client = tracking.client()
    forced = False
    if holder is not None:
        metric = candidate.tags.get("gate_metric", "?")
        ours = _gate_value(candidate)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if holder.tags.get("gate_metric") != metric:
            if not force:
                raise UserError(
                    f"cannot compare {name} v{version} ({metric}) with @{alias} holder v{previous} "
                    f"({holder.tags.get('gate_metric')}); pass --force to promote anyway"
                )
            forced = True
            note = f"{stamp} over v{previous} ({metric} against {holder.tags.get('gate_metric')})"
        else:
            theirs, tolerance = _holder_value(holder), gate_tolerance(name, candidate)
            if not ours >= theirs - tolerance:  # a holder's NaN compares as better: only --force passes it
                if not force:
                    raise UserError(
                        f"quality gate: {name} v{version} has {metric} {ours:.2f}, below @{alias} holder "
                        f"v{previous} at {theirs:.2f} (tolerance {tolerance:g}); pass --force to promote anyway"
                    )
                forced = True
                note = f"{stamp} over v{previous} ({metric} {ours:.2f} < {theirs:.2f})"
            elif ours < theirs:
                note = f"{stamp} over v{previous} ({metric} {ours:.2f} < {theirs:.2f}, tolerance {tolerance:g})"
                client.set_model_version_tag(name, version, f"tolerated_{alias}", note)
        if forced:
            client.set_model_version_tag(name, version, f"forced_{alias}", note)
    # History first: a promotion cut off between the two writes is completed by running it again.
    history = [v for v in _history(name, alias) if v != version] + [version]
    client.set_registered_model_tag(name, HISTORY_TAG.format(alias=alias), ",".join(history))
    client.set_registered_model_alias(name, alias, version)
    return Promotion(name, alias, version, previous, forced)


def _gate_value(version: ModelVersion) -> float:
    """The version's gate value; a candidate with a missing or non-finite one cannot be promoted at all."""
    text = version.tags.get("gate_value", "")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UserError(
            f"{version.name} version {version.version} has gate value {text or 'none'}; "
            "the quality gate compares finite values only"
        )
    return value


def _holder_value(holder: ModelVersion) -> float:
    """The alias holder's gate value: -inf for a version registered before gate values, NaN if not a number."""
    try:
        return float(holder.tags.get("gate_value", "-inf"))
    except ValueError:
        return math.nan


def gate_tolerance(name: str, candidate: ModelVersion) -> float:
    """The tolerance of ``name``'s gate: the operator's registered-model tag, else the candidate's own (from its
    config); refused unless finite and within [0, MAX_GATE_TOLERANCE]."""
    operator = tracking.client().get_registered_model(name).tags.get(TOLERANCE_TAG)
    text, source = (
        (operator, f"tag {TOLERANCE_TAG} of {name}")
        if operator is not None
        else (
            candidate.tags.get("gate_tolerance", "0"),
            f"{name} version {candidate.version}",
        )
    )
    try:
        tolerance = float(text)
    except ValueError:
        tolerance = math.nan
    if not 0.0 <= tolerance <= MAX_GATE_TOLERANCE:  # also refuses NaN
        raise UserError(f"gate tolerance {text!r} ({source}) is not a number in [0, {MAX_GATE_TOLERANCE:g}]")
    return tolerance


def rollback(name: str, alias: str = DEFAULT_ALIAS) -> Promotion:
    """Move ``alias`` back to the version that held it before the current one."""
    check_alias(alias)
    check_registered(name)
    with alias_lock(name, alias):
        return _rollback(name, alias)


def _rollback(name: str, alias: str) -> Promotion:
    holder = alias_holder(name, alias)
    if holder is None:
        raise UserError(f"{name} has no @{alias} alias to roll back")
    current = str(holder.version)
    client = tracking.client()
    existing = {str(v.version) for v in client.search_model_versions(f"name='{name}'")}
    history = [v for v in _history(name, alias) if v in existing]
    if history and history[-1] == current:
        history.pop()
    if not history:
        raise UserError(f"{name}@{alias} (v{current}) has no earlier holder to roll back to")
    client.set_registered_model_tag(name, HISTORY_TAG.format(alias=alias), ",".join(history))
    client.set_registered_model_alias(name, alias, history[-1])
    return Promotion(name, alias, history[-1], current, forced=False)


@dataclass
class VersionRow:
    name: str
    version: str
    aliases: list[str]
    task: str
    attention: str
    gate_metric: str
    gate_value: str
    parity: str
    serves: str
    """Precision the version runs unless told otherwise."""
    created: str
    overrides: list[str]
    """``forced@alias`` / ``tolerated@alias`` for each promotion the gate did not pass on merit."""
    data: str
    """``NAME@DIGEST`` of each data set the version's run trained on."""


def list_versions(name: str | None = None) -> list[VersionRow]:
    """Every version of ``name`` (or of every registered model), newest first within a model."""
    client = tracking.client()
    if name is not None:
        check_registered(name)
    names = [name] if name else sorted(m.name for m in client.search_registered_models() if not is_lock(m.name))
    rows = []
    for model in names:
        aliases = client.get_registered_model(model).aliases  # {alias: version}
        for v in sorted(client.search_model_versions(f"name='{model}'"), key=lambda v: -int(v.version)):
            rows.append(
                VersionRow(
                    name=model,
                    version=str(v.version),
                    aliases=sorted(a for a, held in aliases.items() if str(held) == str(v.version)),
                    task=v.tags.get("task", ""),
                    attention=v.tags.get("attention", ""),
                    gate_metric=v.tags.get("gate_metric", ""),
                    gate_value=v.tags.get("gate_value", ""),
                    parity=v.tags.get("parity", "missing"),
                    serves=v.tags.get("serves", "fp32"),  # versions registered before the tag ran fp32
                    created=time.strftime("%Y-%m-%d %H:%M", time.localtime(v.creation_timestamp / 1000)),
                    overrides=_overrides(v.tags),
                    data=",".join(tracking.run_datasets(v.run_id)) if v.run_id else "",
                )
            )
    return rows


def _overrides(tags: dict[str, str]) -> list[str]:
    return sorted(
        f"{prefix.rstrip('_')}@{key.removeprefix(prefix)}"
        for key in tags
        for prefix in OVERRIDE_TAGS
        if key.startswith(prefix)
    )
