"""The task protocol: what differs per task, and the small records the shared lifecycle steps exchange with it.

The lifecycle steps (:mod:`attnops.pipelines.train`, :mod:`attnops.pipelines.evaluate`, :mod:`attnops.pipelines.export`,
:mod:`attnops.pipelines.registry`, :mod:`attnops.pipelines.predict`) are written once against :class:`Task`; the
registry of tasks is :data:`attnops.pipelines.tasks.TASKS`. A task module imports only what inference needs at
module level; its training, evaluation and export members import the training stack when called, so
loading a bundle or serving a model never pulls Lightning or the exporter.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from attnops.pipelines.config import ExperimentConfig, RuntimeConfig
    from attnops.pipelines.inference.bundle import Bundle, Manifest, Parity
    from attnops.pipelines.inference.decoding import SearchOverride


class Report(Protocol):
    """A result that prints itself: figures first, then examples."""

    metrics: dict[str, float]

    def metric_lines(self) -> list[str]: ...

    def sample_lines(self) -> list[str]: ...


@dataclass
class Training:
    """What a task sets up inside the training run for the shared fit."""

    module: Any
    """The LightningModule to fit."""
    train_loader: Any
    val_loader: Any
    monitor: str
    """Validation metric that picks the best checkpoint and stops early."""
    mode: str = "max"
    state: dict[str, Any] = field(default_factory=dict)
    """Whatever the task needs again after the fit (codec, encoder, data views)."""


@dataclass
class Graphs:
    """What a task's export wrote into the bundle folder, as the manifest records it."""

    state_fields: tuple[str, ...] = ()
    image_size: int | None = None


@dataclass
class ParityCheck:
    """A task's PyTorch-vs-ONNX Runtime comparison: figures for the manifest and the run, and words for people."""

    parity: Parity
    metrics: dict[str, float]
    summary: str
    """Why it failed, when it fails (one line)."""
    compared: str
    """What was compared, e.g. 'greedy identical on 50/50 sentences'."""


@dataclass(frozen=True)
class Lazy:
    """What a task names without importing it: ``module`` or ``module:attribute``, imported on :meth:`load`.

    The registry names each task this way (so that the config and the inference runtime can look tasks up
    without an import loop), and a task names so its lifecycle module (the training stack), its commands, its
    Serve deployment class, its REST schemas and its study's speed probe: loading the task for inference
    imports none of them, and the gateway imports only the schemas.
    """

    path: str

    def load(self) -> Any:
        module, _, attribute = self.path.partition(":")
        loaded = importlib.import_module(module)
        return getattr(loaded, attribute) if attribute else loaded


@dataclass(frozen=True)
class Route:
    """A REST endpoint of the gateway that hands its body to a method of the task's deployment.

    The gateway's process builds the endpoint from this record alone: the schemas are named, not imported,
    so that it loads neither the task nor its model runtime.
    """

    path: str
    """e.g. ``/v1/translate``; tasks that share a path share one endpoint (see ``when``)."""
    method: str
    """The deployment's method that answers, and the endpoint's name."""
    request: Lazy
    """The pydantic body (JSON); with ``reader``, the type that reader returns."""
    response: Lazy
    """The pydantic answer."""
    description: str = ""
    summary: str | None = None
    when: tuple[str, str] | None = None
    """``(field, value)``: on a shared path, the bodies whose ``field`` is ``value`` go to this task; the route
    without ``when`` takes the others."""
    reader: Lazy | None = None
    """``async (Request) -> body``, for a body that is not one JSON object (e.g. a file upload)."""
    request_body: Lazy | None = None
    """``() -> dict``: the OpenAPI ``requestBody`` of a route with a ``reader``."""


@dataclass(frozen=True)
class Tab:
    """A tab of the web playground (``serving/ui``)."""

    label: str
    panel: str = ""
    """The page's panel that shows it (empty: the task's own). The page has a panel of its own for the tasks
    it knows; any other gets a panel that sends a JSON body to the task's first route and shows the answer."""


@dataclass(frozen=True)
class Service:
    """How a task is served: its Serve deployment and the gateway's routes to it (small, picklable, light)."""

    deployment: str
    """The Serve deployment that serves the task (its name in the Serve config)."""
    replica: Lazy
    """That deployment's class."""
    routes: tuple[Route, ...] = ()
    tab: Tab | None = None
    """Its tab in the playground (None: none). Tasks that name the same ``panel`` share one tab."""


