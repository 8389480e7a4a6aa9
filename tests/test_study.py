"""``attnops study`` end to end on tiny configs, with real MLflow and a real local Ray: the parent run holds one
finished child per trial and the table; a failed trial is reported without losing the others; a resumed study
runs only the trials without a finished child, and ``--table-only`` trains nothing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from mlflow import MlflowClient

from attnops.pipelines.config import REPO_ROOT
from attnops.pipelines.study.report import TABLE_FILE
from attnops.pipelines.study.runner import STUDY_TAG, resume_study, start_study
from attnops.pipelines.study.spec import Budget, StudySpec, read_configs
from attnops.pipelines.study.trial import DONE_TAG, PARENT_TAG, TRIAL_TAG

pytestmark = [pytest.mark.slow, pytest.mark.ray]  # trials run as tasks of a local Ray in this process

EXPERIMENT = "study-test"
TINY = {
    "model": {"embedding_dim": 16, "hidden_size": 24, "dropout": 0.0},
    "data": {"max_train_examples": 300, "max_eval_examples": 12, "tokenizer": {"vocab_size": 300}},
    "train": {"batch_size": 32, "max_decode_length": 12},
    "tracking": {"heatmap_sentences": 0, "system_metrics": False},
}
BUDGET = Budget(steps=4, val_every=2)


def _config(folder: Path, name: str, attention: str, data_root: str | None = None) -> str:
    tree = yaml.safe_load((REPO_ROOT / "pipelines/configs/translation/demo.yaml").read_text())
    for section, values in TINY.items():
        tree[section] = {**tree.get(section, {}), **values}
    tree["model"]["attention"] = attention
    if data_root:
        tree["data"]["root"] = data_root
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(tree))
    return str(path)


@pytest.fixture(scope="module")
def study(tmp_path_factory, new_store):
    """A study of two tiny configs and one whose data folder does not exist, in a store of its own."""
    root = tmp_path_factory.mktemp("study")
    env = {"MLFLOW_TRACKING_URI": new_store(root), "ATTNOPS_HOME": str(root / "home")}
    paths = [_config(root, "tiny-additive", "additive"), _config(root, "tiny-dot", "dot"),
             _config(root, "broken", "dot", data_root=str(root / "no-data"))]  # fmt: skip
    task, configs = read_configs(paths, [])
    spec = StudySpec(name="tiny", experiment=EXPERIMENT, task=task, configs=configs, seeds=[7], budget=BUDGET,
                     threshold=0.1, decode_sentences=4)  # fmt: skip
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        result = start_study(spec, root / "out", lines.append)
    return SimpleNamespace(root=root, env=env, result=result, lines=lines)


@pytest.fixture
def client(study, monkeypatch) -> MlflowClient:
    for key, value in study.env.items():
        monkeypatch.setenv(key, value)
    return MlflowClient(study.env["MLFLOW_TRACKING_URI"])


def _children(client: MlflowClient, parent: str) -> list:
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    return client.search_runs([experiment], f"tags.{PARENT_TAG} = '{parent}'")


def test_study_logs_parent_children_and_table(study, client):
    parent = client.get_run(study.result.parent_id)
    assert parent.data.tags[STUDY_TAG] == "parent"
    assert parent.data.tags[f"{STUDY_TAG}.failed"] == "1"
    children = _children(client, study.result.parent_id)
    assert sorted(c.data.tags[TRIAL_TAG] for c in children) == ["tiny-additive/seed7", "tiny-dot/seed7"]
    for child in children:
        assert child.info.status == "FINISHED" and child.data.tags[DONE_TAG] == "true"
        assert child.data.params["train.seed"] == "7" and child.data.params["train.eval_beam_size"] == "1"
        assert child.data.metrics["train_steps"] == BUDGET.steps
        assert child.data.metrics["parameters"] > 0 and child.data.metrics["train_tokens_per_s"] > 0
        assert child.data.metrics["decode_ms_eager_b1"] > 0 and child.data.metrics["decode_ms_onnx_b1"] > 0
        curve = client.get_metric_history(child.info.run_id, "curve.val_bleu_lc")
        assert [m.step for m in curve] == [2, 4]  # one point per validation

    table = study.result.report.table
    rows = [line for line in table.splitlines() if line.startswith("| tiny-")]
    assert [row.split(" | ")[0] for row in rows] == ["| tiny-additive", "| tiny-dot"]
    assert "passed" in rows[0] and "passed" in rows[1]
    assert "broken/seed7: failed: UserError: data set 'multi30k' is not in" in table
    assert set(study.result.failures) == {"broken/seed7"}
    assert (study.root / "out" / TABLE_FILE).read_text() == table
    assert {"curve.png", "quality_speed.png"} <= {p.name for p in study.result.report.files}
    logged = {a.path for a in client.list_artifacts(study.result.parent_id, "study")}
    assert {"study/table.md", "study/curve.png", "study/quality_speed.png", "study/spec.json"} <= logged


def test_resumed_study_skips_the_finished_child(study, client):
    children = {c.data.tags[TRIAL_TAG]: c.info.run_id for c in _children(client, study.result.parent_id)}
    interrupted = children["tiny-dot/seed7"]
    client.delete_tag(interrupted, DONE_TAG)  # what a trial stopped before its export leaves behind
    client.set_terminated(interrupted, "KILLED")

    lines: list[str] = []
    result = resume_study("tiny", EXPERIMENT, study.root / "out", lines.append)

    assert "3 trials, 1 finished before, 2 to run" in lines[0]
    assert result.skipped == ["tiny-additive/seed7"] and set(result.failures) == {"broken/seed7"}
    after = _children(client, study.result.parent_id)
    additive = [c for c in after if c.data.tags[TRIAL_TAG] == "tiny-additive/seed7"]
    assert [c.info.run_id for c in additive] == [children["tiny-additive/seed7"]]  # not trained again
    dot = {c.info.run_id: c.info.status for c in after if c.data.tags[TRIAL_TAG] == "tiny-dot/seed7"}
    assert dot.pop(interrupted) == "KILLED" and list(dot.values()) == ["FINISHED"]
    assert {c.run_id for c in result.report.children} == {children["tiny-additive/seed7"], *dot}

    table_only = resume_study("tiny", EXPERIMENT, study.root / "table-only", lines.append, run_trials=False)
    assert table_only.report.table.count("| tiny-") == 2 and len(_children(client, study.result.parent_id)) == 3
