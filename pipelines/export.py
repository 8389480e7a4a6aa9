"""Export stage, for every task: a run's best checkpoint → parity-checked ONNX graphs → an MLflow pyfunc model.

The steps are the same for every task; the task supplies the graphs, the parity check, extra figures
and an input example (see :class:`attnops.pipelines.tasks.Task`).
"""

from __future__ import annotations

import importlib.metadata
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from attnops.pipelines import tracking
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.artifacts import BUNDLE_ARTIFACT, EXPORT_TAG, PARITY_TAG, PYFUNC_NAME
from attnops.pipelines.inference.bundle import Bundle, Manifest, load_bundle, write_bundle
from attnops.pipelines.inference.graphs import graph_specs
from attnops.pipelines.runs import load_run_config
from attnops.pipelines.task import Graphs, ParityCheck
from attnops.pipelines.tasks import task_for

log = logging.getLogger(__name__)

PYFUNC_SCRIPT = Path(__file__).with_name("pyfunc.py")
"""The models-from-code script every export logs (by path: importing it would set MLflow's model)."""
_REQUIREMENTS = ("mlflow", "onnxruntime", "tokenizers", "torch", "pandas", "pydantic", "pyyaml")


@dataclass
class ExportResult:
    run_id: str
    model_uri: str
    bundle: Bundle
    metrics: dict[str, float]
    compared: str
    """What the parity check compared, in words."""

    def lines(self) -> list[str]:
        parity = self.bundle.manifest.parity
        lines = [
            f"parity passed: max |dlogits| {parity.max_abs_logits:.2e} (tolerance {parity.tolerance:g}), "
            + self.compared
        ]
        lines += [
            f"{name}: {value:.2f}" for name, value in sorted(self.metrics.items()) if "bleu" in name or "rouge" in name
        ]
        lines.append(
            f"serves: {self.bundle.config.runtime.precision} (graphs: {', '.join(self.bundle.manifest.precisions)})"
        )
        return [*lines, self.model_uri]


def _quantized_gate(
    folder: Path, graphs: Graphs, quantize: str, figures: dict[str, float], max_drop: float
) -> tuple[str, ...]:
    """The INT8 gate: keep the quantized graphs if the task's quality figure (``<quantize>_drop``) dropped by at
    most ``max_drop``; otherwise delete them."""
    drop = figures[f"{quantize}_drop"]
    if drop <= max_drop:
        log.info("%s graphs kept and served by default: quality drop %.2f <= %.2f", quantize, drop, max_drop)
        return ("fp32", quantize)
    log.warning("%s graphs dropped: quality drop %.2f > %.2f (export.max_quantized_drop)", quantize, drop, max_drop)
    specs = graph_specs(graphs.state_fields)
    for spec in (specs.encoder, specs.decoder):
        (folder / spec.file(quantize)).unlink()
    return ("fp32",)


def pip_requirements() -> list[str]:
    return [f"{name}=={importlib.metadata.version(name)}" for name in _REQUIREMENTS]


def record_parity(run_id: str, check: ParityCheck) -> None:
    """Log the parity figures and tag to the run, passed or not; raise with the check's summary if it failed."""
    with tracking.resume_run(run_id):
        tracking.log_metrics(check.metrics)
        tracking.set_tags({PARITY_TAG: "passed" if check.parity.passed else "failed"})
    if not check.parity.passed:
        raise UserError(f"parity check failed for run {run_id}: {check.summary}; the run was not exported")


def check_parity_on(run_id: str, device: str) -> ParityCheck:
    """The export's parity check again, with ONNX Runtime on ``device`` (the gate itself runs on the CPU):
    the run's checkpoint exported afresh to a temporary folder, compared on fresh shapes and greedy output."""
    config = load_run_config(run_id)
    task = task_for(config)
    trained = task.load_trained(run_id, config)
    with tempfile.TemporaryDirectory(prefix="attnops-parity-") as folder:
        graphs = task.export_graphs(trained, Path(folder), config.export.opset)
        runtime = config.runtime.model_copy(update={"precision": "fp32", "device": device})
        return task.check_parity(trained, Path(folder), graphs, runtime)


AUTO = "auto"
"""``quantize`` value: the task's first quantization, if it has one (what ``attnops export`` does by default)."""


def export_run(run_id: str, quantize: str | None = None, overwrite: bool = False) -> ExportResult:
    """Export ``run_id``'s best checkpoint; fail (and log why) if ONNX Runtime disagrees with PyTorch.

    With ``quantize``, quantized graphs are written and scored; they are kept, and become what the export runs
    by default, only if they pass the INT8 gate (``export.max_quantized_drop``)."""
    previous = tracking.run_tags(run_id).get(EXPORT_TAG)
    if previous and not overwrite:
        raise UserError(f"run {run_id} already has an ONNX export ({previous}); pass --overwrite to replace it")
    config = load_run_config(run_id)
    task = task_for(config)
    if quantize == AUTO:
        quantize = task.quantizations[0] if task.quantizations else None
    if quantize is not None and quantize not in task.quantizations:
        allowed = ", ".join(task.quantizations) or "none"
        raise UserError(f"--quantize {quantize} is not available for {config.task} models (allowed: {allowed})")
    trained = task.load_trained(run_id, config)
    folder = Path(tempfile.mkdtemp(prefix="attnops-export-")) / BUNDLE_ARTIFACT
    graphs = task.export_graphs(trained, folder, config.export.opset)
    cpu_fp32 = config.runtime.model_copy(update={"precision": "fp32", "device": "cpu"})
    check = task.check_parity(trained, folder, graphs, cpu_fp32)
    parity = check.parity
    log.info("parity: max |Δlogits| %.2e, mismatches %d/%d", parity.max_abs_logits, parity.greedy_mismatches,
             parity.greedy_sentences)  # fmt: skip
    record_parity(run_id, check)

    precisions, figures = task.export_figures(trained, folder, graphs, cpu_fp32, quantize)
    if quantize in precisions:
        precisions = _quantized_gate(folder, graphs, quantize, figures, config.export.max_quantized_drop)
        runtime = config.runtime.model_copy(update={"precision": precisions[-1]})
        config = config.model_copy(update={"runtime": runtime})  # what the bundle runs unless told otherwise
    metrics = {**check.metrics, **figures}
    manifest = Manifest(
        run_id=run_id,
        task=config.task,
        state_fields=graphs.state_fields,
        precisions=precisions,
        opset=config.export.opset,
        parity=parity,
        image_size=graphs.image_size,
    )
    bundle = load_bundle(write_bundle(folder, config, trained.codec, manifest))
    example = task.example_input(trained)
    output = task.predict_frame(bundle, bundle.backend(cpu_fp32), example)
    with tracking.resume_run(run_id):
        tracking.log_metrics(metrics)
        model_uri = tracking.log_pyfunc_model(
            PYFUNC_NAME,
            PYFUNC_SCRIPT,
            {BUNDLE_ARTIFACT: folder},
            example,
            output,
            task.pyfunc_params(config),
            pip_requirements(),
        )
        tracking.set_tags({EXPORT_TAG: model_uri})
    return ExportResult(run_id, model_uri, bundle, metrics, check.compared)
