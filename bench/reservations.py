"""Flash-sale benchmark: one SKU, `units` units, `workers` concurrent buyers, `attempts` one-unit reservations.

Measured in one run, per backend (SQLite, PostgreSQL):
  (a) service   Stockpilot's service layer: sp.reservations.reserve, built by stockpilot.bootstrap.build.
  (b) raw-sql   the same statements straight through the driver (sqlite3 / psycopg), same transactions.
  (c) versioned the common "version check with 3 retries" recipe with the same inserts.
  HTTP          `stockpilot serve` as a real process, loaded over keep-alive HTTP/1.1 by two asyncio clients.

Every figure comes from measurement; the definitions are in flash_core's docstring and in the JSON output.
The last line printed is one JSON object holding every figure, ratio and goal verdict.

    python bench/reservations.py                      # full run, both backends, with HTTP
    python bench/reservations.py --quick              # smoke run (< 60 s)
    python bench/reservations.py --backend sqlite --no-http --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import event, func, select

from flash_breakdown import breakdown, render_breakdown
from flash_core import (
    FALSE_REFUSAL_DEFINITION,
    LOCATION,
    PG_DATABASE,
    SKU,
    Attempt,
    Trial,
    run_threads,
    summarize,
)
from flash_http import run_http, setup_catalog, sku_totals, start_server
from flash_sql import (
    ADD_VERSION_COLUMN,
    MAX_VERSION_RETRIES,
    SHAPES,
    GuardedSql,
    Shape,
    VersionedSql,
    statement_signature,
)
from stockpilot.adapters.db.tables import movements, reservation_lines, reservations, skus, stock_levels
from stockpilot.bootstrap import Stockpilot, build
from stockpilot.config import Settings
from stockpilot.domain.errors import InsufficientStock
from stockpilot.domain.reservations import RequestedLine

DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DB = PG_DATABASE
POOL_SIZE = 40
GOAL_SERVICE_VS_RAW = 0.6
GOAL_HTTP_PER_S = 1000.0


# ---- databases ---------------------------------------------------------------------------------------------
@dataclass
class Backend:
    name: str  # "sqlite" | "postgresql"
    workdir: Path
    pg_admin: str = DEFAULT_PG_ADMIN
    _serial: int = 0

    def fresh(self) -> str:
        """A new, empty database for one run (SQLite: a new file; PostgreSQL: stockpilot_bench re-created)."""
        self._serial += 1
        if self.name == "sqlite":
            return f"sqlite:///{self.workdir / f'bench-{self._serial}.db'}"
        with psycopg.connect(self.pg_admin, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
        return self.pg_admin.rsplit("/", 1)[0] + f"/{BENCH_DB}"

    def drop(self) -> None:
        if self.name == "postgresql":
            with psycopg.connect(self.pg_admin, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def postgres_problem(admin_url: str) -> str | None:
    try:
        with psycopg.connect(admin_url, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def open_service(url: str) -> Stockpilot:
    return build(Settings(database_url=url, db_pool_size=POOL_SIZE))


def seed(url: str, units: int) -> Stockpilot:
    """Schema (migrations), one location, one SKU with `units` on hand: through the service, for every variant."""
    sp = open_service(url)
    sp.catalog.create_location(LOCATION, "Main warehouse", "warehouse", 1)
    sp.catalog.upsert_sku(SKU, {"title": "Flash sale item"})
    sp.stock.adjust(sku=SKU, location=LOCATION, idempotency_key="bench-seed", on_hand=units)
    return sp


def verify(sp: Stockpilot, sku: str, units: int, sold: int) -> dict[str, Any]:
    """sold == units, stock_levels.reserved == sold, one active reservation and one movement per sale, check ok."""
    report = sp.checker.run()
    with sp.db.read() as conn:
        level = conn.execute(
            select(stock_levels.c.on_hand, stock_levels.c.reserved)
            .join(skus, skus.c.id == stock_levels.c.sku_id).where(skus.c.sku == sku)
        ).one()
        held = conn.execute(
            select(func.count()).select_from(reservation_lines.join(reservations))
            .join(skus, skus.c.id == reservation_lines.c.sku_id)
            .where(skus.c.sku == sku, reservations.c.status == "active")
        ).scalar_one()
        moved = conn.execute(
            select(func.count()).select_from(movements.join(skus, skus.c.id == movements.c.sku_id))
            .where(skus.c.sku == sku, movements.c.kind == "reserve")
        ).scalar_one()
    checks = {
        "sold_eq_units": sold == units,
        "reserved_eq_sold": level.reserved == sold,
        "reservations_eq_sold": held == sold,
        "movements_eq_sold": moved == sold,
        "db_oversold": max(0, level.reserved - level.on_hand),
        "checker_ok": report.ok,
    }
    if not report.ok:
        checks["checker_problems"] = report.problems[:3]
    return checks


# ---- the three in-process variants --------------------------------------------------------------------------
class ServiceAttempt:
    """(a): sp.reservations.reserve, exactly as the HTTP route calls it."""

    def __init__(self, sp: Stockpilot, profiles: list[cProfile.Profile] | None = None) -> None:
        self.reserve = sp.reservations.reserve
        self.lines = [RequestedLine(SKU, 1)]
        self.profile = cProfile.Profile() if profiles is not None else None
        if self.profile is not None and profiles is not None:
            profiles.append(self.profile)
            self.profile.enable()  # built in the worker thread: profiles that thread

    def __call__(self, reference: str) -> bool:
        try:
            _, created = self.reserve(reference, self.lines)
        except InsufficientStock:
            return False
        if not created:
            raise RuntimeError(f"{reference}: replayed instead of created")
        return True

    def close(self) -> None:
        if self.profile is not None:
            self.profile.disable()


def run_variant(variant: str, backend: Backend, args: argparse.Namespace,
                profiles: list[cProfile.Profile] | None = None, shape: Shape | None = None) -> dict[str, Any]:
    url = backend.fresh()
    sp = seed(url, args.units)
    trial: Trial
    extra: dict[str, Any] = {}
    attempts: list[Attempt] = []
    lock = threading.Lock() if backend.name == "sqlite" else None
    raw_url = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        make: Callable[[], Attempt]
        if variant == "service":
            def make() -> Attempt:
                return ServiceAttempt(sp, profiles)
        elif variant == "raw-sql":
            def make() -> Attempt:
                return GuardedSql(raw_url, SKU, lock, shape)
        else:
            with sp.db.engine.begin() as conn:
                conn.exec_driver_sql(ADD_VERSION_COLUMN)

            def make() -> Attempt:
                attempt = VersionedSql(raw_url, SKU, lock)
                attempts.append(attempt)
                return attempt
        trial = run_threads(make, workers=args.workers, attempts=args.attempts, prefix=f"{variant}")
        if variant == "versioned":
            extra = {"version_conflicts": sum(a.conflicts for a in attempts if isinstance(a, VersionedSql)),
                     "gave_up_after_retries": sum(a.gave_up for a in attempts if isinstance(a, VersionedSql))}
        stats = summarize(trial.samples, args.units)
        checks = verify(sp, SKU, args.units, stats["sold"])
    finally:
        sp.close()
    return {"backend": backend.name, "run": variant, **stats, "cpu_s": trial.cpu, "checks": checks,
            "error_samples": trial.errors, **extra}


def replica_check(backend: Backend) -> dict[str, Any]:
    """Which statement shape of (b) issues what the service issues now? One sale and one refusal through the
    service and through each candidate shape, compared by signature (verb, table, ON CONFLICT / RETURNING /
    FOR UPDATE). The service is captured with SQLAlchemy's before_cursor_execute event, the replica with a
    recording cursor. Returns the first matching shape, or none (then (b) measures different work: flagged)."""
    url = backend.fresh()
    raw_url = url.replace("postgresql+psycopg://", "postgresql://")
    # Every sale compared leaves stock behind (one event each); one more unit is sold before the refusals.
    sp = seed(url, 2 + len(SHAPES))
    service_log: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if (signature := statement_signature(statement)) is not None:
            service_log.append(signature)

    def once(attempt: Attempt, log: list[str], reference: str, expect: bool) -> list[str]:
        log.clear()
        if attempt(reference) is not expect:
            raise RuntimeError(f"replica check: {reference} should have {'sold' if expect else 'been refused'}")
        return list(log)

    event.listen(sp.db.engine, "before_cursor_execute", capture)
    lock = threading.Lock() if backend.name == "sqlite" else None
    candidates: list[tuple[GuardedSql, list[str]]] = []
    try:
        service = ServiceAttempt(sp)
        for shape in SHAPES:
            raw = GuardedSql(raw_url, SKU, lock, shape)
            log: list[str] = []
            raw.record(log)
            candidates.append((raw, log))
        sold_service = once(service, service_log, "rc-s1", True)
        sold_raw = [once(raw, log, f"rc-r{n}", True) for n, (raw, log) in enumerate(candidates)]
        once(service, service_log, "rc-s2", True)
        refused_service = once(service, service_log, "rc-s3", False)
        refused_raw = [once(raw, log, f"rc-x{n}", False) for n, (raw, log) in enumerate(candidates)]
    finally:
        event.remove(sp.db.engine, "before_cursor_execute", capture)
        for raw, _ in candidates:
            raw.close()
        sp.close()
    matching = [n for n in range(len(SHAPES)) if sold_raw[n] == sold_service and refused_raw[n] == refused_service]
    chosen = matching[0] if matching else 0
    return {"match": bool(matching), "shape": str(SHAPES[chosen]), "shape_index": chosen,
            "sold": {"service": sold_service, "raw": sold_raw[chosen]},
            "refused": {"service": refused_service, "raw": refused_raw[chosen]}}


def src_revision() -> dict[str, Any]:
    """The commit measured, and whether src/ had uncommitted changes (the service is an editable install)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True,
                               text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "src_dirty": None}
    return {"commit": head, "src_dirty": bool(dirty)}


