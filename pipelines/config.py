"""The experiment config: one YAML file → a typed tree, with ``--set key=value`` overrides.

This module holds the sections every task shares; each task package adds its own config class
(``task``, ``model``, ``data``, ``train``), and ``task`` picks it from :data:`attnops.pipelines.tasks.TASKS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from attnops.models.config import OptimConfig
from attnops.pipelines.data.location import data_dir
from attnops.pipelines.errors import UserError
from attnops.pipelines.tasks import task_named

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The folder that holds ``models/``, ``pipelines/`` and ``serving/``: the checkout, or the installed ``attnops/``
(``pipelines/configs/`` travels as package data). Nothing writes under it."""
DEFAULT_TASK = "translation"
"""The task of a config file that names none."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def architecture_union(families: dict[str, type[BaseModel]], default: str) -> Any:
    """A ``model`` section type whose ``architecture`` key (``default`` where it is not given) picks the config class.

    An unknown architecture is refused with the allowed ones named.
    """

    def architecture(model: Any) -> str:
        return model.get("architecture", default) if isinstance(model, dict) else model.architecture

    def known(model: Any) -> Any:
        if (name := architecture(model)) not in families:
            raise ValueError(f"architecture={name!r} is not allowed; choose one of: {', '.join(families)}")
        return model

    tagged = tuple(Annotated[config, Tag(name)] for name, config in families.items())
    return Annotated[Union[tagged], Discriminator(architecture), BeforeValidator(known)]  # noqa: UP007 (built from a tuple)


class DataSection(Section):
    root: str | None = None
    """Data root; default $ATTNOPS_DATA_DIR, else the per-user data folder (``attnops data list`` shows it)."""
    dataset: str
    """A folder under the data root; a catalogue name (``attnops data list``) is fetched on first use."""
    path: str | None = None
    """Your own data instead: a folder in the task's JSON Lines format (docs/data.md); root and dataset unused."""

    def data_root(self) -> Path:
        """Resolve the data root from the config, the environment or the default."""
        return Path(self.root).expanduser().resolve() if self.root else data_dir()

    def folder(self) -> Path:
        """The folder the data is read from: ``path``, else the data set's folder under the data root."""
        return Path(self.path).expanduser().resolve() if self.path else self.data_root() / self.dataset


class TrainConfig(Section):
    """Settings every task's training shares."""

    max_epochs: int = Field(10, ge=1)
    max_steps: int = Field(-1, ge=-1)
    """Stop after this many optimizer steps (-1: no limit)."""
    max_minutes: float | None = Field(None, gt=0.0)
    """Stop after this much wall time, validation included, then validate once more (None: no limit)."""
    val_every_steps: int | None = Field(None, ge=1)
    """Validate every N optimizer steps as well as at each epoch end (None: epoch ends only)."""
    batch_size: int = Field(64, ge=1)
    grad_clip: float = Field(1.0, ge=0.0)
    """Gradient norm clipping (0: off)."""
    seed: int = 42
    optim: OptimConfig = OptimConfig()
    early_stopping_patience: int = Field(3, ge=0)
    """Stop when the validation metric has not improved for this many epochs (0: never)."""
    num_threads: int | None = Field(None, ge=1)
    """Torch CPU threads (None: all cores)."""
    workers: int = Field(1, ge=1)
    """Data-parallel workers (>1: DDP on Ray Train, on $RAY_ADDRESS's cluster or a local one)."""
    deterministic: bool = False
    """Deterministic algorithms only: a continued run then repeats an uninterrupted one exactly."""
    average_last_epochs: int = Field(0, ge=0)
    """Average the weights of the last N of ``max_epochs`` epochs (checkpoint averaging) and keep the average when
    it validates at least as well as the best epoch (0: off; one process only)."""

    @model_validator(mode="after")
    def _averaging_fits(self) -> TrainConfig:
        if self.average_last_epochs > self.max_epochs:
            raise ValueError(f"average_last_epochs={self.average_last_epochs} exceeds max_epochs={self.max_epochs}")
        if self.average_last_epochs and self.workers > 1:
            raise ValueError("average_last_epochs needs workers=1 (Ray Train fits do not average)")
        return self


class DecodingTrainConfig(TrainConfig):
    """Training settings of models that generate text with search."""

    eval_beam_size: int = Field(4, ge=1, le=16)
    """Beam size of the final test evaluation."""
    max_decode_length: int = Field(80, ge=1)
    """Longest translation search may produce."""
    length_penalty: float = Field(0.6, ge=0.0)
    """GNMT length-penalty alpha for beam search."""
    no_repeat_ngram: int = Field(0, ge=0)
    """Search never repeats an n-gram of this size within an output (0: off)."""


