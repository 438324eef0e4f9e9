"""`stockpilot simulate SCENARIO`: compare replenishment policies on real or generated demand, and run the real
services under delivery faults; a Rich table, CSV/JSON/PNG in --out, and one JSON line last on stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stockpilot.adapters.retail_transactions import TransactionFileError
from stockpilot.simulation.catalog import NotEnoughData
from stockpilot.simulation.scenario import ScenarioError, load_scenario


def simulate_command(
    scenario: Annotated[str, typer.Argument(help="A built-in scenario (retail, generated, faults) or a TOML file.")],
    data: Annotated[str | None, typer.Option("--data", help="Transaction file (CSV or CSV.GZ, UCI Online Retail "
                                                             "columns) for a retail scenario.")] = None,
    skus: Annotated[int | None, typer.Option("--skus", min=1, help="How many SKUs.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of every random draw (reproducible runs).")] = None,
    days: Annotated[int | None, typer.Option("--days", min=1, help="Days simulated after the warm-up.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for results.json, results.csv and the plot.")] = Path(
        "simulation-out"),
) -> None:
    from stockpilot.simulation.report import write_all
    from stockpilot.simulation.run import run_scenario

    err = Console(stderr=True)  # the progress bar; the table and the JSON line go to stdout
    # a terminal gets its own width; a pipe or file (the usual home of a report) 132 columns, not Rich's 80
    console = Console(width=None if sys.stdout.isatty() else 132)
    try:
        s = load_scenario(scenario).overridden(data=data, skus=skus, seed=seed, days=days)
    except ScenarioError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, transient=False)
    task: list[Any] = []
    with progress:
        def on_start(total: int) -> None:
            task.append(progress.add_task(f"simulating {s.name}", total=total))

        def step(done: int) -> None:
            progress.update(task[0], completed=done)

        def ops_step(text: str) -> None:
            if len(task) < 2:
                task.append(progress.add_task("real services", total=None))
            progress.update(task[1], description=f"real services: {text}")

        try:
            outcome = run_scenario(s, on_start=on_start, progress=step, ops_progress=ops_step)
        except (TransactionFileError, NotEnoughData, ValueError) as exc:
            progress.stop()
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    paths = write_all(outcome, out)
    summary = outcome.summary()
    console.print(_table(summary))
    if outcome.operations is not None:
        console.print(_ops_table(outcome.operations))
    for p in paths:
        console.print(f"wrote {p}")
    print(json.dumps(summary, separators=(",", ":")), flush=True)


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    return f"{100 * v:.1f}%" if pct else f"{v:,.1f}" if abs(v) >= 10 else f"{v:.2f}"


def _table(summary: dict[str, Any]) -> Table:
    """Figures down, policies across (five columns fit a terminal; eleven figures would not)."""
    t = Table(title=f"{summary['scenario']}: {summary['skus']} SKUs, {summary['measured_days']} measured days "
                    f"(default knob of each policy)")
    rows = [("fill_rate", "unit fill rate", True), ("fill_rate_p10", "fill rate, p10 of SKUs", True),
            ("cycle_service", "cycle service level", True), ("calibration_points", "calibration (points)", False),
            ("stockout_days_per_sku_year", "stockout days / SKU-year", False),
            ("lost_revenue_per_year", "lost revenue / year", False),
            ("avg_inventory_value", "average inventory (cost)", False), ("days_of_cover", "days of cover", False),
            ("pos_per_sku_year", "POs / SKU-year", False), ("total_cost_per_year", "total cost / year", False),
            ("stockpilot_inventory_saving_at_equal_fill", "Stockpilot inventory saving, equal fill", True),
            ("stockpilot_eoq_inventory_saving_at_equal_fill", "EOQ variant's saving, equal fill", True)]
    t.add_column("figure")
    policies = summary["policies"]
    for name in policies:
        t.add_column(name.replace("_", " "), justify="right")
    for key, label, pct in rows:
        t.add_row(label, *(_fmt(policies[name].get(key), pct) for name in policies))
    return t


def _ops_table(ops: dict[str, Any]) -> Table:
    t = Table(title="real services under delivery faults")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in ops.items():
        if isinstance(v, dict | list):
            continue
        t.add_row(k, _fmt(v, k.endswith("share")) if isinstance(v, float | bool) else str(v))
    return t
