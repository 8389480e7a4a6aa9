"""Which tasks ``attnops serve`` deploys when no --model is given: those whose registry model exists."""

from __future__ import annotations

import pytest

from attnops.pipelines import tracking
from attnops.pipelines.errors import UserError
from attnops.serving.server import DEFAULT_CONFIG, deployment_options, read_serve_config, served_tasks


def _champion(name: str, tmp_path) -> None:
    client = tracking.client()  # the store of this test's MLFLOW_TRACKING_URI, as the code under test uses
    client.create_registered_model(name)
    version = client.create_model_version(name, source=str(tmp_path))
    client.set_registered_model_alias(name, "champion", version.version)


def test_tasks_without_a_champion_are_skipped_and_named(tmp_path, capsys):
    config = read_serve_config(DEFAULT_CONFIG)
    _champion("translation-de-en", tmp_path)
    tracking.client().create_registered_model("bbc-news-han")  # registered, but nothing promoted
    assert served_tasks(config, deployment_options(config), []) == ("translation",)
    said = capsys.readouterr().out
    assert said.startswith("skipping 4 of 5 tasks without a model:")
    assert "classification (models:/bbc-news-han@champion: model 'bbc-news-han' has no alias @champion)" in said
    assert "captioning (models:/captioning-flickr8k@champion: unknown registered model" in said


def test_no_model_at_all_is_one_clear_error():
    config = read_serve_config(DEFAULT_CONFIG)
    with pytest.raises(UserError, match="no task has a model to serve"):
        served_tasks(config, deployment_options(config), [])
