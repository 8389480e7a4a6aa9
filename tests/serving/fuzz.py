"""Property-based requests to every route of a running service, generated from its own OpenAPI schema.

Used by each serving test module against the app it started (each deploys other tasks).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

STRICT_JSON_VIOLATIONS = {
    "NaN": b'{"x": NaN}',
    "Infinity": b'{"x": Infinity}',
    "-Infinity": b'{"x": -Infinity}',
    "overflowing number": b'{"x": 1e400}',
    "lone surrogate": b'{"x": "\\ud800"}',
    "lone surrogate in a key": b'{"\\udfff": 1}',
    "duplicate key": b'{"x": 1, "x": 2}',
    "invalid UTF-8": b'{"x": "\xff"}',
    "deep nesting": b"[" * 50_000 + b"]" * 50_000,
    "5000-digit integer": b'{"x": ' + b"9" * 5000 + b"}",
}
"""Bodies Python's ``json`` module accepts or chokes on that RFC 8259 and a strict client never send."""


def _check(response: Any, where: str) -> None:
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        assert "detail" in response.json(), f"{where}: 4xx without a JSON message: {response.text[:300]}"


def fuzz_every_route(url: str, headers: dict[str, str], examples: int) -> Counter:
    """Send ``examples`` schema-valid and ``examples`` schema-violating requests to each operation.

    Fails on any 5xx, dropped connection or 4xx without a JSON ``detail``; returns the requests
    sent per operation.
    """
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=30, headers=headers)
    sent: Counter = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, url, headers, examples, sent)
    return sent


def _fuzz(
    operation: Any, mode: GenerationMode, url: str, headers: dict[str, str], examples: int, sent: Counter
) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def send(case: Any) -> None:
        response = case.call(base_url=url, headers=headers, timeout=120)  # raises if the connection drops
        sent[label] += 1
        _check(response, f"{label} {mode.value} {str(case.body)[:200]}")

    try:
        send()
    except Unsatisfiable:  # an operation without parameters or body has nothing to violate
        if mode is GenerationMode.POSITIVE:
            raise


def refuses_non_strict_json(url: str, headers: dict[str, str], paths: list[str]) -> None:
    """Each body of :data:`STRICT_JSON_VIOLATIONS` to each path: a 400 naming JSON, never a 5xx."""
    with httpx.Client(base_url=url, headers={**headers, "Content-Type": "application/json"}, timeout=60) as client:
        for path in paths:
            for name, body in STRICT_JSON_VIOLATIONS.items():
                response = client.post(path, content=body)
                assert response.status_code == 400, f"{path} {name}: {response.status_code} {response.text[:300]}"
                assert "not valid JSON" in response.json()["detail"], f"{path} {name}: {response.text[:300]}"
