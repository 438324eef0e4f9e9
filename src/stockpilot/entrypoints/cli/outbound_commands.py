"""CLI for outbound pushes: `stockpilot channel location|listing` (what a push addresses) and
`stockpilot reconcile CHANNEL [--fix]` (drift between Stockpilot's available-to-sell and the channel's counts)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockpilot.bootstrap import build
from stockpilot.domain.errors import StockpilotError
from stockpilot.entrypoints.cli.channel_commands import channel_app

console = Console()
err = Console(stderr=True)


@channel_app.command("location")
def channel_location(
    name: Annotated[str, typer.Argument(help="The channel.")],
    location: Annotated[str, typer.Argument(help="A Stockpilot location code that feeds the channel.")],
    external_id: Annotated[str | None, typer.Option(help="The channel's own location id (Shopify, "
                                                         "BigCommerce); several locations with one id are summed.")]
    = None,
    remove: Annotated[bool, typer.Option("--remove", help="Stop feeding the channel from this location.")] = False,
) -> None:
    """Map a Stockpilot location to a channel location (outbound pushes); prints the channel's mapping."""
    sp = build()
    try:
        groups = (sp.channel_locations.unmap(name, location) if remove
                  else sp.channel_locations.map(name, location, external_id))
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        sp.close()
    table = Table(title=f"{name}: locations pushed")
    table.add_column("channel location")
    table.add_column("fed by")
    for group in groups:
        table.add_row(group["channel_location"] or "(none)", ", ".join(group["locations"]))
    console.print(table)


@channel_app.command("listing")
def channel_listing(
    name: Annotated[str, typer.Argument(help="The channel.")],
    external_id: Annotated[str, typer.Argument(help="The channel's id for the item.")],
    sku: Annotated[str, typer.Argument(help="The Stockpilot SKU.")],
    role: Annotated[str | None, typer.Option(help="What the id is: inventory_item (Shopify), product (a simple "
                                                  "product) / variation (WooCommerce, with --parent), product / "
                                                  "variant (BigCommerce), ...")] = None,
    parent: Annotated[str | None, typer.Option(help="A variation's parent product id (WooCommerce: the variable "
                                                    "product; line items' product_id). Required with --role "
                                                    "variation; every size or colour names the same parent.")]
    = None,
) -> None:
    """Map a channel's item id to a SKU; a SKU listed on a channel gets its available-to-sell pushed there.

    A WooCommerce variation: `stockpilot channel listing NAME VARIATION_ID SKU --role variation --parent
    PARENT_ID` (its stock is set at /products/PARENT_ID/variations/VARIATION_ID)."""
    sp = build()
    try:
        sp.catalog.map_listing(name, external_id, sku, role, parent)
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        sp.close()
    print(f"{name} {role or 'id'} {external_id}{f' (of product {parent})' if parent else ''} -> {sku}")


def reconcile(
    channel: Annotated[str, typer.Argument(help="The channel to compare.")],
    fix: Annotated[bool, typer.Option("--fix", help="Queue pushes of the corrected values (through the outbox: a "
                                                    "running worker sends them).")] = False,
) -> None:
    """Compare the channel's counts (read through its API) with Stockpilot's available-to-sell, per SKU.

    Exit 1 when something drifted and --fix was not given (like `stockpilot check`)."""
    sp = build()
    try:
        result = sp.channel_reconcile.fix(channel) if fix else {"lines": sp.channel_reconcile.drift(channel)}
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    except Exception as exc:  # the channel's API refused or is unreachable: say so, not a traceback
        err.print(f"error: could not read {channel}'s counts: {type(exc).__name__}: {exc}")
        raise typer.Exit(2) from None
    finally:
        sp.close()
    table = Table(title=f"{channel}: available-to-sell vs the channel's count")
    for column in ("SKU", "channel item", "Stockpilot ATS", "channel", "drift", "note"):
        table.add_column(column, justify="right" if column in ("Stockpilot ATS", "channel", "drift") else "left")
    drifted = 0
    for row in result["lines"]:
        drift = row["drift"]
        drifted += drift not in (None, 0)
        shown = "" if drift is None else (f"[red]{drift:+d}[/red]" if drift else "0")
        table.add_row(row["sku"], row["item_key"] or "", _num(row["available_to_sell"]), _num(row["channel"]),
                      shown, row["problem"] or "")
    console.print(table)
    if fix:
        err.print(f"{drifted} line(s) drifted; pushes queued for {result['skus_queued']} SKU(s)")
    else:
        err.print(f"{drifted} line(s) drifted" + ("; run with --fix to push the corrected values" if drifted else ""))
        if drifted:
            raise typer.Exit(1)


def _num(value: int | None) -> str:
    return "" if value is None else str(value)