# ---- HTTP ---------------------------------------------------------------------------------------------------
def run_http_config(backend: Backend, args: argparse.Namespace, server_workers: int,
                    console: Console) -> list[dict[str, Any]]:
    url = backend.fresh()
    clients = ["raw", "httpx"] if args.http_client == "both" else [args.http_client]
    skus_for = {client: f"FLASH-{client.upper()}" for client in clients}
    warm_units = max(10, args.units // 10)
    server = start_server(url, backend.workdir, workers=server_workers, pool_size=POOL_SIZE)
    rows: list[dict[str, Any]] = []
    try:
        setup_catalog(server, LOCATION, {"WARM-UP": warm_units, **{s: args.units for s in skus_for.values()}})
        # Not measured: opens the server's pool connections and warms its code paths.
        run_http(server, clients[0], "WARM-UP", f"warm-w{server_workers}", workers=args.workers,
                 attempts=min(args.attempts, warm_units * 3))
        for client in clients:
            sku = skus_for[client]
            trial = run_http(server, client, sku, f"http-{client}-w{server_workers}", workers=args.workers,
                             attempts=args.attempts)
            stats = summarize(trial.samples, args.units)
            totals = sku_totals(server, sku)
            rows.append({"backend": backend.name, "run": f"http/{client}/w{server_workers}", "client": client,
                         "server_workers": server_workers, **stats, "cpu_s": trial.cpu,
                         "bench_cpu_us_per_attempt": round(trial.cpu["bench"] / max(1, stats["attempts"]) * 1e6),
                         "api_reserved": totals["reserved"], "error_samples": trial.errors})
    finally:
        server.stop()
    sp = build(Settings(database_url=url, db_pool_size=5), migrate=False)
    try:
        for row in rows:
            row["checks"] = verify(sp, skus_for[row["client"]], args.units, row["sold"])
            row["checks"]["api_reserved_eq_sold"] = row.pop("api_reserved") == row["sold"]
    finally:
        sp.close()
    console.log(f"{backend.name}: HTTP with {server_workers} server worker(s) done")
    return rows


# ---- profiling ----------------------------------------------------------------------------------------------
def profile_service(backend: Backend, args: argparse.Namespace, console: Console, shape: Shape) -> dict[str, Any]:
    """cProfile of a concurrent service run, then a low-overhead step-by-step timing against raw SQL."""
    profiles: list[cProfile.Profile] = []
    run_variant("service", backend, args, profiles)
    stats: pstats.Stats | None = None
    for prof in profiles:
        stats = pstats.Stats(prof) if stats is None else stats.add(prof)
    assert stats is not None
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    text = out.getvalue()
    console.rule(f"cProfile of the service path on {backend.name} (all worker threads merged)")
    console.print(text, markup=False, highlight=False)
    units = min(args.units, 1000)
    url = backend.fresh()
    sp = seed(url, 2 * units)
    try:
        result = breakdown(sp, url.replace("postgresql+psycopg://", "postgresql://"), units, shape)
    finally:
        sp.close()
    console.rule(f"Service path step by step on {backend.name} (one thread, {units} sales then {units} refusals)")
    console.print(render_breakdown(result), markup=False, highlight=False)
    return result


# ---- output -------------------------------------------------------------------------------------------------
def _ratio(num: float | None, den: float | None) -> float | None:
    if not num or not den:
        return None
    return round(num / den, 3)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 100 else f"{value:.3g}"
    return str(value)


def _checks_text(checks: dict[str, Any]) -> str:
    failed = [k for k, v in checks.items() if k != "checker_problems" and (v is False or (k == "db_oversold" and v))]
    return "ok" if not failed else "FAIL: " + ", ".join(failed)


def render(console: Console, runs: list[dict[str, Any]], ratios: dict[str, Any], goals: dict[str, Any]) -> None:
    table = Table(title="Flash sale: one SKU, one-unit reservations", show_lines=False)
    for column in ("backend", "run", "sold", "oversold", "unsold", "refused", "false ref.", "errors", "attempts/s",
                   "sold/s", "p50 ms", "p99 ms", "CPU s bench/server/pg", "checks"):
        table.add_column(column, justify="left" if column in ("backend", "run", "checks") else "right")
    for r in runs:
        cpu = r["cpu_s"]
        cpu_text = "/".join(_fmt(cpu.get(k)) for k in ("bench", "server", "postgres"))
        table.add_row(r["backend"], r["run"], *(_fmt(r[k]) for k in (
            "sold", "oversold", "unsold", "refused", "false_refusals", "errors", "attempts_per_s", "sold_per_s",
            "p50_ms", "p99_ms")), cpu_text, _checks_text(r["checks"]))
    console.print(table)
    summary = Table(title="Ratios (attempts/s) and goals")
    summary.add_column("backend")
    summary.add_column("a/b service / raw SQL", justify="right")
    summary.add_column("a/c service / versioned", justify="right")
    summary.add_column("best HTTP attempts/s", justify="right")
    summary.add_column("HTTP client CPU µs/attempt (raw, httpx)", justify="right")
    summary.add_column("goals")
    for backend, ratio in ratios.items():
        verdicts = goals["per_backend"].get(backend, {})
        text = ", ".join(f"{name} {'PASS' if ok else 'MISS'}" for name, ok in verdicts.items() if ok is not None)
        client_cpu = ratio.get("http_client_cpu_us_per_attempt") or {}
        summary.add_row(backend, _fmt(ratio.get("a_over_b")), _fmt(ratio.get("a_over_c")),
                        _fmt(ratio.get("best_http_attempts_per_s")),
                        ", ".join(f"{k} {v}" for k, v in client_cpu.items()) or "-", text or "-")
    console.print(summary)
    console.print(f"false refusal = {FALSE_REFUSAL_DEFINITION}.", highlight=False)
    console.print("attempts/s = attempts answered / (last answer - first start); sold/s = sold / time to the "
                  "last sale; latency per attempt, all outcomes; CPU = seconds used during the run by this "
                  "process (bench: load generator, and the service itself for in-process runs), the server "
                  "process tree and the PostgreSQL backends of the bench database; versioned = read + UPDATE .. "
                  f"WHERE version, {MAX_VERSION_RETRIES} retries, then refuse.", highlight=False)


def summarise(runs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    ratios: dict[str, Any] = {}
    goals: dict[str, Any] = {"per_backend": {}, "targets": {
        "oversold": 0, "false_refusals": 0, "service_over_raw_min": GOAL_SERVICE_VS_RAW,
        "http_attempts_per_s_min": GOAL_HTTP_PER_S}}
    for backend in dict.fromkeys(r["backend"] for r in runs):
        mine = {r["run"]: r for r in runs if r["backend"] == backend}
        a, b, c = mine.get("service"), mine.get("raw-sql"), mine.get("versioned")
        http = [r for r in runs if r["backend"] == backend and r["run"].startswith("http/")]
        best_http = max(http, key=lambda r: r["attempts_per_s"]) if http else None
        client_cpu: dict[str, Any] = {}
        for r in http:
            client_cpu.setdefault(r["client"], []).append(r["bench_cpu_us_per_attempt"])
        ratios[backend] = {
            "a_over_b": _ratio(a and a["attempts_per_s"], b and b["attempts_per_s"]),
            "a_over_c": _ratio(a and a["attempts_per_s"], c and c["attempts_per_s"]),
            "a_over_b_sold_per_s": _ratio(a and a["sold_per_s"], b and b["sold_per_s"]),
            "a_over_c_sold_per_s": _ratio(a and a["sold_per_s"], c and c["sold_per_s"]),
            "best_http_attempts_per_s": best_http["attempts_per_s"] if best_http else None,
            "best_http_run": best_http["run"] if best_http else None,
            "http_over_a": _ratio(best_http and best_http["attempts_per_s"], a and a["attempts_per_s"]),
            "http_client_cpu_us_per_attempt": {k: min(v) for k, v in client_cpu.items()},
        }
        stockpilot_runs = [r for r in [a, *http] if r is not None]
        exact = all(r["oversold"] == 0 and r["false_refusals"] == 0 and r["unsold"] == 0 and r["errors"] == 0
                    and _checks_text(r["checks"]) == "ok" for r in stockpilot_runs) if stockpilot_runs else None
        a_over_b = ratios[backend]["a_over_b"]
        goals["per_backend"][backend] = {
            "zero_oversold_and_false_refusals": exact,
            "service_ge_60pct_of_raw": None if a_over_b is None else a_over_b >= GOAL_SERVICE_VS_RAW,
            "http_ge_1000_per_s": None if best_http is None else best_http["attempts_per_s"] >= GOAL_HTTP_PER_S,
        }
    return ratios, goals


# ---- main ---------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--units", type=int, default=None, help="units on hand (default 1000; quick 100)")
    parser.add_argument("--workers", type=int, default=None, help="concurrent buyers (default 32; quick 8)")
    parser.add_argument("--attempts", type=int, default=None, help="reservation attempts (default 5000; quick 500)")
    parser.add_argument("--http", action=argparse.BooleanOptionalAction, default=True,
                        help="also run end to end through `stockpilot serve` (default: on)")
    parser.add_argument("--http-client", choices=["raw", "httpx", "both"], default="both",
                        help="HTTP load generator(s) to run and compare (default: both)")
    parser.add_argument("--http-workers", default=None,
                        help="comma-separated server worker counts for PostgreSQL (default 1,2; quick 2); "
                             "SQLite always runs one worker: its writer mutex is per process")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--profile", action="store_true",
                        help="also run the service path once under cProfile and print where the time goes")
    parser.add_argument("--pg-url", default=os.environ.get("STOCKPILOT_BENCH_POSTGRES_URL", DEFAULT_PG_ADMIN),
                        help="an existing PostgreSQL database to connect to for creating the scratch database "
                             f"{BENCH_DB!r} (env STOCKPILOT_BENCH_POSTGRES_URL)")
    args = parser.parse_args(argv)
    args.units = args.units or (100 if args.quick else 1000)
    args.workers = args.workers or (8 if args.quick else 32)
    args.attempts = args.attempts or (500 if args.quick else 5000)
    args.http_workers = [int(w) for w in (args.http_workers or ("2" if args.quick else "1,2")).split(",")]
    args.pg_url = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
    if args.units <= 0 or args.workers <= 0 or args.attempts <= 0:
        parser.error("--units, --workers and --attempts must be positive")
    return args


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="stockpilot-bench-") as tmp:
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 200, log_path=False)
    names = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    runs: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    breakdowns: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    console.log(f"flash sale: {args.units} units, {args.workers} workers, {args.attempts} attempts; "
                f"backends {', '.join(names)}; HTTP {'on' if args.http else 'off'}")
    with _workdir() as workdir:
        for name in names:
            if name == "postgresql" and (problem := postgres_problem(args.pg_url)):
                skipped[name] = f"PostgreSQL unreachable at {args.pg_url}: {problem}"
                console.print(f"[yellow]skipping postgresql: {skipped[name]}[/yellow]")
                continue
            backend = Backend(name, workdir, args.pg_url)
            try:
                checks[name] = replica_check(backend)
                if checks[name]["match"]:
                    console.log(f"{name}: raw SQL replica issues the service's statements "
                                f"({len(checks[name]['sold']['service'])} for a sale, "
                                f"{len(checks[name]['refused']['service'])} for a refusal; {checks[name]['shape']})")
                else:
                    console.print(f"[red]{name}: the raw SQL replica has drifted from the service's statements; "
                                  f"(b) no longer measures the same work:[/red]\n"
                                  f"{json.dumps({k: checks[name][k] for k in ('sold', 'refused')}, indent=1)}",
                                  highlight=False)
                shape = SHAPES[checks[name]["shape_index"]]
                for variant in ("raw-sql", "service", "versioned"):
                    runs.append(run_variant(variant, backend, args, shape=shape))
                    console.log(f"{name}: {variant} done ({runs[-1]['attempts_per_s']:,.0f} attempts/s)")
                if args.http:
                    for server_workers in ([1] if name == "sqlite" else args.http_workers):
                        runs.extend(run_http_config(backend, args, server_workers, console))
                if args.profile:
                    breakdowns[name] = profile_service(backend, args, console, shape)
            finally:
                backend.drop()
    ratios, goals = summarise(runs)
    if runs:
        render(console, runs, ratios, goals)
    else:
        console.print("[yellow]nothing was measured[/yellow]")
    for run in runs:
        for error in run.get("error_samples") or []:
            console.print(f"[red]{run['backend']} {run['run']}: {error}[/red]", highlight=False)
    result = {
        "benchmark": "stockpilot flash-sale reservations",
        "config": {"units": args.units, "workers": args.workers, "attempts": args.attempts, "quick": args.quick,
                   "backends": names, "http": args.http, "http_client": args.http_client,
                   "postgres_http_workers": args.http_workers, "db_pool_size": POOL_SIZE, "cpus": os.cpu_count(),
                   "src": src_revision()},
        "definitions": {
            "false_refusal": FALSE_REFUSAL_DEFINITION,
            "attempts_per_s": "attempts answered / (last answer - first start)",
            "sold_per_s": "sold / (last sale answered - first start)",
            "ratios": "a = service, b = raw-sql, c = versioned; on attempts/s unless suffixed",
        },
        "replica_check": checks,
        "runs": runs,
        "ratios": ratios,
        "goals": goals,
        "skipped": skipped,
    }
    if breakdowns:
        result["service_breakdown"] = breakdowns
    sys.stdout.flush()
    sys.stdout.write(json.dumps(result, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()
    correctness = [
        r for r in runs if r["run"] != "versioned"
        and (r["oversold"] or r["checks"].get("db_oversold") or not r["checks"].get("checker_ok"))
    ]
    return 1 if correctness else 0


if __name__ == "__main__":
    sys.exit(main())
