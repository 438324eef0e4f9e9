"""CLI: `stockpilot channel subscriptions NAME [--check]`: the store's webhook subscriptions as last checked."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockpilot.bootstrap import build
from stockpilot.domain.errors import StockpilotError
from stockpilot.entrypoints.cli.channel_commands import channel_app
from stockpilot.services.channel_subscriptions import ChannelSubscriptions

console = Console()
err = Console(stderr=True)


@channel_app.command("subscriptions")
def channel_subscriptions(
    name: Annotated[str, typer.Argument(help="The channel.")],
    check: Annotated[bool, typer.Option("--check", help="Check (and repair) them on the platform now.")] = False,
) -> None:
    """Show Stockpilot's webhook subscriptions on the store's platform; --check re-enables or re-creates lost ones."""
    sp = build()
    service = ChannelSubscriptions(sp.ctx)
    try:
        if check:
            service.check(name)
        rows = service.list(name)
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        sp.close()
    table = Table(title=f"{name}: webhook subscriptions")
    for column in ("topic", "status", "platform id", "last check", "found / done"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["topic"], row["status"], row["platform_id"] or "",
                      row["checked_at"].strftime("%Y-%m-%d %H:%M:%S") if row["checked_at"] else "",
                      row["detail"] or "")
    console.print(table)
    if not rows:
        err.print("no subscriptions recorded yet (a worker checks every subscription_check_minutes; or --check)")
