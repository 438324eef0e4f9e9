"""CLI for the automation runtime: `worker`, and the `outbox` and `timers` operator views."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection, select

from stockpilot.adapters.db.tables import timers as timers_table
from stockpilot.adapters.system_clock import SystemClock
from stockpilot.bootstrap import build
from stockpilot.runtime import outbox, timers


def utc_now() -> datetime:
    return SystemClock().now()


outbox_app = typer.Typer(help="The outbox: commands to the outside world and their delivery.", no_args_is_help=True)
timers_app = typer.Typer(help="Durable timers.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def worker(
    worker_id: Annotated[str | None, typer.Option("--id", help="Name in leases (default host:pid).")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on this port.")] = None,
    metrics_host: Annotated[str, typer.Option(help="Interface for the metrics port.")] = "0.0.0.0",
    queue_metrics: Annotated[bool, typer.Option(help="Include the outbox queue gauges (read from the database) in "
                                                     "the metrics.")] = True,
    exit_with_parent: Annotated[int | None, typer.Option(hidden=True, help="Die with this parent process "
                                                                           "(serve's child worker).")] = None,
    poll_seconds: Annotated[float, typer.Option(help="Polling fallback under wake-ups.")] = 1.0,
    lease_seconds: Annotated[float, typer.Option(help="How long a claim is ours; a dead worker's rows wait this "
                                                      "long before another worker takes them.")] = 60.0,
    batch: Annotated[int, typer.Option(help="Rows claimed per pass.")] = 100,
) -> None:
    """Run a worker: deliver the outbox, fire timers, sweep expired holds. Stops cleanly on SIGTERM."""
    import logging

    from prometheus_client import start_http_server

    from stockpilot.entrypoints.parent_death import die_with_parent
    from stockpilot.entrypoints.startup_tuning import freeze_startup_heap, hand_the_gil_back_sooner
    from stockpilot.runtime.handlers import automations
    from stockpilot.runtime.metrics import RuntimeMetrics
    from stockpilot.runtime.worker import Worker, WorkerSettings, default_worker_id

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if exit_with_parent is not None:
        die_with_parent(exit_with_parent)
    sp = build()
    settings = WorkerSettings(
        worker_id=worker_id or default_worker_id(), poll_seconds=poll_seconds, lease_seconds=lease_seconds,
        batch=batch, expiry_sweep_seconds=sp.ctx.settings.expiry_sweep_seconds,
    )
    metrics = RuntimeMetrics()
    if queue_metrics:
        metrics.watch_queue(sp.db, sp.ctx.clock)
    if metrics_port:
        start_http_server(metrics_port, addr=metrics_host, registry=metrics.registry)
    runner = Worker(sp, **automations(sp).worker_kwargs(), settings=settings, metrics=metrics)
    print(f"worker {settings.worker_id} on {sp.db.dialect}", flush=True)
    if sp.db.dialect != "sqlite":
        hand_the_gil_back_sooner()  # its delivery threads mostly wait on PostgreSQL
    freeze_startup_heap()  # a full collection must not pause a delivery (or hold SQLite's writer) for 200 ms
    runner.run_until_signalled()
    sp.close()


@outbox_app.command("list")
def outbox_list(
    status: Annotated[str, typer.Option(help="pending, delivered, dead or discarded.")] = "pending",
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Show outbox rows in one status, oldest first."""
    if status not in outbox.STATUSES:
        err.print(f"error: status must be one of {', '.join(outbox.STATUSES)}, got {status!r}")
        raise typer.Exit(2)
    sp = build()
    with sp.db.read() as conn:
        rows = outbox.list_by_status(conn, status, limit=limit)
        stats = outbox.stats(conn, sp.ctx.clock.now())
    sp.close()
    if as_json:
        for row in rows:
            print(json.dumps({"id": row.id, "topic": row.topic, "key": row.idempotency_key, "status": row.status,
                              "attempts": row.attempts, "available_at": row.available_at.isoformat(),
                              "last_error": row.last_error}))
        return
    table = Table(title=f"outbox: {status}  (pending {stats.depth}, due {stats.due}, dead {stats.counts['dead']})")
    for column in ("id", "topic", "idempotency key", "attempts", "next try", "last error"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row.id), row.topic, row.idempotency_key, f"{row.attempts}/{row.max_attempts}",
                      row.available_at.isoformat(timespec="seconds"), (row.last_error or "")[:80])
    console.print(table)


@outbox_app.command("retry")
def outbox_retry(outbox_id: int) -> None:
    """Send a dead row again (attempts reset)."""
    _act_on_dead("outbox row", outbox_id, lambda conn: outbox.retry(conn, outbox_id, utc_now()), "is pending again")


@outbox_app.command("discard")
def outbox_discard(outbox_id: int) -> None:
    """Give up on a dead row (kept as `discarded`, so its key cannot be sent again)."""
    _act_on_dead("outbox row", outbox_id, lambda conn: outbox.discard(conn, outbox_id), "discarded")


@timers_app.command("list")
def timers_list(
    status: Annotated[str, typer.Option(help="scheduled, fired, cancelled, dead or discarded.")] = "scheduled",
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
) -> None:
    """Show timers in one status, soonest first."""
    if status not in timers.STATUSES:
        err.print(f"error: status must be one of {', '.join(timers.STATUSES)}, got {status!r}")
        raise typer.Exit(2)
    sp = build()
    with sp.db.read() as conn:
        rows = conn.execute(
            select(timers_table).where(timers_table.c.status == status)
            .order_by(timers_table.c.fire_at, timers_table.c.id).limit(limit)
        ).mappings().all()
    sp.close()
    table = Table(title=f"timers: {status}")
    for column in ("id", "kind", "correlation key", "fire at", "leased by", "attempts", "last error"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["id"]), row["kind"], row["correlation_key"], row["fire_at"].isoformat(timespec="seconds"),
                      row["leased_by"] or "", str(row["attempts"]), (row["last_error"] or "")[:80])
    console.print(table)


@timers_app.command("cancel")
def timers_cancel(correlation_key: str) -> None:
    """Cancel the scheduled timers with this correlation key."""
    sp = build()
    count = sp.db.write(lambda conn: timers.cancel(conn, correlation_key, sp.ctx.clock.now()))
    sp.close()
    console.print(f"{count} timer(s) cancelled")


@timers_app.command("retry")
def timers_retry(timer_id: int) -> None:
    """Schedule a dead timer again, due now."""
    _act_on_dead("timer", timer_id, lambda conn: timers.retry(conn, timer_id, utc_now()), "is scheduled again")


@timers_app.command("discard")
def timers_discard(timer_id: int) -> None:
    """Give up on a dead timer."""
    _act_on_dead("timer", timer_id, lambda conn: timers.discard(conn, timer_id), "discarded")


def _act_on_dead(what: str, row_id: int, action: Callable[[Connection], bool], done: str) -> None:
    """Run an operator action that applies to dead rows only, and say plainly when it did not apply."""
    sp = build()
    applied = sp.db.write(action)
    sp.close()
    if not applied:
        err.print(f"error: {what} {row_id} is not dead (only dead ones can be retried or discarded)")
        raise typer.Exit(1)
    console.print(f"{what} {row_id} {done}")
