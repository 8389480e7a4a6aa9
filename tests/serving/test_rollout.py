"""Rollouts on the real service and registry: refusals, a promoted canary, a failed guard, shadow mode, and a
candidate that does not load, crashes or whose split the service loses — no client request fails in any."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from attnops.cli.main import main
from attnops.pipelines import rollout, tracking
from attnops.pipelines.inference.artifacts import CHALLENGER_ALIAS, DIGEST_TAG
from attnops.pipelines.inference.resolve import alias_holder
from attnops.pipelines.registry import promote, register
from attnops.serving.rollout.controller import Service, roll_out
from attnops.serving.rollout.guards import Guards
from attnops.serving.rollout.split import STICKY_HEADER, Split
from tests.serving.clients import looping_clients

pytestmark = pytest.mark.slow

NAME = "translation-rollout-it"
SENTENCES = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Eine Frau liest ein Buch."]
DWELL_S = 3.0
FAST = Guards(min_requests=5, max_p95_ratio=10)
"""Default thresholds judged on a few requests, latency loosely: two replicas share two loaded cores."""


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_models, ray_serve):
    """The app with its challenger deployment on the shared Ray; v1 @champion, v2 the same export (a candidate
    that agrees with it), v3 the same with a wrong digest (it cannot load). Quality does not matter here: the
    candidates are copies of the tiny translator's export."""
    root = tmp_path_factory.mktemp("rollout")
    tracking_uri, trained = tiny_models.copy(root, "translation")
    run_id = trained["translation"].run_id
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        env.chdir(root)
        promote(NAME, str(register(run_id, NAME).version))
        register(run_id, NAME)
        broken = register(run_id, NAME)
        tracking.client().set_model_version_tag(NAME, broken.version, DIGEST_TAG, "0" * 64)
        user_config = {"model_uri": f"models:/{NAME}@champion", "max_batch_size": 16, "poll_interval_s": 1}
        options = {
            "Gateway": {"ray_actor_options": {"num_cpus": 0}},
            "Translator": {"ray_actor_options": {"num_cpus": 1}, "user_config": user_config},
        }
        with ray_serve.deployed(options, ("translation",), {"MLFLOW_TRACKING_URI": tracking_uri}) as url:
            yield url, tracking_uri


@pytest.fixture
def service(app, monkeypatch) -> str:
    url, tracking_uri = app
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    yield url
    if rollout.current(NAME) is not None:
        rollout.abort(NAME)
    httpx.delete(f"{url}/v1/rollout/translation")


def load(url: str, clients: int = 4):
    """Clients translating until the block ends, each with its own sticky key; yields the outcomes:
    (client, HTTP status, version that answered)."""

    def send(number: int, http: httpx.Client) -> tuple[int, int, str | None]:
        text, sticky = SENTENCES[number % len(SENTENCES)], {STICKY_HEADER: f"user-{number}"}
        response = http.post(f"{url}/v1/translate", json={"text": text}, headers=sticky)
        return number, response.status_code, response.json()["model"]["version"] if response.is_success else None

    return looping_clients(clients, send)


def _champion() -> str:
    return str(alias_holder(NAME, "champion").version)


def _run(url: str, version: str, steps: list[float], mode: str = "canary", guards: Guards = FAST) -> str:
    state = rollout.start(NAME, version, mode, steps)
    return roll_out(state, Service(url), guards, DWELL_S)


def _events(version: str) -> list[str]:
    return [e["event"] for e in rollout.history(NAME) if e["version"] == version]


def test_refusals_are_one_line_and_change_nothing(service, capsys):
    tracking.client().set_model_version_tag(NAME, "2", "gate_value", "-1")  # below the champion's
    try:
        assert main(["rollout", NAME, "2", "--url", service]) == 2
    finally:
        tracking.client().set_model_version_tag(
            NAME, "2", "gate_value", tracking.client().get_model_version(NAME, "1").tags["gate_value"]
        )
    assert "quality gate" in capsys.readouterr().err
    assert main(["rollout", NAME, "1", "--url", service]) == 2
    assert "already holds @champion" in capsys.readouterr().err
    tracking.client().set_model_version_tag(NAME, "2", "task", "classification")
    try:
        assert main(["rollout", NAME, "2", "--url", service]) == 2
    finally:
        tracking.client().set_model_version_tag(NAME, "2", "task", "translation")
    assert "is a classification model" in capsys.readouterr().err
    rollout.start(NAME, "2", "canary", [0.5])
    try:
        assert main(["rollout", NAME, "3", "--url", service]) == 2
        err = capsys.readouterr().err
        assert "a rollout of" in err and "is running" in err and len(err.strip().splitlines()) == 1
    finally:
        rollout.abort(NAME)
    assert main(["rollout", NAME, "2", "--guard", "max_error_rat=0.1", "--url", service]) == 2
    assert "max_error_rat" in capsys.readouterr().err
    assert _champion() == "1" and alias_holder(NAME, CHALLENGER_ALIAS) is None and rollout.current(NAME) is None
    assert httpx.get(f"{service}/v1/rollout").json()["translation"]["split"] is None


