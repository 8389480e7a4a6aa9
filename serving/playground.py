"""The web playground: a static page (``serving/ui``) served by the gateway at ``/ui/``, ``/`` pointing to it.

The page has no build step and fetches nothing from elsewhere; it calls the same REST API as any client.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

UI_FOLDER = Path(__file__).with_name("ui")


def mount_playground(api: FastAPI) -> None:
    """Serve the page's files at ``/ui/`` and redirect ``/`` there; neither is part of the OpenAPI schema."""
    api.mount("/ui", StaticFiles(directory=UI_FOLDER, html=True), name="playground")

    @api.get("/", include_in_schema=False)
    async def _home() -> RedirectResponse:
        return RedirectResponse("ui/")
