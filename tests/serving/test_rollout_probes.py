"""Rollouts of the other tasks with probes, on the real service and registry: a document classifier (class
shift, agreement on labels) and an abstractive summarizer (agreement, log-probability, attention entropy)."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from attnops.pipelines import rollout
from attnops.pipelines.registry import promote, register
from attnops.serving.rollout.controller import Service, roll_out
from attnops.serving.rollout.guards import Guards
from attnops.serving.server import free_port, start_local_serve
from tests.abstractive.test_abstractive_integration import EMAIL
from tests.serving.clients import looping_clients

pytestmark = [pytest.mark.slow, pytest.mark.ray]

CLASSIFIER, SUMMARIZER = "han-rollout-it", "aeslc-rollout-it"
DWELL_S = 4.0
FAST = Guards(min_requests=5, max_p95_ratio=10)
"""The default quality thresholds judged on a few requests, latency loosely: replicas share two loaded cores."""
ARTICLE = (
    "The company reported record profits for the third quarter.\n\n"
    "Shares rose sharply after the announcement, and analysts raised their forecasts for the year."
)


def _ship(run_id: str, name: str) -> None:
    """v1 @champion, v2 the same export (a candidate that agrees with it)."""
    promote(name, str(register(run_id, name).version))
    register(run_id, name)


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_models):
    import ray
    from ray import serve

    from attnops.serving.build import application

    root = tmp_path_factory.mktemp("rollout-probes")
    tracking_uri, trained = tiny_models.copy(root, "classification", "abstractive")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        env.chdir(root)
        _ship(trained["classification"].run_id, CLASSIFIER)
        _ship(trained["abstractive"].run_id, SUMMARIZER)
        port = free_port()
        start_local_serve(
            {"host": "127.0.0.1", "port": port},
            {"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_DISABLE_TELEMETRY": "true"},
            num_cpus=2,
        )
        cpu = {"ray_actor_options": {"num_cpus": 0.5}}
        options = {
            "Gateway": {"ray_actor_options": {"num_cpus": 0}},
            "Classifier": {**cpu, "user_config": {"model_uri": f"models:/{CLASSIFIER}@champion"}},
            "AbstractiveSummarizer": {**cpu, "user_config": {"model_uri": f"models:/{SUMMARIZER}@champion"}},
        }
        serve.run(application(options, ("classification", "abstractive")), name="attnops", route_prefix="/")
        try:
            yield f"http://127.0.0.1:{port}", tracking_uri
        finally:
            serve.shutdown()
            ray.shutdown()


@pytest.fixture
def service(app, monkeypatch) -> str:
    url, tracking_uri = app
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    return url


def load(url: str, path: str, body: dict, clients: int = 3):
    """Clients posting ``body`` until the block ends; yields (HTTP status, answering version, answer) of each."""

    def send(number: int, http: httpx.Client) -> tuple[int, str | None, dict]:
        response = http.post(f"{url}{path}", json=body)
        answer = response.json() if response.is_success else {"error": response.text}
        return response.status_code, answer.get("model", {}).get("version"), answer

    return looping_clients(clients, send)


def _last_step(name: str) -> dict:
    return [e for e in rollout.history(name) if e["event"] in ("step passed", "step failed")][-1]


def test_a_classifier_shadow_compares_labels_and_class_shares(service):
    with load(service, "/v1/classify", {"texts": [ARTICLE, EMAIL]}) as outcomes:
        line = roll_out(rollout.start(CLASSIFIER, "2", "shadow", [1.0]), Service(service), FAST, DWELL_S)
    assert "shadow passed" in line, line
    assert {(status, version) for status, version, _ in outcomes} == {(200, "1")}
    step = _last_step(CLASSIFIER)
    candidate, champion = step["candidate"], step["champion"]
    # The same export on both sides, but each side batches the requests its own way and a batch's shape changes
    # the arithmetic (INT8 scales by the whole batch): a near-tie of the untrained classifier may flip (1 in 924 seen).
    assert candidate["agreement"] >= 0.99 and candidate["requests"] >= 5
    assert sum(candidate["labels"].values()) == 2 * candidate["requests"]
    shift = next(g for g in step["guards"] if g.startswith("class_shift "))
    assert float(shift.split()[1]) <= 0.01 and "(ok" in shift, step["guards"]
    assert not any(g.startswith("entropy_rise") for g in step["guards"])
    assert set(candidate["labels"]) == set(champion["labels"])


def test_an_abstractive_canary_is_judged_on_its_confidence_and_promoted(service):
    with load(service, "/v1/summarize", {"text": EMAIL, "mode": "abstractive"}) as outcomes:
        line = roll_out(rollout.start(SUMMARIZER, "2", "canary", [0.5, 1.0]), Service(service), FAST, DWELL_S)
    assert "every step passed" in line, line
    assert Counter(status for status, _, _ in outcomes) == Counter({200: len(outcomes)})
    assert {version for _, version, _ in outcomes} == {"1", "2"}
    assert all("scores" not in answer for _, _, answer in outcomes)  # figures only for clients that ask
    step = _last_step(SUMMARIZER)
    assert step["candidate"]["mean_logprob"] == pytest.approx(step["champion"]["mean_logprob"], abs=1e-4)
    assert 0 <= step["candidate"]["attention_entropy"] <= 1
    asked = httpx.post(
        f"{service}/v1/summarize", json={"text": EMAIL, "mode": "abstractive", "return_scores": True}, timeout=60
    ).json()
    assert asked["model"]["version"] == "2" and asked["scores"]["mean_logprob"] <= 0
