"""CLI: `stockpilot ads map|unmap|list|show` (which SKUs an ad set advertises; what Stockpilot did to it)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockpilot.bootstrap import build
from stockpilot.domain.errors import StockpilotError

ads_app = typer.Typer(help="Ad sets (Meta) and ad groups (Google) paused while their products are out of stock.",
                      no_args_is_help=True)
console = Console()
err = Console(stderr=True)

Platform = Annotated[str, typer.Argument(help="meta or google.")]
AdSetId = Annotated[str, typer.Argument(help="Meta ad set id or Google ad group id.")]


@ads_app.command("map")
def ads_map(platform: Platform, ad_set_id: AdSetId,
            skus: Annotated[list[str], typer.Argument(help="The SKUs it advertises.")],
            account: Annotated[str | None, typer.Option(help="Google: the customer id (123-456-7890).")] = None,
            ) -> None:
    """Say that an ad set advertises these SKUs; it is paused while every one of them is unavailable."""
    _run(lambda sp: sp.ads.map(platform, ad_set_id, skus, account=account))


@ads_app.command("unmap")
def ads_unmap(platform: Platform, ad_set_id: AdSetId,
              skus: Annotated[list[str], typer.Argument(help="The SKUs to take off it.")]) -> None:
    """Stop tying these SKUs to the ad set."""
    _run(lambda sp: sp.ads.unmap(platform, ad_set_id, skus))


@ads_app.command("show")
def ads_show(platform: Platform, ad_set_id: AdSetId) -> None:
    """One ad set: state, SKUs and its pause history (spend saved) as JSON."""
    _run(lambda sp: sp.ads.get(platform, ad_set_id))


@ads_app.command("list")
def ads_list() -> None:
    """Every mapped ad set and its state."""
    sp = build()
    try:
        rows = sp.ads.list()
    finally:
        sp.close()
    table = Table()
    for column in ("platform", "ad set", "state", "skus", "paused at", "daily spend"):
        table.add_column(column)
    for row in rows:
        pause = row["pause"] or {}
        table.add_row(row["platform"], row["ad_set_id"], row["state"], " ".join(row["skus"]),
                      pause.get("paused_at") or "", pause.get("daily_spend") or "")
    console.print(table)


def _run(action: object) -> None:
    sp = build()
    try:
        result = action(sp)  # type: ignore[operator]
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        sp.close()
    print(json.dumps(result, indent=2))
