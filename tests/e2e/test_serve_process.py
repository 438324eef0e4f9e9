"""`stockpilot serve` as a real process, driven over real HTTP, plus the CLI around it."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.serve_process import CLI, serve_demo


def _env(db_url: str) -> dict[str, str]:
    return {**os.environ, "STOCKPILOT_DATABASE_URL": db_url, "STOCKPILOT_EXPIRY_SWEEP_SECONDS": "0.2"}


def _cli(db_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=_env(db_url), capture_output=True, text=True, timeout=120, check=check)


@pytest.fixture
def server(db_url: str, tmp_path: Path):
    with serve_demo(_env(db_url), tmp_path / "serve.log") as started:
        yield started


def test_demo_server_serves_reservations_and_sweeps_expired_holds(server, db_url):
    base, token = server
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        sku = client.get("/api/v1/skus/TEE-BLK-L").json()
        available = sku["totals"]["available"]
        assert available > 0
        held = client.post("/api/v1/reservations", json={"reference": "e2e-1", "ttl_seconds": 1,
                                                          "lines": [{"sku": "TEE-BLK-L", "quantity": available}]})
        assert held.status_code == 201
        assert client.get("/api/v1/skus/TEE-BLK-L").json()["totals"]["available"] == 0
        deadline = time.monotonic() + 30
        while client.get(f"/api/v1/reservations/{held.json()['id']}").json()["status"] != "expired":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # The sweep (not a buyer) gave the units back: reserved is honest again in reports.
        while client.get("/api/v1/skus/TEE-BLK-L").json()["totals"]["reserved"] != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert "stockpilot_reservations_expired_total" in client.get("/metrics").text
    check = _cli(db_url, "check")
    assert check.returncode == 0 and "ok:" in check.stdout


def test_cli_token_stock_and_check(db_url):
    created = _cli(db_url, "token", "create", "--name", "ci")
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("sp_") and len(token) > 30
    missing = _cli(db_url, "stock", "NOPE", check=False)
    assert missing.returncode == 1 and "unknown SKU" in missing.stderr
    assert _cli(db_url, "check").returncode == 0
