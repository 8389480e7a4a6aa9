"""Offline validation of the deployment files: the compose file, the KubeRay manifests, the Kubernetes objects."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess

import kubernetes_validate
import pytest
import ray
import yaml
from ray.serve.schema import ServeDeploySchema

from attnops.cli.main import build_parser
from attnops.infra import secrets as cluster_secrets
from attnops.infra.kuberay import (
    IMAGE_USER,
    POD_LABELS,
    RAYJOB_FILE,
    RAYJOB_PREDICT_FILE,
    RAYSERVICE_FILE,
    SERVE_PORT,
    ClusterSpec,
    rayjob_predict,
    rayservice,
    stale_manifests,
)
from attnops.infra.serve_cluster import cluster_serve_config
from attnops.pipelines.config import REPO_ROOT
from attnops.pipelines.errors import UserError
from attnops.pipelines.tasks import task_named
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
        "GRAFANA_ADMIN_PASSWORD",
    )
}
"""What the compose file needs from its environment: generated per deployment, never committed."""
SECRET_ENV = re.compile(r"PASSWORD|TOKEN|SECRET")
RAYJOB_FILES = [RAYJOB_FILE, RAYJOB_PREDICT_FILE]
GENERATED = [RAYSERVICE_FILE, *RAYJOB_FILES]


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
    assert set(services) == {
        "postgres",
        "mlflow",
        "ray-head",
        "ray-worker",
        "trainer",
        "serve",
        "prometheus",
        "grafana",
    }
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


def _mounts(service: dict) -> dict[str, str]:
    """Container path → host path of a service's bind mounts (``docker-compose config`` writes ``HOST:PATH:MODE``)."""
    pairs = [volume.split(":")[:2] for volume in service.get("volumes", [])]
    return {target: source for source, target in pairs if source.startswith("/")}


def test_compose_prometheus_scrapes_every_ray_node_and_grafana_gets_the_dashboard(compose):
    services = compose["services"]
    config_path = _mounts(services["prometheus"])["/etc/prometheus/prometheus.yml"]
    scrape = yaml.safe_load(open(config_path).read())["scrape_configs"]
    targets = {t for job in scrape for group in job["static_configs"] for t in group["targets"]}
    nodes = {name for name in ("ray-head", "ray-worker") if "--metrics-export-port 8080" in _command(services[name])}
    assert targets == {f"{node}:8080" for node in nodes} == {"ray-head:8080", "ray-worker:8080"}
    grafana = _mounts(services["grafana"])
    provider = yaml.safe_load((REPO_ROOT / "infra/monitoring/grafana/provisioning/dashboards/attnops.yml").read_text())
    dashboards = provider["providers"][0]["options"]["path"]
    assert grafana[dashboards] == str(REPO_ROOT / "infra/monitoring/grafana/dashboards")
    assert grafana["/etc/grafana/provisioning"] == str(REPO_ROOT / "infra/monitoring/grafana/provisioning")


