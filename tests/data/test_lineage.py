"""A training run records its data set as an MLflow dataset input; ``attnops models`` shows it per version."""

from __future__ import annotations

import pytest

from attnops.cli.main import main
from attnops.pipelines import tracking
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.data.catalogue import CATALOGUE
from attnops.pipelines.data.fetch import verify
from attnops.pipelines.train import train

TINY = [
    "data.max_train_examples=64",
    "data.max_eval_examples=8",
    "data.tokenizer.vocab_size=200",
    "model.hidden_size=16",
    "model.embedding_dim=8",
    "train.max_steps=2",
    "train.eval_beam_size=1",
    "tracking.system_metrics=false",
    "tracking.heatmap_sentences=0",
]


@pytest.mark.slow
def test_a_run_names_its_data_digest_and_split_sizes(capsys):
    config = load_config(REPO_ROOT / "pipelines/configs/translation/demo.yaml", TINY)
    run_id = train(config).run_id
    (logged,) = tracking.client().get_run(run_id).inputs.dataset_inputs
    (shared,) = verify(["multi30k"])
    assert (logged.dataset.name, logged.dataset.digest) == ("multi30k", shared.digest)
    assert logged.dataset.source_type == "http" and CATALOGUE["multi30k"].home in logged.dataset.source
    tags = {tag.key: tag.value for tag in logged.tags}
    assert tags["mlflow.data.context"] == "training"
    assert (tags["rows.train"], tags["rows.val"], tags["rows.test_2016_flickr"]) == ("64", "8", "8")

    client = tracking.client()
    client.create_registered_model("lineage-test")
    client.create_model_version("lineage-test", source=f"runs:/{run_id}/checkpoint", run_id=run_id)
    capsys.readouterr()
    assert main(["models", "lineage-test"]) == 0
    assert f"multi30k@{shared.digest}" in capsys.readouterr().out
