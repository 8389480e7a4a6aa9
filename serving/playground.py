"""The web playground: a static page (``serving/ui``) served by the gateway at ``/ui/``, ``/`` pointing to it.

The page has no build step and fetches nothing from elsewhere; it calls the same REST API as any client. Its tabs
come from the served tasks' registry entries (``/ui/tabs.json``, public like the page: labels and paths, no data).
"""

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from attnops.pipelines.task import Service

UI_FOLDER = Path(__file__).with_name("ui")


def playground_tabs(services: dict[str, Service]) -> list[dict[str, Any]]:
    """The page's tabs, in registry order: each panel once, with the tasks it shows and the path it posts to."""
    tabs: dict[str, dict[str, Any]] = {}
    for task, service in services.items():
        if service.tab is None:
            continue
        panel = service.tab.panel or task
        path = service.routes[0].path if service.routes else None
        tab = tabs.setdefault(panel, {"panel": panel, "label": service.tab.label, "tasks": [], "path": path})
        tab["tasks"].append(task)
    return list(tabs.values())


def mount_playground(api: FastAPI, services: dict[str, Service]) -> None:
    """Serve the page's tabs and files at ``/ui/`` and redirect ``/`` there; none is part of the OpenAPI schema."""
    tabs = playground_tabs(services)

    @api.get("/ui/tabs.json", include_in_schema=False)
    async def _tabs() -> list[dict[str, Any]]:
        return tabs

    api.mount("/ui", StaticFiles(directory=UI_FOLDER, html=True), name="playground")

    @api.get("/", include_in_schema=False)
    async def _home() -> RedirectResponse:
        return RedirectResponse("ui/")
