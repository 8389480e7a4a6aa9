"""JSON request bodies parsed strictly, once, before any route sees them.

Python's ``json`` accepts what RFC 8259 does not: ``NaN``, ``Infinity``, numbers that overflow to
infinity (``1e400``), lone UTF-16 surrogates, repeated keys. Left in, they reach validation or the
error renderer and end as 500s. :class:`StrictJSONMiddleware` answers them with a 400 naming the
problem, for every route, and bounds the size of every request body.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class StrictJSONError(ValueError):
    """A body that is not strict JSON; the message says why."""


def _no_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError(f"number {text[:40]} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise StrictJSONError(f"key {key!r} appears more than once")
        found[key] = value
    return found


def loads_strict(body: bytes) -> Any:
    """Parse ``body`` as RFC 8259 JSON in UTF-8; raise :class:`StrictJSONError` on anything else."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_unique_keys)
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot be encoded
    except StrictJSONError:
        raise
    except UnicodeEncodeError as exc:
        raise StrictJSONError("a string holds a lone UTF-16 surrogate") from exc
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"not valid UTF-8 text ({exc.reason})") from exc
    except (ValueError, RecursionError) as exc:
        raise StrictJSONError(str(exc).split("\n")[0][:200]) from exc
    return value


def _header(scope: Scope, name: bytes) -> bytes:
    return next((value for key, value in scope.get("headers", ()) if key == name), b"")


def _is_json(scope: Scope) -> bool:
    kind = _header(scope, b"content-type").split(b";")[0].strip().lower()
    return kind == b"application/json" or kind.endswith(b"+json")


def _declared_length(scope: Scope) -> int:
    length = _header(scope, b"content-length")
    return int(length) if length.isdigit() else 0


class StrictJSONMiddleware:
    """Refuse bodies over ``max_bytes`` (413) and non-strict JSON bodies (400), each with a JSON message."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_bytes:
            await _reply(send, 413, f"request body is over the limit of {self.max_bytes} bytes")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _reply(send, 413, f"request body is over the limit of {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(scope):
            try:
                loads_strict(body)
            except StrictJSONError as exc:
                await _reply(send, 400, f"the body is not valid JSON: {exc}")
                return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
