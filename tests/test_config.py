"""Experiment config: YAML + overrides → typed tree; every bad input names the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.documents.config import DocumentConfig
from attnops.pipelines.errors import UserError

CONFIGS = sorted((REPO_ROOT / "pipelines" / "configs").glob("*/*.yaml"))
REQUIRED = {
    "translation/demo", "translation/gru-dot", "translation/gru-general", "translation/gru-additive",
    "translation/gru-scaled-dot", "translation/gru-multihead", "translation/gru-selfattn",
    "translation/transformer-tiny", "translation/transformer-tiny-en-de", "classification/bbc-han",
    "summarization/bbc-extractive",
}  # fmt: skip


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_every_required_config_ships():
    assert REQUIRED <= {_name(path) for path in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=[_name(p) for p in CONFIGS])
def test_shipped_configs_load(path):
    config = load_config(path)
    # configs/<task>/<name>.yaml; summarization/ holds the extractive and the abstractive summarizers
    assert config.task in {"summarization": {"summarization", "abstractive"}}.get(path.parent.name, {path.parent.name})
    assert set(config.flat()) >= {"train.max_epochs", "train.max_steps", "data.max_train_examples"}
    assert any(key.startswith("model.") for key in config.flat())
    assert config.registry.gate_metric.startswith("test_")  # each task declares the metric its gate compares


def test_document_configs_have_their_own_schema():
    config = load_config(REPO_ROOT / "pipelines/configs/summarization/bbc-extractive.yaml", ["summary.max_sentences=4"])
    assert isinstance(config, DocumentConfig) and config.summary.max_sentences == 4
    assert config.registry.gate_metric == "test_rougeL"
    with pytest.raises(UserError, match="model.decoder: unknown key"):
        load_config(REPO_ROOT / "pipelines/configs/classification/bbc-han.yaml", ["model.decoder=luong"])
    with pytest.raises(UserError, match="task"):
        load_config(None, ["task=poetry"])


def test_selfattn_config_puts_self_attention_in_the_encoder():
    config = load_config(REPO_ROOT / "pipelines/configs/translation/gru-selfattn.yaml")
    assert config.model.self_attention == "multihead" and config.model.attention == "additive"


def test_overrides_reach_nested_keys_with_yaml_types():
    config = load_config(
        None,
        ["model.attention=dot", "train.max_steps=5", "data.max_train_examples=100", "train.optim.lr=3e-4",
         "data.tokenizer.joint=true", "model.self_attention=null"],
    )  # fmt: skip
    assert config.model.attention == "dot"
    assert config.train.max_steps == 5
    assert config.data.max_train_examples == 100
    assert config.train.optim.lr == pytest.approx(3e-4)
    assert config.data.tokenizer.joint is True
    assert config.model.self_attention is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.attention=cosine"], r"attention='cosine' is not allowed; choose one of: dot, general, additive"),
        (["model.decoder=transformer"], r"decoder='transformer' is not allowed; choose one of: bahdanau, luong"),
        (["model.architecture=lstm"], r"model: architecture='lstm' is not allowed; choose one of: rnn, transformer"),
        (["model.colour=red"], r"model.rnn.colour: unknown key"),  # the section of model.architecture=rnn
        (["model.architecture=transformer", "model.hidden_size=8"], r"model.transformer.hidden_size: unknown key"),
        (["trian.max_epochs=2"], r"trian: unknown key"),
        (["train.max_epochs=many"], r"train.max_epochs: Input should be a valid integer"),
        (["train.max_epochs=0"], r"train.max_epochs: Input should be greater than or equal to 1"),
        (["model.hidden_size=33"], r"hidden_size=33 must be even"),
        (["train.optim.scheduler=step"], r"scheduler='step' is not allowed; choose one of: constant, plateau, cosine"),
        (["data.source_lang=fr"], r"data.source_lang: Input should be 'de' or 'en'"),
        (["max_epochs"], r"expected KEY=VALUE"),
        (["train.max_epochs=3", "train.average_last_epochs=4"], r"train: .*average_last_epochs=4 exceeds max_epochs=3"),
        (["train.average_last_epochs=2", "train.workers=2"], r"train: .*average_last_epochs needs workers=1"),
    ],
)
def test_bad_values_fail_naming_key_and_choices(overrides, message):
    with pytest.raises(UserError, match=message):
        load_config(None, overrides)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [("model: [unclosed", "is not valid YAML"), ("- just\n- a list\n", "must hold a mapping")],
)
def test_malformed_file(tmp_path, text, message):
    path = Path(tmp_path / "bad.yaml")
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_config(path)


def test_flat_config_round_trips_through_yaml(tmp_path):
    config = load_config(None, ["model.attention=general", "train.batch_size=7"])
    path = tmp_path / "resolved.yaml"
    path.write_text(config.to_yaml())
    assert load_config(path) == config
