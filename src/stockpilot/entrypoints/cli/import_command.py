"""`stockpilot import FILE`: load catalog and stock from a CSV file, with a progress bar and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stockpilot.adapters.csv_catalog import RowError
from stockpilot.bootstrap import build
from stockpilot.domain.errors import StockpilotError
from stockpilot.services.history_import import HistoryImport
from stockpilot.services.importer import ImportReport, ImportService


def import_command(
    source: Annotated[str, typer.Argument(help="The CSV file (Stockpilot's layout or a Shopify product or inventory "
                                               "export), or the word `history` followed by a daily-demand CSV.")],
    history_file: Annotated[Path | None, typer.Argument(help="With `history`: a CSV of sku,date,units.",
                                                        show_default=False)] = None,
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Import the good rows and report the bad "
                                                                   "ones, instead of importing nothing."),
    location: str | None = typer.Option(None, "--location", help="Location (code or name) for counts the file "
                                                                 "does not place, e.g. Shopify product CSV "
                                                                 "quantities."),
) -> None:
    """Import SKUs, products and on-hand counts from a CSV file; importing the same file again changes nothing.
    `stockpilot import history FILE.csv` imports daily demand (sku,date,units) for planning instead."""
    if source == "history":
        import_history(history_file)
        return
    file = Path(source)
    if history_file is not None or not file.is_file():
        typer.echo(f"error: {source}: no such file" if history_file is None else
                   "error: give one file, or `history FILE`", err=True)
        raise typer.Exit(2)
    console = Console(stderr=True)  # the bar goes to stderr, so stdout carries only the summary
    sp = build()
    try:
        with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                      TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task("import", total=None)
            report = ImportService(sp.ctx).import_file(
                file, skip_invalid=skip_invalid, location=location,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except StockpilotError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    finally:
        sp.close()
    for error in report.errors:
        typer.echo(format_error(file, error), err=True)
    typer.echo(summary(report, skip_invalid))
    if report.errors:
        raise typer.Exit(1)


def format_error(file: Path, error: RowError) -> str:
    """`FILE:LINE: column "X": reason`, the shape editors and CI logs link to the spot."""
    where = f'column "{error.column}": ' if error.column else ""
    return f"{file}:{error.line}: {where}{error.reason}"


def summary(report: ImportReport, skip_invalid: bool) -> str:
    if report.errors and not report.rows_imported:
        hint = "" if skip_invalid or report.fatal else "; fix them, or import the good rows with --skip-invalid"
        return f"nothing imported: {len(report.errors)} error(s){hint}"
    return (
        f"{report.file} ({report.format}): {report.rows_read} rows read, {report.rows_imported} imported, "
        f"{report.rows_skipped} skipped (nothing to import), {report.rows_invalid} invalid\n"
        f"SKUs: {report.skus_created} created, {report.skus_updated} updated, {report.skus_unchanged} unchanged\n"
        f"stock levels: {report.stock_levels_set} set, {report.stock_levels_already_imported} already imported "
        f"from this file before"
    )


def import_history(file: Path | None) -> None:
    if file is None or not file.is_file():
        typer.echo(f"error: {file or 'a daily-demand CSV'}: no such file (usage: stockpilot import history FILE.csv)",
                   err=True)
        raise typer.Exit(2)
    sp = build()
    try:
        report = HistoryImport(sp.ctx).import_file(file)
    finally:
        sp.close()
    for error in report.errors:
        typer.echo(format_error(file, error), err=True)
    if report.errors:
        typer.echo(f"nothing imported: {len(report.errors)} error(s)")
        raise typer.Exit(1)
    typer.echo(f"{file}: {report.rows_read} rows read; {report.days_imported} SKU-days of demand set for "
               f"{report.skus} SKUs")
