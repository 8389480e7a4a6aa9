"""``attnops stack``: the production topology as local processes, and its Kubernetes manifests."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from attnops.pipelines.errors import UserError
from attnops.pipelines.redact import redact


def _up(args: argparse.Namespace) -> None:
    from attnops.infra.stack import deploy, up

    state = up(args.postgres, args.database)
    print(f"postgresql: {redact(state.database_uri)}")
    print(f"mlflow: {state.tracking_uri} (artifacts in {state.artifacts})")
    print(f"ray: head {state.ray_address} + 1 worker node, dashboard {state.dashboard}")
    if args.deploy:
        deploy(state, _tasks(args))
        print(f"serve: {state.serve_url} ({', '.join(_tasks(args))})")
    print(f"export MLFLOW_TRACKING_URI={state.tracking_uri} RAY_ADDRESS={state.ray_address} RAY_AUTH_MODE=token")


def _deploy(args: argparse.Namespace) -> None:
    from attnops.infra.stack import StackState, deploy, deploy_config, stack_dir
    from attnops.serving.server import check_bind

    tasks = _tasks(args)
    if args.dashboard:  # a cluster the stack did not start (e.g. the compose file's ray-head)
        tracking = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not tracking:
            raise UserError("--dashboard needs --tracking-uri (or $MLFLOW_TRACKING_URI) for the replicas")
        check_bind(args.host)
        deploy_config(Path(tempfile.mkdtemp(prefix="attnops-serve-")), args.dashboard, tracking, args.host, None, tasks)
        print(f"deployed {', '.join(tasks)} to {args.dashboard}")
        return
    state = StackState.load(stack_dir())
    if state is None:
        raise UserError("no stack is up; start one with 'attnops stack up'")
    deploy(state, tasks)
    print(f"serve: {state.serve_url} ({', '.join(tasks)})")


def _tasks(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(args.task or ["translation"])


def _down(args: argparse.Namespace) -> None:
    from attnops.infra.stack import down

    stopped = down()
    print(f"stopped {len(stopped)} processes" if stopped else "no stack was up")


def _status(args: argparse.Namespace) -> None:
    from attnops.infra.stack import status

    rows = status()
    width = max(len(row.name) for row in rows)
    for row in rows:
        print(f"{row.name.ljust(width)}  {'healthy' if row.healthy else 'DOWN   '}  {row.detail}")
    if not all(row.healthy for row in rows):
        raise UserError("some components are not healthy")


def _k8s(args: argparse.Namespace) -> None:
    from attnops.infra.kuberay import stale_manifests, write_manifests

    if args.check:
        stale = stale_manifests()
        if stale:
            names = ", ".join(str(p) for p in stale)
            raise UserError(f"out of date with serving/serve_config.yaml: {names}; run 'attnops stack k8s'")
        print("infra/k8s is up to date with serving/serve_config.yaml")
        return
    for path in write_manifests():
        print(f"wrote {path}")


def _secrets(args: argparse.Namespace) -> None:
    from attnops.infra.secrets import render

    print(render(), end="")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """The ``stack`` command group."""
    stack = commands.add_parser(
        "stack",
        help="run the production topology as local processes; render its Kubernetes manifests",
        description="MLflow on PostgreSQL, a two-node Ray cluster on loopback and the Serve app, as local "
        "processes (the topology of docker-compose.yml, without a container engine). State, logs and "
        "artifacts go to $ATTNOPS_STACK_DIR (default .stack/ in the working directory).",
    )
    actions = stack.add_subparsers(dest="action", required=True, metavar="ACTION")
    from attnops.pipelines.tasks import TASKS

    tasks = dict(action="append", choices=list(TASKS))

    up = actions.add_parser(
        "up",
        help="create the MLflow database, start mlflow server and the Ray head + worker",
        description="Create the MLflow database on PostgreSQL if missing (MLflow creates its schema), start "
        "'mlflow server' on it and a Ray head plus one worker node on 127.0.0.1, each on a free port. Prints "
        "the MLFLOW_TRACKING_URI to export.",
    )
    up.add_argument(
        "--postgres",
        help="PostgreSQL URI to create the database from ($ATTNOPS_POSTGRES_URI, default "
        "postgresql://127.0.0.1:5432/postgres)",
    )
    up.add_argument("--database", default="attnops_mlflow", help="MLflow's database (default attnops_mlflow)")
    up.add_argument("--deploy", action="store_true", help="also deploy the Serve app (its models must be registered)")
    up.add_argument("--task", **tasks, help="task to serve with --deploy (repeatable; default translation)")
    up.set_defaults(func=_up)

    deploy = actions.add_parser(
        "deploy",
        help="'serve deploy' the Serve config to the stack's cluster",
        description="Deploy serving/serve_config.yaml (the tasks given) to the running stack, or with "
        "--dashboard to any Ray cluster, and wait until the service is ready.",
    )
    deploy.add_argument("--task", **tasks, help="task to serve (repeatable; default translation)")
    deploy.add_argument("--dashboard", help="Ray dashboard URL of another cluster, e.g. http://ray-head:8265")
    deploy.add_argument(
        "--host",
        default="0.0.0.0",
        help="proxy host with --dashboard (default 0.0.0.0; beyond loopback it needs $ATTNOPS_API_TOKEN)",
    )
    deploy.add_argument("--tracking-uri", help="MLflow server the replicas use, with --dashboard")
    deploy.set_defaults(func=_deploy)

    actions.add_parser(
        "status", help="health of each component", description="PostgreSQL, MLflow, Ray nodes, Serve app."
    ).set_defaults(func=_status)
    actions.add_parser(
        "down", help="stop every process of the stack", description="Stop the Ray nodes and MLflow; data stays."
    ).set_defaults(func=_down)
    k8s = actions.add_parser(
        "k8s",
        help="regenerate infra/k8s/rayservice.yaml, rayjob-train.yaml and rayjob-predict.yaml",
        description="Write the KubeRay RayService (serveConfigV2 from serving/serve_config.yaml) and the training "
        "and prediction RayJobs.",
    )
    k8s.add_argument("--check", action="store_true", help="only check that the files are up to date")
    k8s.set_defaults(func=_k8s)
    actions.add_parser(
        "secrets",
        help="print the cluster's Secrets with fresh random values, for 'kubectl apply -f -'",
        description="The Secrets infra/k8s refers to (database, MLflow admin, Ray token, API token), generated "
        "anew on each call and never written to disk: attnops stack secrets | kubectl apply -f -",
    ).set_defaults(func=_secrets)
