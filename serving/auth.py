"""The API token: checked on every route but the health checks and the playground's static page, before
any request body is read, and required for any bind beyond loopback.

With ``ATTNOPS_API_TOKEN`` set, a request needs ``Authorization: Bearer <token>``. The check runs in the
outermost middleware, so a request without it costs a header comparison: its body is never received,
parsed or validated.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_ENV = "ATTNOPS_API_TOKEN"
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/"})
"""Open without the token: the probes (which then name no model) and the redirect to the playground."""
PUBLIC_PREFIX = "/ui"
"""The playground's files, fixed and shipped with the package; the page asks for the token itself."""


def api_token() -> str | None:
    """The token this process requires, if one is set."""
    return os.environ.get(TOKEN_ENV) or None


def client_headers() -> dict[str, str]:
    """Headers a client of this service sends: the API token when the environment sets it."""
    token = api_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def is_public(path: str) -> bool:
    """Whether ``path`` (relative to the app's root) is open without the token."""
    return path in PUBLIC_PATHS or path == PUBLIC_PREFIX or path.startswith(PUBLIC_PREFIX + "/")


def has_token(authorization: bytes, expected: str) -> bool:
    """Whether an ``Authorization`` header value carries ``expected`` as its bearer token."""
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(token.encode(), expected.encode())


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the service on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenMiddleware:
    """Answer 401 to any request for a non-public path without the bearer token, before its body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        expected = api_token()
        if expected is None or scope["type"] not in ("http", "websocket") or is_public(_app_path(scope)):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        if not has_token(headers.get(b"authorization", b""), expected):
            await _refuse(scope, send)
            return
        await self.app(scope, receive, send)


def _app_path(scope: Scope) -> str:
    """The request's path below the app's route prefix."""
    path, root = scope.get("path", "/"), scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"


async def _refuse(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"detail": "missing or wrong bearer token"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b"Bearer"),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
