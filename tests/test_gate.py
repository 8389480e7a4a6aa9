"""The promotion gate holds: its tolerance is bounded policy, non-finite values are refused, and every
promotion it did not pass on merit is tagged and listed by ``attnops models`` (a real SQLite registry)."""

from __future__ import annotations

import os

import mlflow
import pytest
from mlflow import MlflowClient

from attnops.cli import main
from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.errors import UserError
from attnops.pipelines.registry import TOLERANCE_TAG, list_versions, promote

NAME = "gate-test"
DEMO = REPO_ROOT / "pipelines/configs/translation/demo.yaml"


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1.5", "-0.1"])
def test_a_tolerance_outside_the_policy_is_refused_in_the_config(value, capsys):
    with pytest.raises(UserError, match="gate_tolerance"):
        load_config(DEMO, [f"registry.gate_tolerance={value}"])
    assert main(["train", str(DEMO), "--set", f"registry.gate_tolerance={value}"]) == 2
    assert "gate_tolerance" in capsys.readouterr().err
    assert load_config(DEMO, ["registry.gate_tolerance=0.5"]).registry.gate_tolerance == 0.5


def _version(client: MlflowClient, gate_value: str, tolerance: str = "0") -> str:
    tags = {"gate_metric": "bleu", "gate_value": gate_value, "gate_tolerance": tolerance, "parity": "passed"}
    return str(client.create_model_version(NAME, source="file:///nonexistent/model", tags=tags).version)


@pytest.fixture
def client() -> MlflowClient:
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])  # this test's store, whatever an earlier CLI set
    client = MlflowClient()
    client.create_registered_model(NAME)
    return client


def _holder(client: MlflowClient) -> str:
    return str(client.get_model_version_by_alias(NAME, "champion").version)


def test_non_finite_gate_values_are_refused_even_with_force(client):
    champion = _version(client, "30.0")
    promote(NAME, champion)
    for value in ("nan", "inf", "", "high"):
        candidate = _version(client, value)
        with pytest.raises(UserError, match="the quality gate compares finite values only"):
            promote(NAME, candidate, force=True)
        assert _holder(client) == champion


def test_a_holder_with_a_nan_gate_value_is_only_replaced_by_force_and_tagged(client):
    broken = _version(client, "30.0")
    promote(NAME, broken)
    client.set_model_version_tag(NAME, broken, "gate_value", "nan")  # as a hand edit of the registry would
    candidate = _version(client, "25.0")
    with pytest.raises(UserError, match="quality gate"):
        promote(NAME, candidate)
    assert promote(NAME, candidate, force=True).forced
    assert "forced_champion" in client.get_model_version(NAME, candidate).tags


def test_tolerance_is_policy_and_every_override_is_tagged_and_listed(client, capsys):
    champion = _version(client, "30.0")
    promote(NAME, champion)
    within = _version(client, "29.5", tolerance="1")  # 0.5 below, inside the candidate's tolerance
    assert not promote(NAME, within).forced
    assert "tolerated_champion" in client.get_model_version(NAME, within).tags

    client.set_registered_model_tag(NAME, TOLERANCE_TAG, "0")  # the operator's policy overrides the candidate
    lenient = _version(client, "29.0", tolerance="1")
    with pytest.raises(UserError, match=r"tolerance 0\)"):
        promote(NAME, lenient)
    client.set_registered_model_tag(NAME, TOLERANCE_TAG, "inf")
    with pytest.raises(UserError, match="gate tolerance 'inf'"):
        promote(NAME, lenient)
    client.delete_registered_model_tag(NAME, TOLERANCE_TAG)
    client.set_model_version_tag(NAME, lenient, "gate_tolerance", "1e9")  # a tag edited past the config's check
    with pytest.raises(UserError, match="gate tolerance '1e9'"):
        promote(NAME, lenient)

    worse = _version(client, "10.0")
    with pytest.raises(UserError, match="quality gate"):
        promote(NAME, worse)
    assert promote(NAME, worse, force=True).forced and _holder(client) == worse

    rows = {row.version: row.overrides for row in list_versions(NAME)}
    assert rows == {champion: [], within: ["tolerated@champion"], lenient: [], worse: ["forced@champion"]}
    assert main(["models", NAME]) == 0
    listing = capsys.readouterr().out
    assert "OVERRIDES" in listing.splitlines()[0] and "forced@champion" in listing and "tolerated@champion" in listing
    print("\n" + listing)