class TrackingConfig(Section):
    experiment: str = "attnops-translation"
    """MLflow experiment name."""
    run_name: str | None = None
    heatmap_sentences: int = Field(4, ge=0)
    """Attention heat-maps (or highlighted documents) logged for the first N test examples."""
    system_metrics: bool = True
    """Log CPU/memory (and GPU) usage while training."""


class RuntimeConfig(Section):
    """ONNX Runtime session settings, used wherever an exported model runs."""

    intra_op_threads: int = Field(0, ge=0)
    """Threads per operator (0: ONNX Runtime's default, one per physical core)."""
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    spin_wait: bool = False
    """Let idle ONNX Runtime threads spin. Off by default: search runs PyTorch ops between graph calls,
    and spinning threads take the cores from them (3x slower greedy decoding on 2 cores)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto: the CUDA execution provider when onnxruntime has it, the CPU provider otherwise."""
    precision: Literal["fp32", "int8"] = "fp32"
    """Which exported graphs to run (int8 needs an export made with --quantize int8)."""


class ExportConfig(Section):
    opset: int = Field(18, ge=17)
    parity_tolerance: float = Field(1e-4, gt=0.0)
    """Largest allowed |logits(PyTorch) - logits(ONNX Runtime)| on fresh inputs."""
    parity_split: str = "test_2016_flickr"
    """Split whose predictions (greedy translations, labels, selected sentences) must be identical
    between PyTorch and ONNX Runtime."""
    max_quantized_drop: float = Field(0.5, ge=0.0)
    """The INT8 gate, one for every task: INT8 graphs are kept, and serve by default, only if the task's
    quality figure on the parity split (BLEU, ROUGE-L: points out of 100) drops by at most this much."""


MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
MAX_GATE_TOLERANCE = 1.0
"""The most a candidate may score below the alias holder, in the gate metric's units (BLEU points,
ROUGE points, accuracy)."""


class RegistryConfig(Section):
    model_name: str = Field(pattern=MODEL_NAME_PATTERN)
    """Default registered model name for ``attnops register``."""
    gate_metric: str
    """Run metric the promotion gate compares (higher is better)."""
    gate_tolerance: float = Field(0.0, ge=0.0, le=MAX_GATE_TOLERANCE, allow_inf_nan=False)
    """A candidate may score this much below the alias holder and still be promoted (at most
    :data:`MAX_GATE_TOLERANCE`; an operator's registry tag overrides it, see ``attnops.pipelines.registry``)."""


class ExperimentConfig(Section):
    """Sections every task shares; each task's config adds ``task``, ``model``, ``data`` and ``train``."""

    task: str
    """Which registered task (:data:`attnops.pipelines.tasks.TASKS`) this experiment is; picks the schema."""
    train: TrainConfig = TrainConfig()
    tracking: TrackingConfig = TrackingConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    export: ExportConfig = ExportConfig()
    registry: RegistryConfig

    @model_validator(mode="before")
    @classmethod
    def _task_registry_defaults(cls, data: Any) -> Any:
        """A partial ``registry`` section keeps the task's defaults for the keys it leaves out."""
        default = cls.model_fields["registry"].default
        if isinstance(data, dict) and isinstance(data.get("registry"), dict) and isinstance(default, RegistryConfig):
            data = {**data, "registry": {**default.model_dump(exclude_unset=True), **data["registry"]}}
        return data

    def flat(self) -> dict[str, Any]:
        """Every resolved value as ``{"dotted.key": value}`` (what is logged as MLflow params)."""
        return _flatten(self.model_dump(mode="json"))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value and key != "hub_splits":
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _apply_override(tree: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise UserError(f"bad --set {override!r}: expected KEY=VALUE, e.g. train.max_epochs=2")
    *parents, leaf = key.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"bad --set {override!r}: {part!r} is not a section")
    node[leaf] = yaml.safe_load(raw) if raw else None


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            message = "unknown key"
        problems.append(f"{key}: {message}")
    return "; ".join(problems)


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Read a YAML experiment file (or the defaults when ``path`` is None) and apply overrides.

    Raises:
        UserError: a missing or malformed file, unknown keys, or invalid values.
    """
    tree: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        try:
            tree = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise UserError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
        if not isinstance(tree, dict):
            raise UserError(f"config file {path} must hold a mapping of sections, got {type(tree).__name__}")
    for override in overrides:
        _apply_override(tree, override)
    tree.setdefault("task", DEFAULT_TASK)
    schema = task_named(str(tree["task"])).config_type
    try:
        return schema.model_validate(tree)
    except ValidationError as exc:
        raise UserError(f"invalid config{f' {path}' if path else ''}: {_describe(exc)}") from exc
