"""Starting `stockpilot serve` as a real process for end-to-end tests, and an API test client for an app."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

CLI = [sys.executable, "-m", "stockpilot.entrypoints.cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_demo(env: dict[str, str], log_path: Path, cwd: Path | None = None) -> Iterator[tuple[str, str]]:
    """`stockpilot serve --demo` on a free port until healthy; yields (base URL, the API token it printed)."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen([*CLI, "serve", "--demo", "--port", str(port), "--no-access-log"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT, text=True, cwd=cwd)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"serve did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        token = next(line.split()[-1] for line in log_path.read_text().splitlines() if line.startswith("API token:"))
        try:
            yield base, token
        finally:
            process.terminate()
            process.wait(timeout=20)


@contextmanager
def api_client(sp: Any) -> Iterator[TestClient]:
    """The HTTP API of `sp` (no embedded worker) with a fresh API token set."""
    from stockpilot.entrypoints.api.app import create_app

    token = sp.tokens.create("test")
    with TestClient(create_app(sp, run_worker=False)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
