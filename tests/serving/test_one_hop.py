"""One hop: a single-task service whose gateway runs the model replica in its own process, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from attnops.pipelines.config import REPO_ROOT, load_config
from attnops.pipelines.errors import UserError
from attnops.pipelines.export import export_run
from attnops.pipelines.monitor.store import ParquetStore
from attnops.pipelines.registry import promote, register
from attnops.pipelines.train import train
from attnops.serving.server import free_port, start_local_serve
from tests.serving.fuzz import refuses_non_strict_json
from tests.serving.test_serving_integration import TINY

NAME = "translation-one-hop"
TOKEN = "one-hop-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_TEXTS = 4


@dataclass
class Service:
    url: str
    log_store: Path


def test_one_hop_takes_a_single_task():
    from attnops.serving.build import application

    with pytest.raises(
        UserError, match="one_hop serves a single task; this service has 2: translation, classification"
    ):
        application({}, ("translation", "classification"), one_hop=True)


@pytest.fixture(scope="module")
def one_hop(tmp_path_factory, new_store):
    """Ray and a one-hop app: the token in the gateway's options, the model deployment's asking for autoscaling
    (one replica runs)."""
    import ray
    from ray import serve

    from attnops.serving.build import application

    root = tmp_path_factory.mktemp("one-hop")
    tracking_uri = new_store(root)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        env.chdir(root)
        run_id = train(load_config(REPO_ROOT / "pipelines/configs/translation/demo.yaml", TINY)).run_id
        export_run(run_id)
        promote(NAME, str(register(run_id, NAME).version))
        port = free_port()
        start_local_serve(
            {"host": "127.0.0.1", "port": port},
            {"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_DISABLE_TELEMETRY": "true"},
            num_cpus=2,
        )
        options = {
            "Gateway": {"ray_actor_options": {"runtime_env": {"env_vars": {"ATTNOPS_API_TOKEN": TOKEN}}}},
            "Translator": {
                "max_ongoing_requests": 16,
                "max_queued_requests": 16,  # the 12-request burst fits the queue alone; the 60-request flood does not
                "autoscaling_config": {"min_replicas": 1, "max_replicas": 2},
                "ray_actor_options": {"num_cpus": 1},  # the gateway's runtime_env (the token) is kept
                "user_config": {
                    "model_uri": f"models:/{NAME}@champion",
                    "max_texts": MAX_TEXTS,
                    "max_batch_size": 16,
                    "batch_wait_timeout_s": 0.05,
                    "poll_interval_s": 0,
                    "inference_log": {"store": str(root / "inference-log")},
                },
            },
        }
        serve.run(application(options, one_hop=True), name="attnops", route_prefix="/")
        try:
            yield Service(f"http://127.0.0.1:{port}", root / "inference-log")
        finally:
            serve.shutdown()
            ray.shutdown()


def _translate(url: str, body, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/v1/translate", json=body, headers=AUTH, timeout=60, **kwargs)


@pytest.mark.slow
@pytest.mark.ray
def test_the_gateway_serves_the_model_itself_on_one_replica(one_hop):
    from ray import serve

    deployments = serve.status().applications["attnops"].deployments
    assert "Translator" not in deployments  # no model deployment: the gateway's process decodes
    assert sum(deployments["Gateway"].replica_states.values()) == 1  # the config's autoscaling is not used
    response = _translate(one_hop.url, {"text": "Ein Mann fährt Fahrrad."})
    assert response.status_code == 200, response.text
    assert response.json()["model"]["name"] == NAME and response.json()["translations"][0]["text"]
    statuses = httpx.get(f"{one_hop.url}/v1/models", headers=AUTH).json()
    assert [(s["task"], s["model"]["name"]) for s in statuses] == [("translation", NAME)]
    assert httpx.get(f"{one_hop.url}/readyz").json()["ready"] is True
    assert httpx.post(f"{one_hop.url}/v1/models/reload", headers=AUTH).status_code == 200


@pytest.mark.slow
@pytest.mark.ray
def test_concurrent_requests_still_form_batches(one_hop):
    async def burst():
        async with httpx.AsyncClient(headers=AUTH, timeout=60) as client:
            sentences = [f"Ein Mann mit {n} Hunden läuft durch den Park." for n in range(12)]
            return await asyncio.gather(
                *(client.post(f"{one_hop.url}/v1/translate", json={"text": s}) for s in sentences)
            )

    assert [r.status_code for r in asyncio.run(burst())] == [200] * 12
    assert httpx.get(f"{one_hop.url}/v1/models", headers=AUTH).json()[0]["largest_batch"] > 1


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.parametrize(
    "content, status, fragment",
    [
        ('{"text": 5}', 422, "text"),
        ('{"texts": ["a", "b", "c", "d", "e"]}', 422, f"texts: at most {MAX_TEXTS}"),  # the replica's own rejection
        ('{"text": "Hallo", "colour": "blue"}', 422, "colour"),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_field(one_hop, content, status, fragment):
    response = httpx.post(
        f"{one_hop.url}/v1/translate", content=content, headers={"Content-Type": "application/json", **AUTH}
    )
    assert response.status_code == status and fragment in response.text, response.text


@pytest.mark.slow
@pytest.mark.ray
def test_auth_and_strict_json_still_guard_the_routes(one_hop):
    assert httpx.post(f"{one_hop.url}/v1/translate", json={"text": "Hallo"}).status_code == 401
    assert httpx.get(f"{one_hop.url}/v1/models").status_code == 401
    assert httpx.get(f"{one_hop.url}/healthz").json() == {"status": "ok"}
    refuses_non_strict_json(one_hop.url, AUTH, ["/v1/translate"])
    assert httpx.post(f"{one_hop.url}/v1/classify", json={"texts": ["x"]}, headers=AUTH).status_code == 404


@pytest.mark.slow
@pytest.mark.ray
def test_a_full_queue_answers_503_with_retry_after(one_hop):
    async def flood():
        async with httpx.AsyncClient(headers=AUTH, timeout=120) as client:
            body = {"texts": ["Ein Mann fährt mit dem Fahrrad durch die große Stadt."] * MAX_TEXTS, "beam_size": 8}
            return await asyncio.gather(*(client.post(f"{one_hop.url}/v1/translate", json=body) for _ in range(60)))

    responses = asyncio.run(flood())
    assert {r.status_code for r in responses} == {200, 503}
    assert all(r.headers.get("retry-after") == "1" for r in responses if r.status_code == 503)
    assert _translate(one_hop.url, {"text": "Ein Hund."}).status_code == 200


@pytest.mark.slow
@pytest.mark.ray
def test_the_inference_log_names_the_model_deployment(one_hop):
    request_id = f"one-hop-{time.time_ns()}"
    response = httpx.post(
        f"{one_hop.url}/v1/translate", json={"text": "Ein Hund rennt."}, headers={**AUTH, "X-Request-ID": request_id}
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == request_id
    deadline = time.monotonic() + 60
    while True:
        frame = ParquetStore(one_hop.log_store).read(NAME) if one_hop.log_store.exists() else None
        records = frame[frame["request_id"] == request_id] if frame is not None else []
        if len(records) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(records) == 1 and set(records["deployment"]) == {"Translator"}
