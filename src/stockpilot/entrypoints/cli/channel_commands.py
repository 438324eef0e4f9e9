"""CLI: `stockpilot channel add|list` (the registry) and `stockpilot webhook list|show|retry` (deliveries)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockpilot.bootstrap import build
from stockpilot.domain.errors import StockpilotError

channel_app = typer.Typer(help="Sales channels: the stores Stockpilot takes webhooks from.", no_args_is_help=True)
webhook_app = typer.Typer(help="Inbound webhook deliveries: parked, dead, processed.", no_args_is_help=True)
# Both groups travel together, so the main CLI adds them with one line.
cli = typer.Typer()
cli.add_typer(channel_app, name="channel")
cli.add_typer(webhook_app, name="webhook")
console = Console()
err = Console(stderr=True)


@channel_app.command("add")
def channel_add(
    kind: Annotated[str, typer.Argument(help="shopify, woocommerce, bigcommerce, standard or amazon.")],
    name: Annotated[str, typer.Argument(help="A short name (a-z, 0-9, - and _).")],
    secret: Annotated[str | None, typer.Option(help="The webhook signing secret (Shopify: the app's client "
                                                    "secret). Not for amazon.")] = None,
    shop_domain: Annotated[str | None, typer.Option(help="Shopify: example.myshopify.com.")] = None,
    site_url: Annotated[str | None, typer.Option(help="WooCommerce: the site's URL.")] = None,
    store_hash: Annotated[str | None, typer.Option(help="BigCommerce: the store hash.")] = None,
    api_url: Annotated[str | None, typer.Option(help="The store's API base URL.")] = None,
    api_token: Annotated[str | None, typer.Option(help="The store's API token.")] = None,
    buffer: Annotated[int, typer.Option(help="Units held back from this channel.")] = 0,
    buffer_percent: Annotated[int, typer.Option(help="Outbound: % of available held back (the larger wins).")] = 0,
    location: Annotated[str | None, typer.Option(help="The location the channel's own counts are about.")] = None,
    seller_id: Annotated[str | None, typer.Option(help="Amazon: the seller (merchant) id.")] = None,
    marketplace_id: Annotated[str | None, typer.Option(help="Amazon: e.g. ATVPDKIKX0DER (US).")] = None,
    lwa_client_id: Annotated[str | None, typer.Option(help="Amazon: the LWA app client id.")] = None,
    lwa_client_secret: Annotated[str | None, typer.Option(help="Amazon: the LWA app client secret.")] = None,
    refresh_token: Annotated[str | None, typer.Option(help="Amazon: the seller's LWA refresh token.")] = None,
    lwa_url: Annotated[str | None, typer.Option(help="Amazon: the LWA token URL (default NA).")] = None,
    poll_seconds: Annotated[int | None, typer.Option(help="Amazon: seconds between polls (300).")] = None,
) -> None:
    """Register a store; the last line printed is the webhook path to give the platform (amazon: polled)."""
    amazon = {k: v for k, v in {"seller_id": seller_id, "marketplace_id": marketplace_id,
                                "lwa_client_id": lwa_client_id, "lwa_url": lwa_url,
                                "poll_seconds": poll_seconds}.items() if v is not None}
    if kind == "amazon":
        secret, api_token = lwa_client_secret or secret, refresh_token or api_token
    if not secret:
        err.print("error: --secret is required" if kind != "amazon" else "error: --lwa-client-secret is required")
        raise typer.Exit(1)
    sp = build()
    try:
        added = sp.channels.add(kind, name, secret=secret, shop_domain=shop_domain, site_url=site_url,
                                store_hash=store_hash, api_url=api_url, api_token=api_token, buffer=buffer,
                                location=location, amazon=amazon or None, buffer_percent=buffer_percent)
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        sp.close()
    if added["kind"] == "amazon":
        err.print(f"channel {added['name']} (amazon) added; a worker polls its FBA inventory and orders")
        print("polled: no webhook path")
        return
    err.print(f"channel {added['name']} ({added['kind']}) added; point its webhooks at this path on "
              "STOCKPILOT_PUBLIC_URL:")
    print(added["webhook_path"])


@channel_app.command("list")
def channel_list() -> None:
    """Show the registered channels (secrets are never shown)."""
    sp = build()
    channels = sp.channels.list()
    sp.close()
    table = Table(title="channels")
    for column in ("name", "kind", "store", "location", "buffer", "webhook path"):
        table.add_column(column, no_wrap=True)
    for ch in channels:
        store = ch["shop_domain"] or ch["site_url"] or ch["store_hash"] or ""
        table.add_row(ch["name"], ch["kind"], store, ch["location"] or "", str(ch["buffer"]), ch["webhook_path"])
    console.print(table)


@webhook_app.command("list")
def webhook_list(
    status: Annotated[str | None, typer.Option(help="received, processed, ignored, parked or dead.")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Show deliveries, oldest first, with the reason a parked one waits."""
    sp = build()
    try:
        rows = sp.webhooks.list(status=status, channel=channel, limit=limit)
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(2) from None
    finally:
        sp.close()
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    table = Table(title=f"webhook deliveries{': ' + status if status else ''}")
    for column in ("id", "channel", "topic", "status", "reason", "received", "detail"):
        table.add_column(column, no_wrap=column != "detail")
    for row in rows:
        table.add_row(str(row["id"]), row["channel"], row["topic"], row["status"], row["reason"] or "",
                      row["received_at"][:19], (row["error"] or "")[:80])
    console.print(table)


@webhook_app.command("show")
def webhook_show(delivery_id: int) -> None:
    """One delivery as JSON, with its kept headers and raw body."""
    sp = build()
    try:
        print(json.dumps(sp.webhooks.get(delivery_id), indent=2))
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        sp.close()


@webhook_app.command("retry")
def webhook_retry(delivery_id: int) -> None:
    """Process a parked or dead delivery again (a worker picks it up)."""
    sp = build()
    try:
        retried = sp.webhooks.retry(delivery_id)
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        sp.close()
    console.print(f"delivery {retried['id']} ({retried['topic']}) is queued for processing again")
