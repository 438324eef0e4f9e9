"""End to end: `stockpilot serve` as a real process, loaded over keep-alive HTTP/1.1 from asyncio.

Two load generators, so their own cost can be measured rather than assumed:
* "raw":   one asyncio stream per worker, requests pre-encoded, responses parsed by Content-Length.
* "httpx": httpx.AsyncClient with a pool of `workers` keep-alive connections.
Both send the same bytes; the bench reports each one's CPU per request.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from flash_core import ERROR, REFUSED, SOLD, Sample, Trial, measure_cpu

RESERVE_PATH = "/api/v1/reservations"


def _cli() -> list[str]:
    found = shutil.which("stockpilot", path=str(Path(sys.executable).parent)) or shutil.which("stockpilot")
    return [found] if found else [sys.executable, "-m", "stockpilot.entrypoints.cli.main"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    token: str
    log: Path
    workers: int

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session: the server and its workers
                self.proc.wait(timeout=5)


def start_server(database_url: str, workdir: Path, *, workers: int, pool_size: int,
                 serve_args: Sequence[str] = ()) -> Server:
    """Create a token with the CLI, then start `stockpilot serve` and wait until /healthz answers."""
    env = {**os.environ, "STOCKPILOT_DATABASE_URL": database_url, "STOCKPILOT_DB_POOL_SIZE": str(pool_size),
           "PYTHONUNBUFFERED": "1"}
    created = subprocess.run([*_cli(), "token", "create", "--name", "bench"], env=env, capture_output=True,
                             text=True, timeout=120, check=False)
    if created.returncode != 0:
        raise RuntimeError(f"`stockpilot token create` failed: {created.stderr.strip()[-2000:]}")
    token = [line for line in created.stdout.splitlines() if line.strip()][-1].strip()
    port = _free_port()
    log = workdir / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*_cli(), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
             "--workers", str(workers), *serve_args],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    server = Server(proc, "127.0.0.1", port, token, log, workers)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"`stockpilot serve` exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"`stockpilot serve` did not become healthy:\n{server.log_tail()}")
        time.sleep(0.1)


def setup_catalog(server: Server, location: str, stock: dict[str, int]) -> None:
    """The location, the SKUs and their on-hand counts, all through the API."""
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
        resp = client.post("/api/v1/locations", json={"code": location, "name": "Main warehouse",
                                                      "kind": "warehouse", "priority": 1})
        _expect(resp, 201)
        for sku, units in stock.items():
            _expect(client.put(f"/api/v1/skus/{sku}", json={"title": f"Flash sale {sku}"}), 201)
            _expect(client.post("/api/v1/inventory/adjustments", json={
                "sku": sku, "location": location, "on_hand": units, "idempotency_key": f"bench-seed-{sku}",
            }), 201)
            got = client.get(f"/api/v1/skus/{sku}").json()["totals"]["available"]
            if got != units:
                raise RuntimeError(f"{sku}: expected {units} available after seeding, API says {got}")


def sku_totals(server: Server, sku: str) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {server.token}"}
    resp = httpx.get(f"{server.base}/api/v1/skus/{sku}", headers=headers, timeout=30)
    _expect(resp, 200)
    return dict(resp.json()["totals"])


def _expect(resp: httpx.Response, status: int) -> None:
    if resp.status_code != status:
        raise RuntimeError(f"{resp.request.method} {resp.request.url}: expected {status}, got "
                           f"{resp.status_code} {resp.text[:300]}")


def _body(reference: str, sku: str) -> bytes:
    return b'{"reference":"%s","lines":[{"sku":"%s","quantity":1}]}' % (reference.encode(), sku.encode())


def _classify(status: int, body: bytes) -> int:
    if status == 201:
        return SOLD
    if status == 409 and b'"insufficient_stock"' in body:
        return REFUSED
    return ERROR


class _Feed:
    """Hands out attempt numbers; single event loop, so no lock."""

    def __init__(self, attempts: int) -> None:
        self.next, self.attempts = 0, attempts

    def take(self) -> int | None:
        if self.next >= self.attempts:
            return None
        self.next += 1
        return self.next - 1


async def _raw_worker(server: Server, sku: str, prefix: str, feed: _Feed, out: list[Sample],
                      errors: list[str]) -> None:
    head = (
        f"POST {RESERVE_PATH} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        f"Authorization: Bearer {server.token}\r\nContent-Type: application/json\r\nContent-Length: "
    ).encode()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    clock = time.perf_counter
    try:
        while (i := feed.take()) is not None:
            body = _body(f"{prefix}-{i}", sku)
            start = clock()
            writer.write(b"%s%d\r\n\r\n%s" % (head, len(body), body))
            head_raw = await reader.readuntil(b"\r\n\r\n")
            status = int(head_raw[9:12])
            length, close = 0, False
            for line in head_raw.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            payload = await reader.readexactly(length) if length else b""
            outcome = _classify(status, payload)
            out.append(Sample(start, clock(), outcome))
            if outcome == ERROR and len(errors) < 5:
                errors.append(f"HTTP {status}: {payload[:300]!r}")
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(server.host, server.port)
    finally:
        writer.close()


async def _httpx_worker(client: httpx.AsyncClient, sku: str, prefix: str, feed: _Feed, out: list[Sample],
                        errors: list[str]) -> None:
    clock = time.perf_counter
    headers = {"Content-Type": "application/json"}
    while (i := feed.take()) is not None:
        body = _body(f"{prefix}-{i}", sku)
        start = clock()
        resp = await client.post(RESERVE_PATH, content=body, headers=headers)
        outcome = _classify(resp.status_code, resp.content)
        out.append(Sample(start, clock(), outcome))
        if outcome == ERROR and len(errors) < 5:
            errors.append(f"HTTP {resp.status_code}: {resp.text[:300]}")


async def _load(server: Server, client_kind: str, sku: str, prefix: str, workers: int,
                attempts: int) -> tuple[list[Sample], list[str]]:
    feed = _Feed(attempts)
    out: list[Sample] = []
    err: list[str] = []

    async def guarded(job: Awaitable[None]) -> None:
        try:
            await job
        except Exception as exc:  # a broken connection: record it, do not hang the run
            if len(err) < 5:
                err.append(f"{type(exc).__name__}: {exc}")

    if client_kind == "raw":
        await asyncio.gather(*(guarded(_raw_worker(server, sku, prefix, feed, out, err)) for _ in range(workers)))
    else:
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        async with httpx.AsyncClient(base_url=server.base, limits=limits, timeout=120,
                                     headers={"Authorization": f"Bearer {server.token}"}) as client:
            await asyncio.gather(*(guarded(_httpx_worker(client, sku, prefix, feed, out, err))
                                   for _ in range(workers)))
    return out, err


def run_http(server: Server, client_kind: str, sku: str, prefix: str, *, workers: int, attempts: int) -> Trial:
    """One flash sale over HTTP; CPU of this process (the load generator), the server and PostgreSQL."""
    cpu: dict[str, float] = {}
    with measure_cpu(cpu, server_pid=server.proc.pid):
        samples, errors = asyncio.run(_load(server, client_kind, sku, prefix, workers, attempts))
    return Trial(samples, errors, cpu)

