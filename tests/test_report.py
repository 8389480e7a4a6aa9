"""``attnops report`` against a real MLflow store: tiny tagged runs become the docs' results tables."""

from __future__ import annotations

import shutil

import pytest

from attnops.cli.main import main
from attnops.pipelines import tracking
from attnops.pipelines.config import REPO_ROOT
from attnops.pipelines.provenance import COMMIT_TAG, CONFIG_TAG, HEADLINE_TAG, MACHINE_TAG
from attnops.pipelines.report.docs import drop_replaced, replace_block
from attnops.pipelines.report.headlines import spread
from attnops.pipelines.report.write import README, RESULTS
from tests.data.test_lineage import TINY

CONFIG = "pipelines/configs/translation/gru-additive.yaml"


def _train(capsys, seed: int, *flags: str) -> str:
    args = [arg for override in [*TINY, f"train.seed={seed}"] for arg in ("--set", override)]
    assert main(["train", str(REPO_ROOT / CONFIG), *args, *flags]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def _docs(root) -> tuple[str, str]:
    return (root / README).read_text(), (root / RESULTS).read_text()


@pytest.mark.slow
def test_report_writes_tagged_runs_into_the_docs_with_their_seeds_overrides_and_provenance(tmp_path, capsys):
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    for doc in (README, RESULTS):
        shutil.copy(REPO_ROOT / doc, root / doc)
    readme_before, _ = _docs(root)
    assert "| translation De→En (`gru-additive.yaml`)" in readme_before
    earlier = [line for line in readme_before.splitlines() if line.startswith("| captioning (`flickr8k-soft.yaml`)")]
    assert earlier  # a headline of an earlier store, which this one does not hold

    first, second = _train(capsys, 1, "--headline"), _train(capsys, 2, "--headline")
    third = _train(capsys, 3)
    tags = tracking.run_tags(first)
    assert tags[HEADLINE_TAG] == "true" and tags[CONFIG_TAG] == CONFIG
    assert HEADLINE_TAG not in tracking.run_tags(third)

    assert main(["report", "--root", str(root)]) == 0
    assert "1 headline(s) from 2 tagged run(s)" in capsys.readouterr().out
    readme, results = _docs(root)
    bleu = [tracking.client().get_run(r).data.metrics["test_2016_flickr_bleu"] for r in (first, second)]
    row = next(line for line in readme.splitlines() if line.startswith("| translation (`gru-additive.yaml`"))
    assert "`model.hidden_size=16`" in row and "`train.max_steps=2`" in row and "train.seed" not in row
    assert f": {spread(bleu)} / " in row and "(2 seeds, mean ± std)" in row
    assert earlier[0] in readme.splitlines()
    # Runs with overrides do not stand for the shipped config: its hand-copied row stays, marked.
    assert "| translation De→En (`gru-additive.yaml`)" in readme and "hand-copied at" in readme
    for run_id in (first, second):
        line = next(line for line in results.splitlines() if f"`{run_id}`" in line)
        tags = tracking.run_tags(run_id)
        (data,) = tracking.run_datasets(run_id)
        assert f"`{tags[COMMIT_TAG]}`" in line and tags[MACHINE_TAG] in line and f"`{data}`" in line
        assert line.count(spread([bleu[(first, second).index(run_id)]])) >= 1
    assert f"`{third}`" not in results

    assert main(["report", "--tag", third, "--root", str(root)]) == 0
    assert "(3 seeds, mean ± std)" in _docs(root)[0] and f"`{third}`" in _docs(root)[1]
    capsys.readouterr()
    experiment = tracking.client().get_run(third).info.experiment_id
    training = tracking.client().create_run(experiment, tags={HEADLINE_TAG: "true"})  # a headline still training
    assert main(["report", "--root", str(root)]) == 0
    assert "the docs were up to date" in capsys.readouterr().out
    assert training.info.run_id not in _docs(root)[1]


def test_a_hand_copied_row_goes_once_its_config_is_regenerated_and_the_table_with_its_last_row():
    block = (
        "<!-- begin hand-copied: test -->\nintro\n\n| task (config) | figure |\n|---|---|\n"
        "| translation (`gru-additive.yaml`) | 34.21 |\n| captioning (`flickr8k-soft.yaml`) | 16.61 |\n"
        "<!-- end hand-copied -->\n"
    )
    text = f"before\n{block}after\n"
    kept = drop_replaced(text, {"gru-additive.yaml"})
    assert "gru-additive.yaml" not in kept and "flickr8k-soft.yaml" in kept and kept.endswith("after\n")
    assert drop_replaced(kept, {"flickr8k-soft.yaml"}) == "before\nafter\n"
    assert drop_replaced(text, {"transformer-tiny.yaml"}) == text


def test_a_regenerated_table_keeps_the_rows_of_configs_the_store_does_not_hold_before_its_own():
    header = "| task (config) | figure |\n|---|---|\n"
    text = (
        f"intro\n<!-- begin attnops report: headlines -->\n{header}| captioning (`flickr8k-soft.yaml`) | 15.55 |\n"
        "| translation (`gru-additive.yaml`) | 30.00 |\n<!-- end attnops report: headlines -->\nafter\n"
    )
    table = f"{header}| translation (`gru-additive.yaml`) + `model.dropout=0.3` | 34.21 |\n"
    written = replace_block(text, "headlines", table, {"gru-additive.yaml"}, README)
    assert written == (
        f"intro\n<!-- begin attnops report: headlines -->\n{header}| captioning (`flickr8k-soft.yaml`) | 15.55 |\n"
        "| translation (`gru-additive.yaml`) + `model.dropout=0.3` | 34.21 |\n<!-- end attnops report: headlines -->\n"
        "after\n"
    )
    assert replace_block(written, "headlines", table, {"gru-additive.yaml"}, README) == written
    assert replace_block(text, "headlines", header, set(), README) == text


def test_report_refuses_an_unknown_run_and_docs_without_markers(tmp_path, capsys):
    assert main(["report", "--tag", "0" * 32, "--root", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    (tmp_path / "docs").mkdir()
    (tmp_path / README).write_text("# no markers\n")
    (tmp_path / RESULTS).write_text("# no markers\n")
    assert main(["report", "--root", str(tmp_path)]) == 2
    assert "README.md has no block 'headlines'" in capsys.readouterr().err
