"""A tracking server that cannot be reached is named as such, not mistaken for a missing run or model."""

from __future__ import annotations

import pytest

from attnops.pipelines import tracking
from attnops.pipelines.errors import UserError
from attnops.pipelines.inference.resolve import check_registered
from attnops.serving.server import free_port


@pytest.fixture
def nobody_listening(monkeypatch) -> str:
    uri = f"http://127.0.0.1:{free_port()}"  # a free port: every connection is refused
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return uri


@pytest.mark.parametrize("call", [lambda: tracking.check_run("0" * 32), lambda: check_registered("some-model")])
def test_an_unreachable_server_is_reported_as_unreachable(nobody_listening, call):
    with pytest.raises(UserError) as raised:
        call()
    assert str(raised.value) == f"the tracking server at {nobody_listening} is unreachable"
    assert tracking.unreachable(raised.value)


def test_a_missing_run_on_a_reachable_store_is_not_unreachable():
    with pytest.raises(UserError, match="unknown run id") as raised:
        tracking.check_run("0" * 32)
    assert not tracking.unreachable(raised.value)
