"""The results tables as Markdown: one row per headline for the README, one per run with its provenance for
``docs/results.md``."""

from __future__ import annotations

from attnops.pipelines.report.headlines import Headline, HeadlineRun, spread
from attnops.pipelines.tasks import task_named


def setting(headline: Headline | HeadlineRun) -> str:
    """The config file, and the overrides it ran with, e.g. ``bbc-han.yaml`` + ``model.dropout=0.3``."""
    shown = f"`{headline.config.rsplit('/', 1)[-1]}`"
    if not headline.shipped:
        shown += " (not shipped)"
    return " + ".join([shown, *(f"`{o}`" for o in headline.overrides)])


def _figures(headline: Headline) -> str:
    values = [spread([run.figures[i] for run in headline.runs]) for i in range(len(headline.runs[0].figures))]
    return " / ".join(values)


def _baseline(headline: Headline) -> str:
    described = task_named(headline.task).headline
    if not described.baseline:
        return "—"
    values = [spread([run.baseline[i] for run in headline.runs]) for i in range(len(headline.runs[0].baseline))]
    return f"{described.baseline} {' / '.join(values)}"


def _seeds(headline: Headline) -> str:
    if len(headline.runs) == 1:
        return "one seed"
    return f"{len(headline.runs)} seeds, mean ± std"


def summary_table(headlines: list[Headline], runs_link: str) -> str:
    """The README's table: task, setting, figures ± std over seeds, the baseline from the same runs."""
    lines = [
        "| task (config) | model, test | baseline, same runs | runs |",
        "|---|---|---|---|",
    ]
    for h in headlines:
        figures = f"{task_named(h.task).headline.figures_label}: {_figures(h)} ({_seeds(h)})"
        runs = ", ".join(f"[`{r.run_id[:8]}…`]({runs_link})" for r in h.runs)
        lines.append(f"| {h.task} ({setting(h)}) | {figures} | {_baseline(h)} | {runs} |")
    return "\n".join(lines) + "\n"


def runs_table(headlines: list[Headline]) -> str:
    """``docs/results.md``'s table: every headline run with its figures, baseline and provenance."""
    lines = [
        "| task | run | config | seed | model, test | baseline | config digest | data | code | machine | date |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for h in headlines:
        label = task_named(h.task).headline.figures_label
        for r in h.runs:
            figures = f"{label}: {' / '.join(spread([v]) for v in r.figures)}"
            baseline = " / ".join(spread([v]) for v in r.baseline) or "—"
            data = ", ".join(f"`{d}`" for d in r.data) or "—"
            lines.append(
                f"| {h.task} | `{r.run_id}` | {setting(r)} | {r.seed} | {figures} | {baseline} | `{r.config_digest}` "
                f"| {data} | `{r.commit}` | {r.machine} | {r.date} |"
            )
    return "\n".join(lines) + "\n"