def test_scrape_config_is_valid_for_promtool_and_renames_rays_series():
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (.ci/run installs prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    path = REPO_ROOT / "infra/monitoring/prometheus.yml"
    done = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    (rule,) = yaml.safe_load(path.read_text())["scrape_configs"][0]["metric_relabel_configs"]
    assert re.sub(f"^{rule['regex']}$", rule["replacement"].replace("$1", r"\1"), "ray_attnops_requests_total") == (
        "attnops_requests_total"
    )


def test_dashboard_queries_the_provisioned_prometheus_with_valid_expressions(tmp_path):
    promtool = shutil.which("promtool") or pytest.skip("promtool is not installed (apt-get install prometheus)")
    dashboard = json.loads((REPO_ROOT / "infra/monitoring/grafana/dashboards/attnops.json").read_text())
    sources = REPO_ROOT / "infra/monitoring/grafana/provisioning/datasources/prometheus.yml"
    uid = yaml.safe_load(sources.read_text())["datasources"][0]["uid"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"]) >= 8
    targets = [target for panel in dashboard["panels"] for target in panel["targets"]]
    assert all(target["datasource"]["uid"] == uid for target in targets)
    # Each expression as a recording rule: promtool parses it with Prometheus's own PromQL parser.
    rules = [
        {"record": f"dashboard:{i}", "expr": t["expr"].replace("$__rate_interval", "1m")} for i, t in enumerate(targets)
    ]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and f"{len(rules)} rules found" in done.stdout, done.stdout + done.stderr


def test_kuberay_pods_carry_prometheus_annotations_and_the_metrics_port():
    cluster = yaml.safe_load(RAYSERVICE_FILE.read_text())["spec"]["rayClusterConfig"]
    for group in _groups(cluster):
        annotations = group["template"]["metadata"]["annotations"]
        port = int(annotations["prometheus.io/port"])
        assert annotations["prometheus.io/scrape"] == "true" and group["rayStartParams"]["metrics-export-port"] == str(
            port
        )
        (container,) = group["template"]["spec"]["containers"]
        assert {"name": "metrics", "containerPort": port} in container["ports"]


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
    predict = yaml.safe_load(RAYJOB_PREDICT_FILE.read_text())
    assert (predict["apiVersion"], predict["kind"]) == ("ray.io/v1", "RayJob")
    assert job["spec"]["entrypoint"].startswith("attnops train ")
    assert predict["spec"]["entrypoint"].startswith("attnops predict ")
    assert job["metadata"]["name"] != predict["metadata"]["name"]
    for each in (job, predict):
        assert each["spec"]["shutdownAfterJobFinishes"] is True and "rayClusterSpec" in each["spec"]
        assert each["spec"]["submissionMode"] == "K8sJobMode"
        assert each["spec"]["rayClusterSpec"]["rayVersion"] == ray.__version__
    for spec in (cluster, job["spec"]["rayClusterSpec"], predict["spec"]["rayClusterSpec"]):
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


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.name)
def test_pod_templates_validate_against_the_kubernetes_schema(path):
    manifest = yaml.safe_load(path.read_text())
    cluster = manifest["spec"].get("rayClusterConfig") or manifest["spec"]["rayClusterSpec"]
    templates = [group["template"] for group in _groups(cluster)]
    templates += [manifest["spec"]["submitterPodTemplate"]] if "submitterPodTemplate" in manifest["spec"] else []
    assert len(templates) == 2 + (path in RAYJOB_FILES)
    for pod in templates:
        template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": pod}
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


def _templates(manifest: dict) -> list[dict]:
    """Every pod template of a RayService or RayJob: head, worker groups, then a job's submitter."""
    spec = manifest["spec"]
    cluster = spec.get("rayClusterConfig") or spec["rayClusterSpec"]
    templates = [group["template"] for group in _groups(cluster)]
    return templates + ([spec["submitterPodTemplate"]] if "submitterPodTemplate" in spec else [])


def _containers(manifest: dict) -> list[dict]:
    return [container for template in _templates(manifest) for container in template["spec"]["containers"]]


def _secret_ref(container: dict, name: str) -> dict | None:
    entry = next((e for e in container.get("env", []) if e["name"] == name), None)
    return entry and entry.get("valueFrom", {}).get("secretKeyRef")


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.name)
def test_every_ray_pod_uses_token_auth_from_a_secret(path):
    containers = _containers(yaml.safe_load(path.read_text()))
    assert len(containers) >= 2 + (path in RAYJOB_FILES)
    for container in containers:
        env = {entry["name"]: entry for entry in container["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token", container["name"]
        assert _secret_ref(container, "RAY_AUTH_TOKEN") == {"name": cluster_secrets.RAY_TOKEN_SECRET, "key": "token"}
    for container in containers[:-1] if path in RAYJOB_FILES else containers:  # the submitter needs no MLflow
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


def _predict_job() -> tuple[dict, dict, list[dict]]:
    """The prediction RayJob, its head pod spec and its worker pod specs."""
    job = yaml.safe_load(RAYJOB_PREDICT_FILE.read_text())
    head, *workers = [group["template"]["spec"] for group in _groups(job["spec"]["rayClusterSpec"])]
    return job, head, workers


def _mount_of(pod: dict, path: str) -> tuple[dict, dict]:
    """The volume mount of ``pod``'s container that holds ``path``, and the volume it mounts."""
    (container,) = pod["containers"]
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    return mount, volume


def test_the_prediction_job_reads_the_data_volume_and_writes_a_volume_of_its_own():
    job, head, workers = _predict_job()
    command = shlex.split(job["spec"]["entrypoint"])
    args = build_parser().parse_args(command[1:])  # the real command line parser of `attnops predict`
    assert command[0] == "attnops" and args.func.__module__ == "attnops.cli.predict"
    assert args.model == f"models:/{task_named('translation').model_name}@champion"
    (source,) = args.input
    mount, volume = _mount_of(head, str(source))  # the driver reads the input on the head pod (K8sJobMode)
    assert mount["readOnly"] is True
    assert volume["persistentVolumeClaim"] == {"claimName": "attnops-data", "readOnly": True}
    mount, volume = _mount_of(head, str(args.output))
    assert not mount.get("readOnly") and not volume["persistentVolumeClaim"].get("readOnly")
    claims = {doc["metadata"]["name"]: doc for doc in _docs(REPO_ROOT / "infra/k8s/data.yaml")}
    claim = claims[volume["persistentVolumeClaim"]["claimName"]]  # declared beside the data volume, so it outlives jobs
    assert claim["kind"] == "PersistentVolumeClaim" and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    for worker in workers:  # the actors read no file and write none: only the driver does
        assert [v["name"] for v in worker["volumes"]] == ["data"]
    most_cpus = sum(int(g["maxReplicas"]) * int(g["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])
                    for g in job["spec"]["rayClusterSpec"]["workerGroupSpecs"])  # fmt: skip
    assert args.actors * args.threads <= most_cpus  # the actor pool fits the autoscaled worker group


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.name)
def test_every_pod_runs_as_the_images_user_without_privilege_escalation(path):
    uid = re.search(r"useradd .*--uid (\d+) attnops", (REPO_ROOT / "infra/Dockerfile").read_text()).group(1)
    templates = _templates(yaml.safe_load(path.read_text()))
    assert len(templates) >= 2 + (path in RAYJOB_FILES)
    for template in templates:
        pod = template["spec"]
        assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": int(uid), "fsGroup": IMAGE_USER}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_the_prediction_job_runs_inside_the_network_policies():
    job = _predict_job()[0]
    service = yaml.safe_load(RAYSERVICE_FILE.read_text())["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]
    cluster = job["spec"]["rayClusterSpec"]
    for group in _groups(cluster):  # the labels the policies select: default deny, Ray among its own pods, MLflow
        assert group["template"]["metadata"]["labels"] == service["metadata"]["labels"] == POD_LABELS
    submitter = job["spec"]["submitterPodTemplate"]["metadata"]["labels"]
    assert submitter == yaml.safe_load(RAYJOB_FILE.read_text())["spec"]["submitterPodTemplate"]["metadata"]["labels"]
    assert submitter["app.kubernetes.io/component"] == "ray-submitter"  # admitted to the dashboard to submit


def test_prediction_job_arguments_reach_its_entrypoint():
    model, inputs, output = "models:/captioner@challenger", "/data/inputs/my photos", "/predictions/p"
    job = rayjob_predict(ClusterSpec(), model=model, inputs=inputs, output=output, actors=3)
    args = build_parser().parse_args(shlex.split(job["spec"]["entrypoint"])[1:])
    assert (args.model, [str(p) for p in args.input], str(args.output)) == (model, [inputs], output)
    assert (args.actors, args.threads) == (3, 2)
    assert job != rayjob_predict(ClusterSpec())
