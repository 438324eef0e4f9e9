"""The `stockpilot` command line."""

from __future__ import annotations

import enum
import json
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockpilot.bootstrap import build
from stockpilot.config import ConfigError, Settings
from stockpilot.domain.errors import StockpilotError
from stockpilot.entrypoints.cli import (
    channel_commands,
    outbound_commands,
    purchasing_commands,
    runtime_commands,
    subscription_commands,
)
from stockpilot.entrypoints.cli.ads_commands import ads_app
from stockpilot.entrypoints.cli.import_command import import_command
from stockpilot.entrypoints.cli.simulate_command import simulate_command
from stockpilot.entrypoints.cli.user_commands import user_app

app = typer.Typer(help="Stockpilot: one real-time truth of sellable stock.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
console = Console()
err = Console(stderr=True)


@app.command()
def init() -> None:
    """Create or upgrade the database schema."""
    sp = build()
    console.print(f"database ready: {sp.db.dialect} ({Settings.from_env().database_url})")
    sp.close()


class WorkerPlacement(enum.StrEnum):
    auto = "auto"
    process = "process"
    threads = "threads"

    def resolve(self, dialect: str) -> WorkerPlacement:
        if self is WorkerPlacement.auto:
            return WorkerPlacement.threads if dialect == "sqlite" else WorkerPlacement.process
        return self


def serve_multiprocess(host: str, port: int, workers: int, access_log: bool, *, worker: bool,
                       in_process: bool) -> None:
    """Several HTTP processes (uvicorn's supervisor); the runtime worker is one child of this process, or threads
    in each HTTP process (SQLite, or --worker-in threads)."""
    import uvicorn

    from stockpilot.entrypoints.worker_process import WorkerProcess

    os.environ["STOCKPILOT_SERVE_WORKER"] = "process" if in_process else "embedded" if worker else "none"
    child = WorkerProcess() if in_process else None
    if child:
        child.start()
    try:
        uvicorn.run("stockpilot.entrypoints.api.factory:create_from_env", factory=True, host=host, port=port,
                    workers=workers, access_log=access_log, log_level="warning")
    finally:
        if child:
            child.stop()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Seed a sample catalog and print an API token.")] = False,
    workers: Annotated[int, typer.Option(help="HTTP worker processes (PostgreSQL scale-out).")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
    worker: Annotated[bool, typer.Option(help="Also run the runtime worker (outbox, timers, sweeps).")] = True,
    worker_in: Annotated[WorkerPlacement, typer.Option(
        help="Where that worker runs: auto (a child process on PostgreSQL, threads here on SQLite), "
             "process, or threads.")] = WorkerPlacement.auto,
) -> None:
    """Run the HTTP API and a runtime worker (use --no-worker beside separate `stockpilot worker` processes)."""
    import uvicorn

    from stockpilot.entrypoints.api.app import create_app
    from stockpilot.entrypoints.startup_tuning import freeze_startup_heap, hand_the_gil_back_sooner

    sp = build()
    in_process = worker and worker_in.resolve(sp.db.dialect) == WorkerPlacement.process
    if in_process and sp.db.dialect == "sqlite":
        err.print("error: --worker-in process needs PostgreSQL (SQLite has one writer; its worker runs embedded)")
        raise typer.Exit(2)
    if demo:
        from stockpilot.services.demo import seed_demo

        seed_demo(sp)
        token = sp.tokens.create("demo")
        print(f"demo catalog loaded; try:\n  curl -H 'Authorization: Bearer {token}' "
              f"http://{host}:{port}/api/v1/skus/TEE-BLK-M")
        print(f"API token: {token}", flush=True)
    console.print(f"Stockpilot on http://{host}:{port}  (API docs: /docs, database: {sp.db.dialect})")
    if workers > 1:
        sp.close()
        serve_multiprocess(host, port, workers, access_log, worker=worker, in_process=in_process)
        return
    app = create_app(sp, run_worker=worker, worker_process=in_process)
    if sp.db.dialect != "sqlite" and (in_process or not worker):  # no worker threads here: only I/O threads
        hand_the_gil_back_sooner()
    freeze_startup_heap()  # no 200 ms collector pause over the start-up heap in the middle of a burst
    uvicorn.run(app, host=host, port=port, access_log=access_log, log_level="info")


@token_app.command("create")
def token_create(name: Annotated[str, typer.Option(help="A label for the token.")] = "default") -> None:
    """Create an API token; it is printed once, alone on the last line."""
    sp = build()
    token = sp.tokens.create(name)
    sp.close()
    err.print(f"token {name!r} created; store it now, it cannot be shown again")
    print(token)


@app.command()
def stock(sku: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show a SKU's levels per location and in total."""
    sp = build()
    try:
        described = sp.catalog.get_sku(sku)
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        sp.close()
    if as_json:
        print(json.dumps(described, indent=2))
        return
    table = Table(title=f"{described['sku']}  {described['title']}  (backorders: {described['backorder_policy']})")
    for column in ("location", "on_hand", "committed", "reserved", "available", "incoming"):
        table.add_column(column, justify="left" if column == "location" else "right")
    for level in described["levels"]:
        table.add_row(level["location"], *(str(level[c]) for c in
                                           ("on_hand", "committed", "reserved", "available", "incoming")))
    totals = described["totals"]
    table.add_row("[bold]total[/bold]", *(f"[bold]{totals[c]}[/bold]" for c in
                                          ("on_hand", "committed", "reserved", "available", "incoming")))
    console.print(table)


@app.command()
def check() -> None:
    """Recompute every level from the ledger; exit 1 on any drift or broken invariant."""
    sp = build()
    report = sp.checker.run()
    sp.close()
    if report.ok:
        console.print(f"ok: {report.levels_checked} stock levels equal the fold of the ledger; invariants hold")
        return
    for problem in report.problems:
        err.print(json.dumps(problem))
    err.print(f"{len(report.problems)} problem(s) in {report.levels_checked} stock levels")
    raise typer.Exit(1)


app.command("import")(import_command)
app.command("simulate")(simulate_command)  # issue 8: the replay simulator
app.command("worker")(runtime_commands.worker)
app.add_typer(runtime_commands.outbox_app, name="outbox")
app.add_typer(runtime_commands.timers_app, name="timers")
app.add_typer(purchasing_commands.supplier_app, name="supplier")
app.add_typer(purchasing_commands.po_app, name="po")
app.command("plan")(purchasing_commands.plan_command)
app.add_typer(purchasing_commands.event_app, name="planned-event")
app.add_typer(channel_commands.cli)  # `channel` and `webhook`
app.command("reconcile")(outbound_commands.reconcile)  # outbound; it also adds `channel location|listing`
assert subscription_commands.channel_subscriptions  # inbound: adds `channel subscriptions` to the channel group
app.add_typer(user_app, name="user")  # dashboard users (issue 7)
app.add_typer(ads_app, name="ads")  # Ads

def run() -> None:
    """The console script: a setting that cannot be used is one clear line and exit 2, not a traceback."""
    try:
        app()
    except ConfigError as exc:
        err.print(f"error: {exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run()