def test_a_canary_that_passes_every_step_is_promoted_and_no_client_fails(service):
    with load(service) as outcomes:
        time.sleep(1)
        line = _run(service, "2", [0.5, 1.0])
    assert "every step passed" in line, line
    statuses = Counter(status for _, status, _ in outcomes)
    assert set(statuses) == {200}, statuses
    versions = {}
    for client, _, version in outcomes:
        versions.setdefault(client, set()).add(version)
    assert any(v == {"1", "2"} for v in versions.values())  # each saw its version, then the new champion
    assert _champion() == "2" and alias_holder(NAME, CHALLENGER_ALIAS) is None
    assert _events("2")[-5:] == ["traffic", "step passed", "traffic", "step passed", "promoted"]
    promote(NAME, "1")  # back, for the tests that follow
    Service(service).reload()


def test_sticky_key_keeps_one_version_and_shares_match(service):
    state = rollout.start(NAME, "2", "canary", [0.5])
    api = Service(service)
    try:
        api.reload()
        api.split("translation", Split(model=NAME, champion="1", version="2", share=0.5))
        by_key = {}
        for number in range(40):
            for _ in range(2):
                body = httpx.post(
                    f"{service}/v1/translate", json={"text": SENTENCES[0]}, headers={STICKY_HEADER: f"k{number}"}
                ).json()
                by_key.setdefault(number, set()).add(body["model"]["version"])
        assert all(len(v) == 1 for v in by_key.values())
        share = sum(v == {"2"} for v in by_key.values()) / len(by_key)
        assert 0.5 - 3 * (0.25 / 40) ** 0.5 <= share <= 0.5 + 3 * (0.25 / 40) ** 0.5, share
    finally:
        api.clear("translation")
        rollout.finish(state, "aborted")


def test_a_failed_guard_rolls_back_at_once_and_names_it(service):
    with load(service) as outcomes:
        line = _run(service, "2", [0.05, 1.0], guards=Guards(min_requests=5, max_p95_ratio=1e-6))
    assert "rolled back" in line and "p95_ratio" in line and "at 5%" in line, line
    assert {status for _, status, _ in outcomes} == {200}
    assert _champion() == "1" and rollout.current(NAME) is None
    assert httpx.get(f"{service}/v1/rollout").json()["translation"]["split"] is None
    assert _events("2")[-1] == "rolled back"


def test_shadow_answers_from_the_champion_and_records_the_candidate(service):
    with load(service) as outcomes:
        line = _run(service, "2", [1.0], mode="shadow")
    assert "shadow passed" in line, line
    assert {(status, version) for _, status, version in outcomes} == {(200, "1")}
    step = [e for e in rollout.history(NAME) if e["event"] == "step passed"][-1]
    assert step["candidate"]["agreement"] == pytest.approx(1.0) and step["candidate"]["requests"] >= 5
    assert _champion() == "1"


def test_a_candidate_that_cannot_load_ends_the_rollout_without_traffic(service):
    with load(service) as outcomes:
        line = _run(service, "3", [0.5, 1.0])
    assert "failed" in line and "not serving" in line, line
    assert {(status, version) for _, status, version in outcomes} == {(200, "1")}
    assert _champion() == "1" and alias_holder(NAME, CHALLENGER_ALIAS) is None


def test_a_candidate_that_crashes_mid_rollout_ends_it_and_no_client_fails(service):
    import ray

    def kill_challenger() -> None:
        time.sleep(DWELL_S / 2)
        for actor in ray.util.list_named_actors(all_namespaces=True):
            if "TranslatorChallenger" in actor["name"]:
                ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]), no_restart=False)

    with load(service) as outcomes:
        killer = threading.Thread(target=kill_challenger)
        killer.start()
        line = _run(service, "2", [0.5, 1.0])
        killer.join()
    assert "failed" in line and "crashed" in line, line
    assert {status for _, status, _ in outcomes} == {200}
    assert _champion() == "1" and httpx.get(f"{service}/v1/rollout").json()["translation"]["split"] is None


def test_a_service_that_loses_the_split_ends_the_rollout(service):
    def lose_split() -> None:
        time.sleep(DWELL_S / 2)
        httpx.delete(f"{service}/v1/rollout/translation")  # what a restarted service holds: no split

    loser = threading.Thread(target=lose_split)
    loser.start()
    line = _run(service, "2", [0.5])
    loser.join()
    assert "lost the split" in line, line
    assert _champion() == "1" and rollout.current(NAME) is None


def test_history_lists_every_rollout(service, capsys):
    assert main(["models", NAME, "--history"]) == 0
    out = capsys.readouterr().out
    for event in ("start", "traffic", "step passed", "promoted", "rolled back", "observed", "failed"):
        assert event in out, event
