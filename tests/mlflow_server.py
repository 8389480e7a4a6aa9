"""A real ``mlflow server`` process for tests: started on a free loopback port, stopped afterwards."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attnops.serving.server import free_port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def running_mlflow_server(root: Path, args: list[str], env: dict[str, str]) -> Iterator[str]:
    """``mlflow server ARGS`` with its log in ``root``, on 127.0.0.1 and a free port; yields its URL."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), "server", *args,
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    with open(root / "server.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        try:
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