@dataclass(frozen=True)
class Headline:
    """What a study (``attnops study``) and the results tables (``attnops report``) show of a task's runs."""

    test_metrics: tuple[str, ...]
    """Run metrics of the test figures, headline first (e.g. BLEU cased, then lowercased)."""
    curve: str
    """Validation metric followed against wall time (time to reach ``threshold``)."""
    threshold: float | None = None
    """Default value of ``curve`` whose first crossing the study times (None: no default)."""
    overrides: tuple[str, ...] = ()
    """``--set`` overrides every study trial gets (e.g. greedy test decoding)."""
    evaluation: str = ""
    """How the test figures were made, in words (e.g. "greedy search")."""
    tokens_param: str | None = None
    """Run param with the tokens in one training epoch (None: no tokens/s figure)."""
    speed_probe: Lazy | None = None
    """The function that times an export: ``(bundle, sentences, threads) -> {metric: value}``."""
    figures: tuple[str, ...] = ()
    """Run metrics of the results tables (``attnops report``), in order (empty: ``test_metrics``)."""
    figures_label: str = ""
    """What those figures are, in words (e.g. "BLEU cased / lowercased, test2016")."""
    baseline: str = ""
    """The baseline every run of the task scores on the same split, in words (empty: none)."""
    baseline_metrics: tuple[str, ...] = ()
    """The baseline's run metrics, in the order of ``figures``."""

    @property
    def shown(self) -> tuple[str, ...]:
        """The metrics the results tables show."""
        return self.figures or self.test_metrics


@dataclass(frozen=True)
class InputSpec:
    """The one input column ``predict_frame`` reads, and how a file of an input folder fills it."""

    column: str
    binary: bool = False
    """True: a file's bytes, base64-encoded (images); False: a file's text."""


TEXT_INPUT = InputSpec("text")


class Task(Protocol):
    """Everything that differs per task. Inference members first, then the lifecycle's."""

    name: str
    config_type: type[ExperimentConfig]
    model_name: str
    """Default registered model name (the service deploys ``models:/<model_name>@champion``)."""
    service: Service | None
    """How the task is served over REST (None: it is not)."""
    commands: Lazy | None
    """``(subparsers) -> None``: adds the task's own ``attnops`` commands (None: the lifecycle's only)."""
    splits: tuple[str, ...]
    """Splits ``attnops evaluate --split`` accepts."""
    quantizations: tuple[str, ...]
    """What ``attnops export --quantize`` accepts (empty: none)."""
    headline: Headline
    input: InputSpec
    """What one input row holds (``attnops predict`` checks input files against it)."""

    def load_codec(self, folder: Path) -> Any: ...

    def open_backend(self, folder: Path, manifest: Manifest, runtime: RuntimeConfig) -> Any: ...

    def predict_frame(
        self, bundle: Bundle, backend: Any, frame: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame: ...

    def pyfunc_params(self, config: ExperimentConfig) -> dict[str, Any]: ...

    def version_tags(self, config: ExperimentConfig) -> dict[str, str]: ...

    def load_data(self, config: ExperimentConfig) -> Any: ...

    def prepare_training(self, config: ExperimentConfig, data: Any, work: Path) -> Training: ...

    def evaluate_trained(self, config: ExperimentConfig, data: Any, training: Training, checkpoint: Path) -> Report: ...

    def evaluate_run(
        self, run_id: str, config: ExperimentConfig, split: str | None, search: SearchOverride
    ) -> Report: ...

    def load_trained(self, run_id: str, config: ExperimentConfig) -> Any: ...

    def export_graphs(self, trained: Any, folder: Path, opset: int) -> Graphs: ...

    def check_parity(self, trained: Any, folder: Path, graphs: Graphs, runtime: RuntimeConfig) -> ParityCheck: ...

    def export_figures(
        self, trained: Any, folder: Path, graphs: Graphs, runtime: RuntimeConfig, quantize: str | None
    ) -> tuple[tuple[str, ...], dict[str, float]]: ...

    def example_input(self, trained: Any) -> pd.DataFrame: ...


class LazyLifecycle:
    """The lifecycle members of a :class:`Task`, each forwarded to the same-named function of the module
    ``lifecycle`` names, which is imported when a lifecycle step first runs (never by inference)."""

    lifecycle: Lazy
    """The task's lifecycle module."""

    def _module(self) -> ModuleType:
        return self.lifecycle.load()

    def load_data(self, config: ExperimentConfig) -> Any:
        return self._module().load_data(config)

    def prepare_training(self, config: ExperimentConfig, data: Any, work: Path) -> Training:
        return self._module().prepare_training(config, data, work)

    def evaluate_trained(self, config: ExperimentConfig, data: Any, training: Training, checkpoint: Path) -> Report:
        return self._module().evaluate_trained(config, data, training, checkpoint)

    def evaluate_run(self, run_id: str, config: ExperimentConfig, split: str | None, search: SearchOverride) -> Report:
        return self._module().evaluate_run(run_id, config, split, search)

    def load_trained(self, run_id: str, config: ExperimentConfig) -> Any:
        return self._module().load_trained(run_id, config)

    def export_graphs(self, trained: Any, folder: Path, opset: int) -> Graphs:
        return self._module().export_graphs(trained, folder, opset)

    def check_parity(self, trained: Any, folder: Path, graphs: Graphs, runtime: RuntimeConfig) -> ParityCheck:
        return self._module().check_parity(trained, folder, graphs, runtime)

    def export_figures(
        self, trained: Any, folder: Path, graphs: Graphs, runtime: RuntimeConfig, quantize: str | None
    ) -> tuple[tuple[str, ...], dict[str, float]]:
        return self._module().export_figures(trained, folder, graphs, runtime, quantize)

    def example_input(self, trained: Any) -> pd.DataFrame:
        return self._module().example_input(trained)
