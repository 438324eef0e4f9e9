"""Where `stockpilot serve` runs its worker: a supervised child process on PostgreSQL, threads on SQLite.

Real processes and signals: the child is SIGKILLed and must come back (and keep working), and `serve` itself is
SIGKILLed (no clean-up of any kind runs in it) and the child must not outlive it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.serve_process import CLI, serve_demo


def _env(db_url: str) -> dict[str, str]:
    return {**os.environ, "STOCKPILOT_DATABASE_URL": db_url, "STOCKPILOT_EXPIRY_SWEEP_SECONDS": "0.2"}


def _worker(base: str) -> dict[str, object]:
    return dict(httpx.get(f"{base}/healthz", timeout=5).json()["worker"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def _wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _expire_one_hold(base: str, token: str, reference: str) -> None:
    """A 1 s hold whose units only the worker's sweep gives back: proof the worker (wherever it runs) works.

    (A read already shows a lapsed hold as expired; `reserved` returns to 0 only when the sweep has run.)"""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        held = client.post("/api/v1/reservations", json={"reference": reference, "ttl_seconds": 1,
                                                          "lines": [{"sku": "TEE-BLK-L", "quantity": 1}]})
        assert held.status_code == 201, held.text
        assert client.get("/api/v1/skus/TEE-BLK-L").json()["totals"]["reserved"] == 1
        _wait_for(lambda: client.get("/api/v1/skus/TEE-BLK-L").json()["totals"]["reserved"] == 0)


def test_sqlite_serve_runs_its_worker_embedded(tmp_path: Path, sqlite_template: Path):
    path = tmp_path / "stockpilot.db"
    path.write_bytes(sqlite_template.read_bytes())
    with serve_demo(_env(f"sqlite:///{path}"), tmp_path / "serve.log") as (base, token):
        assert _worker(base) == {"mode": "embedded"}
        _expire_one_hold(base, token, "embedded-1")


def test_sqlite_refuses_a_worker_process(tmp_path: Path):
    refused = subprocess.run([*CLI, "serve", "--worker-in", "process"], capture_output=True, text=True, timeout=120,
                             env=_env(f"sqlite:///{tmp_path / 'x.db'}"), check=False)
    assert refused.returncode == 2
    assert "needs PostgreSQL" in refused.stderr


def test_postgres_worker_child_is_restarted_after_a_kill_and_keeps_working(pg_url: str, tmp_path: Path):
    with serve_demo(_env(pg_url), tmp_path / "serve.log") as (base, token):
        first = _worker(base)
        assert first["mode"] == "process" and first["restarts"] == 0
        pid = int(str(first["pid"]))
        _expire_one_hold(base, token, "child-1")
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert "stockpilot_reservations_expired_total 1.0" in metrics  # the child's counter, in serve's scrape
        assert "stockpilot_outbox_depth" in metrics  # the queue gauges, read by serve itself
        families = [line.split()[2] for line in metrics.splitlines() if line.startswith("# TYPE ")]
        assert len(families) == len(set(families)), "a metric family exposed twice"

        os.kill(pid, signal.SIGKILL)
        _wait_for(lambda: _worker(base)["restarts"] == 1 and _worker(base)["pid"] not in (None, pid))
        assert not _alive(pid)
        _expire_one_hold(base, token, "child-2")  # the replacement sweeps too
        # ...and serve's scrape reads the replacement's counters (its own count: one hold expired since it began)
        assert "stockpilot_reservations_expired_total 1.0" in httpx.get(f"{base}/metrics", timeout=5).text
        assert "stockpilot_worker_restarts_total 1.0" in httpx.get(f"{base}/metrics", timeout=5).text


def test_postgres_worker_child_dies_with_a_killed_serve(pg_url: str, tmp_path: Path):
    with serve_demo(_env(pg_url), tmp_path / "serve.log") as (base, _token):
        pid = int(str(_worker(base)["pid"]))
        serve_pid = int(str(_serve_pid(pid)))
        os.kill(serve_pid, signal.SIGKILL)
        _wait_for(lambda: not _alive(pid))


def _serve_pid(child_pid: int) -> int:
    return int(Path(f"/proc/{child_pid}/stat").read_text().split(") ", 1)[1].split()[1])


