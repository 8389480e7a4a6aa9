"""The strict JSON parser and its middleware, without a server: RFC 8259 JSON passes unchanged, what Python's
``json`` accepts beyond it is a 400 naming the problem, bodies over the limit are a 413 however they arrive."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnops.serving.strict_json import StrictJSONError, StrictJSONMiddleware, loads_strict

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)


@settings(max_examples=200, deadline=None)
@given(json_values, st.booleans())
def test_strict_json_parses_like_json(value, ascii_only):
    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    assert loads_strict(body) == json.loads(body)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(), json_values, min_size=1, max_size=4), st.data())
def test_a_repeated_key_is_refused_at_any_depth(value, data):
    key = data.draw(st.sampled_from(sorted(value)))
    members = json.dumps(value)[1:-1]
    body = "[" + "{" + members + ", " + json.dumps(key) + ": 1}" + "]"
    with pytest.raises(StrictJSONError, match="appears more than once"):
        loads_strict(body.encode())


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"x": NaN}', "NaN is not a JSON number"),
        (b"[Infinity]", "Infinity is not a JSON number"),
        (b"[-Infinity]", "-Infinity is not a JSON number"),
        (b'{"x": 1e400}', "number 1e400 is out of range"),
        (b'{"text": "\\ud800"}', "lone UTF-16 surrogate"),
        (b'{"text": "caf\xe9"}', "not valid UTF-8"),
        (b'{"text": "a"} x', "Extra data"),
        (b"", "Expecting value"),
        (b"[" * 100_000 + b"]" * 100_000, "recursion depth"),
    ],
)
def test_what_json_accepts_beyond_rfc_8259_is_refused_with_a_reason(body, fragment):
    with pytest.raises(StrictJSONError, match=fragment):
        loads_strict(body)


async def _echo(scope, receive, send) -> None:
    """The app behind the middleware: answers 200 with the body it received."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _post(chunks: list[bytes], headers: dict[str, str], method: str = "POST") -> tuple[int, bytes]:
    """Send ``chunks`` as one request through the middleware (limit 64 bytes); the status and body it answers."""
    scope = {
        "type": "http",
        "method": method,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(StrictJSONMiddleware(_echo, max_bytes=64)(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


JSON = {"Content-Type": "application/json"}


def test_strict_json_reaches_the_app_whole_even_in_chunks():
    assert _post([b'{"text": ', b'"Ein Hund."}'], JSON) == (200, b'{"text": "Ein Hund."}')


def test_non_strict_json_is_a_400_naming_the_problem():
    status, body = _post([b'{"beam_size": NaN}'], JSON)
    assert status == 400 and json.loads(body) == {"detail": "the body is not valid JSON: NaN is not a JSON number"}
    assert _post([b'{"a": NaN}'], {"Content-Type": "application/problem+json"})[0] == 400


def test_bodies_over_the_limit_are_a_413_declared_or_streamed():
    declared = _post([b"{}"], {**JSON, "Content-Length": "65"})
    streamed = _post([b"[" + b"1," * 20, b"1," * 20 + b"1]"], JSON)  # 83 bytes, no length declared
    for status, body in (declared, streamed):
        assert status == 413 and json.loads(body) == {"detail": "request body is over the limit of 64 bytes"}


def test_other_bodies_and_reads_pass_through_unparsed():
    assert _post([b"NaN"], {"Content-Type": "text/plain"}) == (200, b"NaN")  # the route decides what it takes
    assert _post([b"NaN"], JSON, method="GET") == (200, b"NaN")
