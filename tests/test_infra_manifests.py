"""Offline validation of the deployment files: the compose file, the KubeRay manifests, the Kubernetes objects."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import ray
import yaml
from ray.serve.schema import ServeDeploySchema

from attnops.infra import secrets as cluster_secrets
from attnops.infra.kuberay import RAYJOB_FILE, RAYSERVICE_FILE, SERVE_PORT, ClusterSpec, rayservice, stale_manifests
from attnops.infra.serve_cluster import cluster_serve_config
from attnops.pipelines.config import REPO_ROOT
from attnops.pipelines.errors import UserError
from attnops.serving.server import DEFAULT_CONFIG, read_serve_config

K8S_VERSION = kubernetes_validate.latest_version()
STATIC_MANIFESTS = ["mlflow.yaml", "postgres.yaml", "data.yaml", "network-policies.yaml"]
COMPOSE_SECRETS = {
    name: f"sentinel-{name.lower()}"
    for name in (
        "POSTGRES_PASSWORD",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
        "RAY_AUTH_TOKEN",
        "ATTNOPS_API_TOKEN",
    )
}
"""What the compose file needs from its environment: generated per deployment, never committed."""
SECRET_ENV = re.compile(r"PASSWORD|TOKEN|SECRET")


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
    done = _compose_config(binary, COMPOSE_SECRETS)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def _compose_config(binary: str, secrets: dict[str, str]) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in COMPOSE_SECRETS}
    command = [binary, "-f", str(REPO_ROOT / "docker-compose.yml"), "config"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env={**env, **secrets})


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
    store = compose["services"]["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]  # off the command line
    assert store.startswith("postgresql://") and "@postgres:5432/" in store
    assert "--artifacts-destination /mlartifacts" in command and "--serve-artifacts" in command
    assert "mlartifacts:/mlartifacts" in str(compose["services"]["mlflow"]["volumes"])  # the named volume
    worker = _command(compose["services"]["ray-worker"])
    assert "--address ray-head:6380" in worker


def test_dockerfiles_build_the_package_for_cpu_and_gpu():
    cpu = (REPO_ROOT / "infra/Dockerfile").read_text()
    gpu = (REPO_ROOT / "infra/Dockerfile.gpu").read_text()
    assert "whl/cpu" in cpu and "onnxruntime-gpu" not in cpu
    assert gpu.startswith("#") and "=nvidia/cuda:" in gpu and "pip install onnxruntime-gpu" in gpu
    for dockerfile in (cpu, gpu):
        assert "pip install --require-hashes -r requirements.lock" in dockerfile  # versions and hashes locked
        assert "pip install --no-deps ." in dockerfile  # the project itself resolves nothing more
        assert dockerfile.rstrip().splitlines()[-3:][0] == "USER attnops"  # not root at run time


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


def test_compose_refuses_to_start_without_its_secrets(compose):
    binary = shutil.which("docker-compose")
    for name in COMPOSE_SECRETS:
        done = _compose_config(binary, {key: value for key, value in COMPOSE_SECRETS.items() if key != name})
        assert done.returncode != 0 and f"set {name}" in done.stderr, name


def test_compose_carries_token_auth_an_internal_database_and_no_literal_password(compose):
    services = compose["services"]
    for name in ("ray-head", "ray-worker", "trainer", "serve"):
        env = services[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"] == COMPOSE_SECRETS["RAY_AUTH_TOKEN"], name
        assert env["MLFLOW_TRACKING_PASSWORD"] == COMPOSE_SECRETS["MLFLOW_TRACKING_PASSWORD"], name
        assert env["ATTNOPS_API_TOKEN"] == COMPOSE_SECRETS["ATTNOPS_API_TOKEN"], name
        assert "database" not in services[name]["networks"], name  # PostgreSQL is out of their reach
    assert compose["networks"]["database"]["internal"] is True
    assert set(services["postgres"]["networks"]) == {"database"}
    mlflow = services["mlflow"]
    assert "--app-name basic-auth" in _command(mlflow) and "postgresql://" not in _command(mlflow)
    assert mlflow["environment"]["MLFLOW_AUTH_ADMIN_PASSWORD"] == COMPOSE_SECRETS["MLFLOW_TRACKING_PASSWORD"]
    for service in services.values():
        assert all(str(port).startswith("127.0.0.1:") for port in service.get("ports", []))
    raw = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    literal = [
        (name, key)
        for name, service in raw["services"].items()
        for key, value in (service.get("environment") or {}).items()
        if SECRET_ENV.search(key) and not str(value).startswith("${")
    ]
    assert literal == [], f"secrets with a literal value: {literal}"


def _containers(manifest: dict) -> list[dict]:
    spec = manifest["spec"]
    cluster = spec.get("rayClusterConfig") or spec["rayClusterSpec"]
    templates = [group["template"] for group in _groups(cluster)]
    templates += [spec["submitterPodTemplate"]] if "submitterPodTemplate" in spec else []
    return [container for template in templates for container in template["spec"]["containers"]]


def _secret_ref(container: dict, name: str) -> dict | None:
    entry = next((e for e in container.get("env", []) if e["name"] == name), None)
    return entry and entry.get("valueFrom", {}).get("secretKeyRef")


@pytest.mark.parametrize("path", [RAYSERVICE_FILE, RAYJOB_FILE], ids=lambda p: p.name)
def test_every_ray_pod_uses_token_auth_from_a_secret(path):
    containers = _containers(yaml.safe_load(path.read_text()))
    assert len(containers) >= 2 + (path == RAYJOB_FILE)
    for container in containers:
        env = {entry["name"]: entry for entry in container["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token", container["name"]
        assert _secret_ref(container, "RAY_AUTH_TOKEN") == {"name": cluster_secrets.RAY_TOKEN_SECRET, "key": "token"}
    for container in containers[:-1] if path == RAYJOB_FILE else containers:  # the submitter needs no MLflow
        assert _secret_ref(container, "MLFLOW_TRACKING_PASSWORD")["name"] == cluster_secrets.MLFLOW_ADMIN_SECRET
        assert _secret_ref(container, "ATTNOPS_API_TOKEN")["name"] == cluster_secrets.API_TOKEN_SECRET


def test_mlflow_runs_behind_basic_auth_with_its_admin_from_a_secret():
    docs = _docs(REPO_ROOT / "infra/k8s/mlflow.yaml")
    deployment = next(doc for doc in docs if doc["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--app-name basic-auth" in container["args"][0] and "postgresql://" not in container["args"][0]
    assert _secret_ref(container, "MLFLOW_AUTH_ADMIN_PASSWORD")["name"] == cluster_secrets.MLFLOW_ADMIN_SECRET
    assert _secret_ref(container, "MLFLOW_BACKEND_STORE_URI")["name"] == cluster_secrets.DB_SECRET
    config = next(doc for doc in docs if doc["kind"] == "ConfigMap")
    assert config["data"]["basic_auth.ini"] == (REPO_ROOT / "infra/mlflow-auth.ini").read_text()
    assert "default_permission = NO_PERMISSIONS" in config["data"]["basic_auth.ini"]


def test_no_secret_or_literal_password_is_committed():
    files = sorted((REPO_ROOT / "infra/k8s").glob("*.yaml"))
    for path in files:
        for doc in _docs(path):
            assert doc["kind"] != "Secret", path.name
        for container in _all_containers(path):
            for entry in container.get("env", []):
                if SECRET_ENV.search(entry["name"]):
                    assert "valueFrom" in entry and "value" not in entry, (path.name, entry["name"])
        assert "change-me" not in path.read_text()


def _all_containers(path) -> list[dict]:
    found = []
    for doc in _docs(path):
        if doc["kind"] in ("RayService", "RayJob"):
            found += _containers(doc)
        elif doc["kind"] in ("Deployment", "StatefulSet"):
            found += doc["spec"]["template"]["spec"]["containers"]
    return found


def test_network_policies_admit_only_the_serve_port_from_outside():
    policies = _docs(REPO_ROOT / "infra/k8s/network-policies.yaml")
    assert any(p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in p["spec"]
               for p in policies)  # fmt: skip
    open_rules = [rule for p in policies for rule in p["spec"].get("ingress", []) if "from" not in rule]
    assert [port for rule in open_rules for port in rule["ports"]] == [{"protocol": "TCP", "port": SERVE_PORT}]
    labels = yaml.safe_load(RAYSERVICE_FILE.read_text())["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]
    selected = [
        p
        for p in policies
        if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels["metadata"]["labels"].items()
    ]
    assert len(selected) >= 3  # the default deny, the Serve port, Ray among its own pods
    by_name = {p["metadata"]["name"]: p for p in policies}
    assert by_name["postgres-from-mlflow"]["spec"]["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}}
    ]


def test_generated_secrets_cover_every_reference_and_differ_on_each_call():
    first, second = cluster_secrets.generate(), cluster_secrets.generate()
    for doc in first:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    names = {doc["metadata"]["name"] for doc in first}
    referenced = {
        ref["name"]
        for path in sorted((REPO_ROOT / "infra/k8s").glob("*.yaml"))
        for container in _all_containers(path)
        for entry in container.get("env", [])
        if (ref := entry.get("valueFrom", {}).get("secretKeyRef"))
    }
    assert referenced <= names == set(cluster_secrets.SECRET_NAMES)
    assert all(a["stringData"] != b["stringData"] for a, b in zip(first, second))
    db = next(doc for doc in first if doc["metadata"]["name"] == cluster_secrets.DB_SECRET)["stringData"]
    assert db["POSTGRES_PASSWORD"] in db["MLFLOW_BACKEND_STORE_URI"] and len(db["POSTGRES_PASSWORD"]) >= 24


def test_a_tracking_uri_with_credentials_stays_out_of_the_serve_config():
    with pytest.raises(UserError, match="MLFLOW_TRACKING_USERNAME"):
        cluster_serve_config("http://admin:hunter2@mlflow:5000", host="0.0.0.0")
