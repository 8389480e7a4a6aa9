"""The experiment config: one YAML file → a typed tree, with ``--set key=value`` overrides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from models.captioning import CaptionerConfig
from models.config import HierarchicalConfig, OptimConfig, Seq2SeqConfig
from pipelines.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "ATTNOPS_DATA_DIR"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TokenizerConfig(_Section):
    joint: bool = False
    """One BPE vocabulary for both languages (True) or one per language (False)."""
    vocab_size: int = Field(8000, ge=100)
    """BPE vocabulary size (per tokenizer)."""
    min_frequency: int = Field(2, ge=1)
    """Minimum pair frequency for a BPE merge."""


class _DataSection(_Section):
    root: str | None = None
    """Data root; default $ATTNOPS_DATA_DIR, else ../shared/data beside the repository."""

    def data_root(self) -> Path:
        """Resolve the data root from the config, the environment or the default."""
        root = self.root or os.environ.get(DATA_DIR_ENV) or str(REPO_ROOT.parent / "shared" / "data")
        return Path(root).expanduser().resolve()


class DataConfig(_DataSection):
    dataset: str = "multi30k"
    """A folder under the data root (local copy) or a Hugging Face hub dataset id."""
    source_lang: Literal["de", "en"] = "de"
    target_lang: Literal["de", "en"] = "en"
    hub_splits: dict[str, str] = {"train": "train", "val": "validation", "test_2016_flickr": "test"}
    """For a hub dataset: our split name → the hub's split name."""
    max_train_examples: int | None = Field(None, ge=1)
    """Use only the first N training pairs (None: all)."""
    max_eval_examples: int | None = Field(None, ge=1)
    """Use only the first N pairs of validation and test splits (None: all)."""
    max_tokens: int = Field(100, ge=4)
    """Training pairs with a longer (tokenized) side are dropped."""
    tokenizer: TokenizerConfig = TokenizerConfig()


class DocumentDataConfig(_DataSection):
    """A corpus of documents with a category and an extractive summary (BBC News Summary)."""

    dataset: str = "bbc_news_summary"
    """A folder under the data root holding ``<dataset>.jsonl.gz``."""
    val_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    split_seed: int = 13
    """Seed of the stratified train/val/test split (fixed, so every run sees the same test set)."""
    include_title: bool = False
    """Read the headline as the document's first sentence (never part of a summary)."""
    max_sentences: int = Field(40, ge=1)
    """Sentences kept per document; later ones are dropped (and a served answer says so)."""
    max_words: int = Field(60, ge=1)
    """Words kept per sentence."""
    vocab_size: int = Field(30000, ge=100)
    """Word vocabulary size (lowercased words of the training documents)."""
    min_frequency: int = Field(2, ge=1)
    max_train_examples: int | None = Field(None, ge=1)
    """Use only the first N training documents (None: all)."""


class CaptionDataConfig(_DataSection):
    """Photos with several reference captions each (flickr8k_mini: ``captions.jsonl.gz`` and ``images/``)."""

    dataset: str = "flickr8k_mini"
    """A folder under the data root."""
    min_word_frequency: int = Field(5, ge=1)
    """Words seen fewer times in the training captions become ``<unk>``."""
    augment: Literal["none", "hflip"] = "none"
    """Training augmentation: hflip also trains on left-right mirrored photos (their grids are cached too)."""
    max_train_examples: int | None = Field(None, ge=1)
    """Use only the first N training photos (None: all)."""
    max_eval_examples: int | None = Field(None, ge=1)
    """Use only the first N validation and test photos (None: all)."""


class TrainConfig(_Section):
    """Settings every task's training shares."""

    max_epochs: int = Field(10, ge=1)
    max_steps: int = Field(-1, ge=-1)
    """Stop after this many optimizer steps (-1: no limit)."""
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


class TrackingConfig(_Section):
    experiment: str = "attnops-translation"
    """MLflow experiment name."""
    run_name: str | None = None
    heatmap_sentences: int = Field(4, ge=0)
    """Attention heat-maps (or highlighted documents) logged for the first N test examples."""
    system_metrics: bool = True
    """Log CPU/memory (and GPU) usage while training."""


