"""The API token guards every route of the real gateway app but the probes and the playground page, before
any body is read; ``attnops serve`` refuses to bind beyond loopback without it."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from attnops.cli import main
from attnops.serving.app import gateway_api
from attnops.serving.auth import TOKEN_ENV, is_loopback
from attnops.serving.build import services
from attnops.serving.server import check_bind

TOKEN = "auth-test-token"
api = gateway_api(services(), models={})  # every registered task's routes; no model deployed
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/"), ("GET", "/ui"), ("GET", "/ui/tabs.json")}


def _requests(routes: list, prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every route in ``routes``, path parameters filled in, mounts at their root, included
    routers (the gateway's, from Serve's ingress) with their own routes."""
    found = []
    for route in routes:
        if hasattr(route, "original_router"):
            found += _requests(route.original_router.routes, prefix + route.include_context.prefix)
            continue
        path = prefix + re.sub(r"\{[^}]+\}", "x", route.path)
        if isinstance(route, Mount):
            found.append(("GET", path))
        else:
            assert isinstance(route, (APIRoute, Route)), f"a kind of route this test does not know: {route}"
            found += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


async def _send(method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    # With no model deployed a handler that gets through answers 404 (or a status of its own).
    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.request(method, path, headers=headers, json={"text": "Hallo"})


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def test_every_route_but_the_probes_and_the_playground_needs_the_token(token):
    requests = _requests(api.routes)
    assert {"/v1/translate", "/v1/models", "/v1/models/reload", "/openapi.json", "/docs"} <= {p for _, p in requests}
    guarded = [request for request in requests if request not in PUBLIC]
    assert set(requests) - set(guarded) == PUBLIC
    for method, path in guarded:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            response = asyncio.run(_send(method, path, headers))
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
    print(f"\n{len(guarded)} guarded routes: {sorted(guarded)}")
    for method, path in PUBLIC:
        assert asyncio.run(_send(method, path, {})).status_code != 401, path
    docs = asyncio.run(_send("GET", "/openapi.json", {"Authorization": f"Bearer {TOKEN}"}))
    assert docs.status_code == 200 and "/v1/translate" in docs.json()["paths"]


def _call_app(headers: list[tuple[bytes, bytes]], size: int) -> tuple[int | None, int]:
    """Send a POST declaring a ``size``-byte JSON body straight to the app; (status, body reads)."""
    reads, statuses = [], []

    async def receive():
        reads.append(1)
        return {"type": "http.request", "body": b"{" + b" " * (size - 2) + b"}", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/translate",
        "raw_path": b"/v1/translate",
        "root_path": "",
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(size).encode()), *headers],
    }
    asyncio.run(api(scope, receive, send))
    return (statuses or [None])[0], len(reads)


def test_the_body_is_not_read_without_the_token(token):
    size = 8 * 1024 * 1024
    assert _call_app([(b"authorization", b"Bearer wrong")], size) == (401, 0)
    assert _call_app([], size) == (401, 0)
    status, reads = _call_app([(b"authorization", f"Bearer {TOKEN}".encode())], size)
    assert reads >= 1 and status != 401  # with the token the body is read (and then judged)


def test_serve_refuses_a_bind_beyond_loopback_without_a_token(monkeypatch, capsys):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "18999"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("attnops: error: refusing to serve on 0.0.0.0 without an API token")
    for host in ("127.0.0.1", "localhost", "::1"):
        check_bind(host)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    check_bind("0.0.0.0")
    assert not is_loopback("10.0.0.7") and not is_loopback("example.org") and is_loopback("127.0.0.2")


def test_stack_deploy_to_another_cluster_refuses_a_public_proxy_without_a_token(monkeypatch, capsys):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    argv = ["stack", "deploy", "--dashboard", "http://127.0.0.1:9", "--tracking-uri", "http://127.0.0.1:9"]
    assert main(argv) == 2
    assert "refusing to serve on 0.0.0.0 without an API token" in capsys.readouterr().err
