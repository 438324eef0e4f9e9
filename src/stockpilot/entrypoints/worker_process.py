"""`serve`'s runtime worker as a supervised child process (PostgreSQL), instead of threads beside the HTTP loop.

Why a process: in one interpreter the worker's threads and the event loop answering webhooks share one GIL, and
under a burst the worker's CPU shows up directly in the answer-time p99 (bench/webhooks.py measured the split
deployment at about twice the embedded one's throughput). PostgreSQL lets two processes write at once and carries
the intake's wake-up (pg_notify) across them, so nothing is lost by splitting. SQLite stays embedded: one writer
per file, and its wake-ups are in-process signals.

The child is `stockpilot worker` with the same environment. It dies with its parent (PR_SET_PDEATHSIG, asked for
by the child itself), is restarted with backoff if it exits on its own, and is stopped with SIGTERM (it finishes
the deliveries in hand) when `serve` stops. Its Prometheus counters are served on a loopback port and appended to
`serve`'s /metrics, so one scrape still sees the whole runtime.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger("stockpilot.serve")

STOP_GRACE_SECONDS = 30.0  # SIGTERM, then this long to finish the deliveries in hand, then SIGKILL
RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)  # after a healthy run's exit, then each consecutive early one
HEALTHY_AFTER_SECONDS = 60.0  # a child that ran this long resets the backoff
METRICS_TIMEOUT_SECONDS = 1.0


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WorkerProcess:
    """Starts, watches and stops one `stockpilot worker` child."""

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.metrics_port = 0  # chosen anew for each child: a port taken meanwhile must not fail every restart
        self.restarts = Counter("stockpilot_worker_restarts", "Times serve restarted its worker child process",
                                registry=registry)
        self.restart_count = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._supervisor: threading.Thread | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "stockpilot.entrypoints.cli.main", "worker",
            "--metrics-port", str(self.metrics_port), "--metrics-host", "127.0.0.1",
            "--no-queue-metrics",  # serve's own /metrics already reads the queue gauges from the database
            "--exit-with-parent", str(os.getpid()),
        ]

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> None:
        self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("worker child %s did not stop within %.0f s; killing it", proc.pid, STOP_GRACE_SECONDS)
                proc.kill()
                proc.wait(timeout=5)
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)

    def describe(self) -> dict[str, Any]:
        return {"mode": "process", "pid": self.pid, "restarts": self.restart_count}

    def metrics_text(self) -> str:
        """The child's Prometheus exposition, or nothing while it is (re)starting."""
        try:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=METRICS_TIMEOUT_SECONDS) as answer:
                return str(answer.read().decode())
        except OSError:
            return ""

    # ---- internals ----------------------------------------------------------------------------------------
    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():  # stop() came between the backoff and here: start nothing it cannot see
                return
            self.metrics_port = _free_loopback_port()
            # Its own process group: a terminal's Ctrl-C reaches serve, which then stops the child in order.
            self._proc = subprocess.Popen(self.command(), process_group=0)
        log.info("worker child process %s started", self._proc.pid)

    def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            proc = self._proc
            assert proc is not None
            started = time.monotonic()
            code = proc.wait()
            if self._stopping.is_set():
                return
            failures = 0 if time.monotonic() - started >= HEALTHY_AFTER_SECONDS else failures + 1
            delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
            log.error("worker child process %s exited with %s; restarting in %.0f s", proc.pid, code, delay)
            if self._stopping.wait(delay):
                return
            self.restarts.inc()
            self.restart_count += 1
            self._spawn()
