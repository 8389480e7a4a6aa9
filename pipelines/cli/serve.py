"""``attnops serve``: the REST service in the foreground, or a reload of a running one."""

from __future__ import annotations

import argparse
from pathlib import Path

from attnops.pipelines.command_args import positive


def _serve(args: argparse.Namespace) -> None:
    from attnops.serving.server import DEFAULT_CONFIG, reload_running_service, run_service

    if args.reload:
        print(reload_running_service(args.port or 8000))
        return
    run_service(Path(args.config) if args.config else DEFAULT_CONFIG, args.port, args.model, args.host, args.one_hop)


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the REST inference service (Ray Serve) in the foreground",
        description="Start a local Ray and the Serve app described by the Serve config (the same file "
        "'serve run' takes) on 127.0.0.1 (or --host), until Ctrl-C or SIGTERM. Models come from the registry "
        "(default models:/translation-de-en@champion; the config's args.tasks picks the tasks) and follow "
        "their alias. An address beyond loopback is refused unless ATTNOPS_API_TOKEN is set; the token then "
        "guards every route but /healthz, /readyz and the playground page. --reload asks a running service to "
        "pick up new alias holders now.",
    )
    serve.add_argument("--config", help="Serve config YAML (default: serving/serve_config.yaml of this package)")
    serve.add_argument(
        "--host",
        help="address to bind (default: the config's, 127.0.0.1); beyond loopback it needs $ATTNOPS_API_TOKEN",
    )
    serve.add_argument("--port", type=positive, help="HTTP port (default: the config's, 8000)")
    serve.add_argument(
        "--model",
        action="append",
        help="model URI to serve instead of the config's; repeat for several tasks (each deploys its task's model)",
    )
    serve.add_argument(
        "--one-hop",
        action="store_true",
        help="a single-task service whose gateway runs the model in its own process, on one replica "
        "(as the config's args.one_hop: true; docs/serving.md)",
    )
    serve.add_argument("--reload", action="store_true", help="tell the service on --port to reload its model")
    serve.set_defaults(func=_serve)
