"""``attnops monitor``: the drift report of a registered version's logged traffic, kept with the version.

The report (``report.html`` with ``drift.png``, and the most unusual records in ``unusual.csv``) is logged to
the version's run under ``monitoring/<UTC time>/``; the version's tags get each feature's PSI and the verdict,
which the serving replicas export as the ``attnops_drift_score`` and ``attnops_drift`` gauges.
"""

from __future__ import annotations

import html
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from attnops.pipelines import tracking
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.artifacts import DRIFT_TAG_PREFIX
from attnops.pipelines.inference.resolve import alias_holder, check_registered, model_version
from attnops.pipelines.monitor.drift import MIN_RECORDS, FeatureDrift, compare, unusual
from attnops.pipelines.monitor.features import DRIFT_FEATURES
from attnops.pipelines.monitor.reference import REFERENCE_FOLDER, load_reference
from attnops.pipelines.monitor.store import open_store

PLOT, PAGE, UNUSUAL = "drift.png", "report.html", "unusual.csv"
SHOWN_COLUMNS = ("time", "request_id", *DRIFT_FEATURES, "surprise", "text")


@dataclass
class DriftReport:
    name: str
    version: str
    run_id: str
    records: int
    features: list[FeatureDrift]
    unusual: pd.DataFrame
    folder: Path
    """Where the report's files were written."""
    artifact_path: str = ""
    """Where they are in the run's artifacts."""

    @property
    def verdict(self) -> str:
        if self.records < MIN_RECORDS:
            return "too few records"
        return "drift" if any(f.verdict == "drift" for f in self.features) else "no drift"

    def lines(self) -> list[str]:
        lines = [f"{self.name} version {self.version}: {self.records} logged sentences; verdict: {self.verdict}"]
        lines.append(f"{'feature':<20} {'PSI':>7} {'KS':>6} {'KS p':>9} {'ref median':>11} {'now median':>11}  verdict")
        for f in self.features:
            lines.append(
                f"{f.feature:<20} {f.psi:>7.3f} {f.ks_statistic:>6.3f} {f.ks_p_value:>9.2g} "
                f"{f.reference_median:>11.3f} {f.traffic_median:>11.3f}  {f.verdict}"
            )
        lines.append(f"most unusual sentences ({len(self.unusual)}):")
        for _, row in self.unusual.iterrows():
            text = f"  {row['text']!r}" if isinstance(row.get("text"), str) else ""
            lines.append(f"  {row['request_id']} surprise {row['surprise']:.1f}{text}")
        return lines


def _version(name: str, version: str | None, alias: str) -> tuple[str, str]:
    """``(version, run_id)`` of the version to report on: ``version``, else the holder of ``alias``."""
    check_registered(name)
    found = model_version(name, version) if version else alias_holder(name, alias)
    if found is None:
        raise UserError(f"model {name!r} has no alias @{alias}; pass --version")
    return str(found.version), found.run_id


def plot(reference: pd.DataFrame, traffic: pd.DataFrame, features: list[FeatureDrift], path: Path) -> Path:
    """One panel per feature: the reference's and the traffic's distributions, with PSI and verdict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 3
    rows = -(-len(features) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax, drift in zip(axes.flat, features):
        ref, now = reference[drift.feature].dropna(), traffic[drift.feature].dropna()
        low, high = min(ref.min(), now.min()), max(ref.max(), now.max())
        bins = 30 if high > low else 1
        ax.hist(ref, bins=bins, range=(low, high), density=True, alpha=0.5, label="reference (validation)")
        ax.hist(now, bins=bins, range=(low, high), density=True, alpha=0.5, label="logged traffic")
        colour = "red" if drift.verdict == "drift" else "black"
        ax.set_title(f"{drift.feature}\nPSI {drift.psi:.2f}: {drift.verdict}", color=colour, fontsize=10)
    for ax in list(axes.flat)[len(features) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _page(report: DriftReport, since: datetime | None, until: datetime | None) -> str:
    rows = "".join(
        f"<tr><td>{f.feature}</td><td>{f.psi:.3f}</td><td>{f.ks_statistic:.3f}</td><td>{f.ks_p_value:.2g}</td>"
        f"<td>{f.reference_median:.3f}</td><td>{f.traffic_median:.3f}</td><td>{f.verdict}</td></tr>"
        for f in report.features
    )
    shown = [c for c in SHOWN_COLUMNS if c in report.unusual.columns and report.unusual[c].notna().any()]
    unusual_table = report.unusual[shown].to_html(index=False, float_format="{:.3f}".format, escape=True)
    start = f"{since:%Y-%m-%d %H:%M:%S}" if since else "the first record"
    window = f"from {start} until {f'{until:%Y-%m-%d %H:%M:%S}' if until else 'now'} UTC"
    title = html.escape(f"{report.name} version {report.version}")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Drift: {title}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:right}}</style></head><body>
<h1>Drift report: {title}</h1>
<p>{report.records} logged sentences ({window}) against the validation split of run {report.run_id}.
Verdict: <b>{report.verdict}</b> (PSI ≥ 0.25 on any feature).</p>
<table><tr><th>feature</th><th>PSI</th><th>KS</th><th>KS p</th><th>reference median</th><th>traffic median</th>
<th>verdict</th></tr>{rows}</table>
<img src="{PLOT}" alt="reference and traffic distributions per feature">
<h2>Most unusual sentences</h2>{unusual_table}</body></html>"""


def monitor(
    name: str,
    store_url: str,
    version: str | None = None,
    alias: str = "champion",
    since: datetime | None = None,
    until: datetime | None = None,
) -> DriftReport:
    """Compare the traffic the store logged for ``name`` (a version, or the holder of ``alias``) between ``since``
    and ``until`` with its run's reference; write the report and keep it with the version."""
    version, run_id = _version(name, version, alias)
    reference = load_reference(run_id)
    traffic = open_store(store_url).read(name, since, until)
    traffic = traffic[traffic["version"] == version].reset_index(drop=True)
    features = [f for f in (*DRIFT_FEATURES, "copy_share") if f in reference and reference[f].notna().any()]
    folder = Path(tempfile.mkdtemp(prefix="attnops-monitor-"))
    report = DriftReport(name, version, run_id, len(traffic), [], traffic.head(0), folder)
    if len(traffic) >= MIN_RECORDS:
        report.features = compare(reference, traffic, features)
        report.unusual = unusual(reference, traffic, features)
        plot(reference, traffic, report.features, folder / PLOT)
        report.unusual.to_csv(folder / UNUSUAL, index=False)
        (folder / PAGE).write_text(_page(report, since, until))
        report.artifact_path = f"{REFERENCE_FOLDER}/{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        with tracking.resume_run(run_id):
            tracking.log_artifact(folder, report.artifact_path)
        tags = {f"{DRIFT_TAG_PREFIX}{f.feature}": f"{f.psi:.4f}" for f in report.features}
        tags[f"{DRIFT_TAG_PREFIX}verdict"] = report.verdict
        tags[f"{DRIFT_TAG_PREFIX}report"] = f"runs:/{run_id}/{report.artifact_path}/{PAGE}"
        for key, value in tags.items():
            tracking.client().set_model_version_tag(name, version, key, value)
    return report