class RuntimeConfig(_Section):
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


class ExportConfig(_Section):
    opset: int = Field(18, ge=17)
    parity_tolerance: float = Field(1e-4, gt=0.0)
    """Largest allowed |logits(PyTorch) - logits(ONNX Runtime)| on fresh inputs."""
    parity_split: str = "test_2016_flickr"
    """Split whose predictions (greedy translations, labels, selected sentences) must be identical
    between PyTorch and ONNX Runtime."""


class RegistryConfig(_Section):
    model_name: str = Field("translation-de-en", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """Default registered model name for ``attnops register``."""
    gate_metric: str = "test_2016_flickr_bleu"
    """Run metric the promotion gate compares (higher is better)."""
    gate_tolerance: float = Field(0.0, ge=0.0)
    """A candidate may score this much below the alias holder and still be promoted."""


class SummaryConfig(_Section):
    """How an extractive summary is chosen and scored."""

    max_sentences: int = Field(3, ge=1)
    """Sentences selected (the top-scoring ones, returned in document order); lead-3 uses 3 too."""
    max_words: int | None = Field(None, ge=1)
    """Optional word budget: stop adding sentences once it would be exceeded."""
    rank_by: Literal["probability", "expected_words"] = "expected_words"
    """Order in which sentences are taken: by the model's probability, or by the summary words a
    sentence is expected to bring (probability × its length), which suits a sentence budget against
    long references (ROUGE)."""


class _ExperimentBase(_Section):
    """Sections every task shares; each task adds ``task``, ``model`` and ``data``."""

    tracking: TrackingConfig = TrackingConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    export: ExportConfig = ExportConfig()
    registry: RegistryConfig = RegistryConfig()

    def flat(self) -> dict[str, Any]:
        """Every resolved value as ``{"dotted.key": value}`` (what is logged as MLflow params)."""
        return _flatten(self.model_dump(mode="json"))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


class TranslationConfig(_ExperimentBase):
    task: Literal["translation"] = "translation"
    model: Seq2SeqConfig = Seq2SeqConfig()
    data: DataConfig = DataConfig()
    train: DecodingTrainConfig = DecodingTrainConfig()


class DocumentConfig(_ExperimentBase):
    """Hierarchical attention over a document: classification, or extractive summarization."""

    task: Literal["classification", "summarization"]
    model: HierarchicalConfig = HierarchicalConfig()
    data: DocumentDataConfig = DocumentDataConfig()
    train: TrainConfig = TrainConfig()
    summary: SummaryConfig = SummaryConfig()


class CaptioningConfig(_ExperimentBase):
    """Show, Attend and Tell: an LSTM with soft attention over a pretrained encoder's region grid."""

    task: Literal["captioning"] = "captioning"
    model: CaptionerConfig = CaptionerConfig()
    data: CaptionDataConfig = CaptionDataConfig()
    train: DecodingTrainConfig = DecodingTrainConfig(max_decode_length=30, eval_beam_size=3, early_stopping_patience=5)
    tracking: TrackingConfig = TrackingConfig(experiment="attnops-captioning", heatmap_sentences=4)
    export: ExportConfig = ExportConfig(parity_split="test")
    registry: RegistryConfig = RegistryConfig(model_name="captioning-flickr8k", gate_metric="test_cider")


ExperimentConfig = Annotated[TranslationConfig | DocumentConfig | CaptioningConfig, Field(discriminator="task")]
"""Any task's experiment; ``task`` (default ``translation``) picks the schema."""
_EXPERIMENT = TypeAdapter(ExperimentConfig)
TASKS = ("translation", "classification", "summarization", "captioning")


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
        loc = item["loc"][1:] if item["loc"] and item["loc"][0] in TASKS else item["loc"]  # drop the union tag
        key = ".".join(str(p) for p in loc) or "(top level)"
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
    tree.setdefault("task", "translation")
    try:
        return _EXPERIMENT.validate_python(tree)
    except ValidationError as exc:
        raise UserError(f"invalid config{f' {path}' if path else ''}: {_describe(exc)}") from exc
