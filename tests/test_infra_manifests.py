"""Offline validation of the deployment files: the compose file, the KubeRay manifests, the Kubernetes objects."""

from __future__ import annotations

import os
import shutil
import subprocess

import kubernetes_validate
import pytest
import ray
import yaml
from ray.serve.schema import ServeDeploySchema

from infra.kuberay import RAYJOB_FILE, RAYSERVICE_FILE, ClusterSpec, rayservice, stale_manifests
from infra.serve_cluster import cluster_serve_config
from pipelines.config import REPO_ROOT
from serving.server import DEFAULT_CONFIG, read_serve_config

K8S_VERSION = kubernetes_validate.latest_version()
STATIC_MANIFESTS = ["mlflow.yaml", "postgres.yaml", "data.yaml"]


def _docs(path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _groups(cluster: dict) -> list[dict]:
    return [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]


@pytest.fixture(scope="module")
def compose() -> dict:
    """``docker-compose config`` of the repository's compose file: parsed and normalised by the real client."""
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed (.ci/run installs it)")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    done = subprocess.run(
        [binary, "-f", str(REPO_ROOT / "docker-compose.yml"), "config"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_has_the_topology_in_start_order(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "mlflow", "ray-head", "ray-worker", "trainer", "serve"}
    for name in ("postgres", "mlflow", "ray-head"):
        assert services[name]["healthcheck"]["test"], name
    assert services["mlflow"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["ray-head"]["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert services["ray-worker"]["depends_on"]["ray-head"]["condition"] == "service_healthy"
    assert services["trainer"]["depends_on"]["mlflow"]["condition"] == "service_healthy"
    assert services["serve"]["depends_on"]["trainer"]["condition"] == "service_completed_successfully"


def _command(service: dict) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_compose_mlflow_runs_on_postgres_with_proxied_artifacts(compose):
    command = _command(compose["services"]["mlflow"])
    assert "--backend-store-uri postgresql://" in command and "@postgres:5432/" in command
    assert "--artifacts-destination /mlartifacts" in command and "--serve-artifacts" in command
    assert "mlartifacts:/mlartifacts" in str(compose["services"]["mlflow"]["volumes"])  # the named volume
    worker = _command(compose["services"]["ray-worker"])
    assert "--address ray-head:6380" in worker


def test_dockerfiles_build_the_package_for_cpu_and_gpu():
    cpu = (REPO_ROOT / "infra/Dockerfile").read_text()
    gpu = (REPO_ROOT / "infra/Dockerfile.gpu").read_text()
    assert "whl/cpu" in cpu and "onnxruntime-gpu" not in cpu
    assert gpu.startswith("#") and "FROM nvidia/cuda:" in gpu and "pip install onnxruntime-gpu" in gpu


def test_generated_manifests_are_up_to_date_with_the_serve_config():
    assert stale_manifests() == [], "run 'attnops stack k8s' and commit infra/k8s/"


def test_serve_config_v2_is_the_serve_config_and_validates_with_rays_schema():
    manifest = yaml.safe_load(RAYSERVICE_FILE.read_text())
    serve_config = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(serve_config)
    source = read_serve_config(DEFAULT_CONFIG)
    (app,), (original,) = serve_config["applications"], source["applications"]
    assert app["deployments"] == original["deployments"]
    assert app["import_path"] == original["import_path"] and app["args"] == original["args"]
    assert serve_config["http_options"]["host"] == "0.0.0.0"  # reachable through KubeRay's Service
    assert app["runtime_env"]["env_vars"]["MLFLOW_TRACKING_URI"] == ClusterSpec().tracking_uri


def test_serve_config_changes_reach_the_rayservice(tmp_path):
    source = read_serve_config(DEFAULT_CONFIG)
    translator = next(d for d in source["applications"][0]["deployments"] if d["name"] == "Translator")
    translator["autoscaling_config"]["max_replicas"] = 7
    path = tmp_path / "serve_config.yaml"
    path.write_text(yaml.safe_dump(source))
    derived = cluster_serve_config("http://mlflow:5000", host="0.0.0.0", source=path, tasks=("translation",))
    ServeDeploySchema.model_validate(derived)
    assert [d["name"] for d in derived["applications"][0]["deployments"]] == ["Gateway", "Translator"]
    assert derived["applications"][0]["deployments"][1]["autoscaling_config"]["max_replicas"] == 7
    assert rayservice(ClusterSpec()) != rayservice(ClusterSpec(image="attnops:gpu"))


def test_rayservice_and_rayjob_have_what_kuberay_requires():
    service = yaml.safe_load(RAYSERVICE_FILE.read_text())
    job = yaml.safe_load(RAYJOB_FILE.read_text())
    assert (service["apiVersion"], service["kind"]) == ("ray.io/v1", "RayService")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["rayVersion"] == ray.__version__
    for group in cluster["workerGroupSpecs"]:
        assert group["groupName"] and 0 < group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    assert job["spec"]["entrypoint"].startswith("attnops train ")
    assert job["spec"]["shutdownAfterJobFinishes"] is True and "rayClusterSpec" in job["spec"]
    for spec in (cluster, job["spec"]["rayClusterSpec"]):
        assert "rayStartParams" in spec["headGroupSpec"]
        for group in _groups(spec):
            (container,) = group["template"]["spec"]["containers"]
            assert container["resources"]["limits"]["cpu"] and container["resources"]["limits"]["memory"]


def test_model_replicas_fit_on_a_worker():
    cluster = yaml.safe_load(RAYSERVICE_FILE.read_text())["spec"]["rayClusterConfig"]
    serve_config = yaml.safe_load(yaml.safe_load(RAYSERVICE_FILE.read_text())["spec"]["serveConfigV2"])
    worker_cpus = min(
        int(g["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"]) for g in cluster["workerGroupSpecs"]
    )
    for deployment in serve_config["applications"][0]["deployments"]:
        assert deployment.get("ray_actor_options", {}).get("num_cpus", 1) <= worker_cpus, deployment["name"]


@pytest.mark.parametrize("path", [RAYSERVICE_FILE, RAYJOB_FILE], ids=lambda p: p.name)
def test_pod_templates_validate_against_the_kubernetes_schema(path):
    manifest = yaml.safe_load(path.read_text())
    cluster = manifest["spec"].get("rayClusterConfig") or manifest["spec"]["rayClusterSpec"]
    for group in _groups(cluster):
        template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": group["template"]}
        kubernetes_validate.validate(template, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name", STATIC_MANIFESTS)
def test_static_manifests_validate_against_the_kubernetes_schema(name):
    docs = _docs(REPO_ROOT / "infra/k8s" / name)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_an_invalid_pod_template_is_refused():
    """The validator does catch a broken template (a port given as text)."""
    template = yaml.safe_load(RAYSERVICE_FILE.read_text())["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]
    template["spec"]["containers"][0]["ports"][0]["containerPort"] = "six"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template},
            K8S_VERSION,
            strict=True,
        )
