"""A study's table (mean ± std over seeds) and plots, built from its finished child runs."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnops.pipelines import tracking
from attnops.pipelines.fitting import CURVE_PREFIX
from attnops.pipelines.inference.artifacts import PARITY_TAG
from attnops.pipelines.study.plots import plot_curves, plot_quality_speed
from attnops.pipelines.study.spec import StudySpec
from attnops.pipelines.study.trial import DONE_TAG, TRIAL_TAG
from attnops.pipelines.task import Headline

DECODE_PREFIX = "decode_ms_"
TABLE_FILE = "table.md"


@dataclass
class Child:
    """One finished trial as its child run holds it."""

    label: str
    seed: int
    run_id: str
    metrics: dict[str, float]
    parity: str
    curve: list[tuple[float, float]]
    """(seconds since the fit started, validation metric) at each validation."""

    def time_to(self, threshold: float | None) -> float | None:
        """Seconds until the curve first reached ``threshold`` (None: never, or no threshold)."""
        if threshold is None:
            return None
        return next((seconds for seconds, value in self.curve if value >= threshold), None)


@dataclass
class StudyReport:
    table: str
    """The table in Markdown, with the lines that say how it was made."""
    children: list[Child]
    files: list[Path] = field(default_factory=list)


def read_children(runs: list[Any], headline: Headline) -> list[Child]:
    """The finished trials among ``runs`` (the newest child per trial)."""
    children: dict[str, Child] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time):
        tags = run.data.tags
        if run.info.status != "FINISHED" or tags.get(DONE_TAG) != "true":
            continue
        label, _, seed = tags[TRIAL_TAG].rpartition("/seed")
        children[tags[TRIAL_TAG]] = Child(
            label, int(seed), run.info.run_id, dict(run.data.metrics), tags.get(PARITY_TAG, "not exported"),
            validation_curve(run.info.run_id, headline.curve),
        )  # fmt: skip
    return list(children.values())


def validation_curve(run_id: str, metric: str) -> list[tuple[float, float]]:
    """(seconds since the fit started, ``metric``) at each validation of any training run."""
    history = {m.step: m.value for m in tracking.client().get_metric_history(run_id, f"{CURVE_PREFIX}{metric}")}
    clock = {m.step: m.value for m in tracking.client().get_metric_history(run_id, f"{CURVE_PREFIX}elapsed_s")}
    return [(clock[step], history[step]) for step in sorted(history) if step in clock]


def spread(values: list[float], digits: int) -> str:
    """``mean ± std`` (sample std) over seeds; the value alone for one seed; ``-`` for none. Values under 1
    (a fraction such as an accuracy of 0.9812) keep three significant figures, whatever ``digits`` says."""
    if not values:
        return "-"
    largest = max(abs(v) for v in values)
    if 0 < largest < 1:
        digits = max(digits, 2 - math.floor(math.log10(largest)))
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _columns(headline: Headline, threshold: float | None, children: list[Child]) -> list[tuple[str, Any]]:
    """(header, function of a config's children → cell)."""

    def metric(name: str, digits: int, scale: float = 1.0):
        return lambda group: spread([c.metrics[name] * scale for c in group if name in c.metrics], digits)

    def reached(group: list[Child]) -> str:
        times = [t / 60 for c in group if (t := c.time_to(threshold)) is not None]
        if not times:
            return "not reached"
        return spread(times, 1) + ("" if len(times) == len(group) else f" ({len(times)}/{len(group)} seeds)")

    def best(group: list[Child]) -> str:
        return spread([max(v for _, v in c.curve) for c in group if c.curve], 2)

    def parity(group: list[Child]) -> str:
        states = sorted({c.parity for c in group})
        worst = max((c.metrics.get("parity_max_abs_logits", 0.0) for c in group), default=0.0)
        return "/".join(states) + (f" ({worst:.1e})" if "passed" in states else "")

    decode = sorted({name for c in children for name in c.metrics if name.startswith(DECODE_PREFIX)})
    columns: list[tuple[str, Any]] = [
        ("seeds", lambda group: ",".join(str(c.seed) for c in group)),
        ("params (M)", metric("parameters", 2, 1e-6)),
        *[(name, metric(name, 2)) for name in headline.test_metrics],
        (f"best {headline.curve}", best),
        (f"min to {headline.curve} ≥ {threshold:g}" if threshold is not None else "", reached),
        ("train tokens/s", metric("train_tokens_per_s", 0)),
        ("steps", metric("train_steps", 0)),
        ("train min", metric("train_seconds", 1, 1 / 60)),
        *[(name.removeprefix(DECODE_PREFIX).replace("_b", " ms/sent, batch "), metric(name, 2)) for name in decode],
        ("ONNX parity (max abs dlogits)", parity),
    ]  # fmt: skip
    return [(header, cell) for header, cell in columns if header]


def format_table(headline: Headline, threshold: float | None, children: list[Child], labels: list[str]) -> str:
    groups = defaultdict(list)
    for child in children:
        groups[child.label].append(child)
    columns = _columns(headline, threshold, children)
    lines = ["| config | " + " | ".join(h for h, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label in labels:
        if groups[label]:
            group = sorted(groups[label], key=lambda c: c.seed)
            lines.append(f"| {label} | " + " | ".join(cell(group) for _, cell in columns) + " |")
    return "\n".join(lines)


def build_report(
    spec: StudySpec, headline: Headline, runs: list[Any], failures: dict[str, str], out: Path
) -> StudyReport:
    """Write ``out/table.md`` and the plots from the study's child runs; return the table and files."""
    children = read_children(runs, headline)
    labels = [c.label for c in spec.configs]
    table = format_table(headline, spec.threshold, children, labels)
    notes = [
        f"Study `{spec.name}`: task {spec.task}, budget {spec.budget.describe()}, seeds {spec.seeds}.",
        f"Test figures from {headline.evaluation or 'the config'}; each cell is the mean ± sample std over seeds.",
        f"Time to threshold: wall minutes from the start of training (validation included) to the first "
        f"validation with {headline.curve} ≥ {spec.threshold}." if spec.threshold is not None else "",
    ]  # fmt: skip
    missing = [f"- {key}: failed: {why}" for key, why in sorted(failures.items())]
    text = (
        "\n".join(n for n in notes if n) + "\n\n" + table + "\n" + ("\n" + "\n".join(missing) + "\n" if missing else "")
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / TABLE_FILE).write_text(text)
    files = [out / TABLE_FILE]
    files.append(plot_curves(children, labels, headline.curve, spec.threshold, out / "curve.png"))
    speed = f"{DECODE_PREFIX}onnx_b1"
    if any(speed in c.metrics for c in children):
        files.append(plot_quality_speed(children, labels, headline.test_metrics[0], speed, out / "quality_speed.png"))
    return StudyReport(text, children, files)
