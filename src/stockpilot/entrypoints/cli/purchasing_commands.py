"""CLI for replenishment: `supplier add|offer|list|show`, `po list|show|review|approve|reject|receive|ack`, `plan`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from stockpilot.bootstrap import Stockpilot, build
from stockpilot.domain.errors import StockpilotError

supplier_app = typer.Typer(help="Suppliers and what they offer.", no_args_is_help=True)
po_app = typer.Typer(help="Purchase orders and the review queue.", no_args_is_help=True)
event_app = typer.Typer(help="Planned events: promotions and seasons that multiply demand.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _run(work: Callable[[Stockpilot], T]) -> T:
    sp = build()
    try:
        return work(sp)
    except StockpilotError as exc:
        err.print(f"error: {exc.detail}")
        raise typer.Exit(1) from None
    finally:
        sp.close()


def _pairs(values: list[str], what: str) -> dict[str, int]:
    """SKU=QTY arguments; a bad one names itself."""
    out: dict[str, int] = {}
    for value in values:
        sku, sep, qty = value.partition("=")
        if not sep or not sku or not qty.lstrip("-").isdigit():
            err.print(f"error: {what} {value!r}: expected SKU=QUANTITY, e.g. TEE-BLK-M=12")
            raise typer.Exit(2)
        out[sku] = int(qty)
    return out


# ---- suppliers -----------------------------------------------------------------------------------------------
@supplier_app.command("add")
def supplier_add(
    code: str,
    name: Annotated[str, typer.Option(help="The supplier's name.")],
    method: Annotated[str, typer.Option("--method", help="How POs reach it: email, http or edi.")] = "email",
    email: Annotated[str | None, typer.Option(help="Where PO emails go.")] = None,
    api_url: Annotated[str | None, typer.Option(help="Its purchase-order endpoint (http).")] = None,
    api_token: Annotated[str | None, typer.Option(help="Bearer token for its API.")] = None,
    edi_dir: Annotated[str | None, typer.Option(help="Drop folder for its X12 850 files (edi).")] = None,
    currency: Annotated[str, typer.Option(help="ISO currency of its prices.")] = "USD",
) -> None:
    """Register a supplier."""
    fields = {"name": name, "delivery_method": method, "email": email, "api_url": api_url, "api_token": api_token,
              "edi_dir": edi_dir, "currency": currency}
    added = _run(lambda sp: sp.suppliers.add(code, {k: v for k, v in fields.items() if v is not None}))
    console.print(f"supplier {added['code']} added ({added['delivery_method']})")


@supplier_app.command("offer")
def supplier_offer(
    code: str,
    sku: str,
    unit_cost: Annotated[str | None, typer.Option(help="Price per unit, in the supplier's currency.")] = None,
    lead_time: Annotated[float | None, typer.Option(help="Lead time in days (mean).")] = None,
    lead_time_spread: Annotated[float | None, typer.Option(help="Lead time spread (std) in days.")] = None,
    moq: Annotated[int | None, typer.Option(help="Minimum order quantity.")] = None,
    pack_size: Annotated[int | None, typer.Option(help="Orders are multiples of this.")] = None,
    capacity: Annotated[int | None, typer.Option(help="Most units it takes in one order.")] = None,
    available: Annotated[bool | None, typer.Option("--available/--unavailable", help="Can it supply now?")] = None,
) -> None:
    """Create or change what a supplier offers for a SKU."""
    fields = {"unit_cost": unit_cost, "lead_time_days": lead_time, "lead_time_spread_days": lead_time_spread,
              "moq": moq, "pack_size": pack_size, "capacity": capacity, "available": available}
    offer, created = _run(lambda sp: sp.suppliers.set_offer(code, sku, {k: v for k, v in fields.items()
                                                                        if v is not None}))
    console.print(f"offer {'created' if created else 'updated'}: {code} {sku} at {offer['unit_cost']}, "
                  f"{offer['lead_time_days']:g} d")


@supplier_app.command("list")
def supplier_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Suppliers with their measured scorecards (last 30 days)."""
    rows = _run(lambda sp: sp.suppliers.list())
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="Suppliers (performance over the last 30 days)")
    for column in ("code", "name", "method", "POs", "fill rate", "on time", "lead time (d)", "delivery ok"):
        table.add_column(column)
    for r in rows:
        p = r["performance"]
        table.add_row(r["code"], r["name"], r["delivery_method"], str(p["purchase_orders_30d"]), _pct(p["fill_rate"]),
                      _pct(p["on_time_rate"]), _num(p["lead_time_actual_days"]), _pct(p["delivery_success"]))
    console.print(table)


# ---- purchase orders ---------------------------------------------------------------------------------------------
@po_app.command("list")
def po_list(
    status: Annotated[str | None, typer.Option(help="Only this status (e.g. sent, needs_review).")] = None,
    sku: Annotated[str | None, typer.Option(help="Only POs with this SKU.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Purchase orders, oldest first."""
    rows = _run(lambda sp: sp.purchasing.list(status=status, sku=sku, limit=1000))
    _po_table(rows, as_json, "Purchase orders")


@po_app.command("review")
def po_review(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The review queue: drafts that need a person, with the reason."""
    rows = _run(lambda sp: sp.purchasing.list(status="needs_review", limit=1000))
    _po_table(rows, as_json, "Review queue (approve with `stockpilot po approve NUMBER`)", reason=True)


@po_app.command("show")
def po_show(number: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """One PO: lines, status timeline and the decisions behind it."""
    po = _run(lambda sp: sp.purchasing.get(number))
    if as_json:
        print(json.dumps(po, indent=2))
        return
    console.print(f"[bold]{po['number']}[/bold] r{po['revision']}  {po['status']}  supplier {po['supplier'] or '-'}"
                  f"  ship to {po['location']}  ETA {po['eta'] or '-'}  total {po['total']} {po['currency']}")
    if po["review_reason"]:
        console.print(f"needs review: {po['review_reason']}")
    lines = Table("line", "sku", "title", "quantity", "unit cost", "received")
    for ln in po["lines"]:
        lines.add_row(str(ln["line"]), ln["sku"], ln["title"], str(ln["quantity"]), ln["unit_cost"] or "-",
                      str(ln["received"]))
    console.print(lines)
    for t in po["timeline"]:
        console.print(f"  {t['at']}  {t['status']:<20} {t['note'] or ''}")
    for d in po["decisions"]:
        console.print(f"  why ({d['kind']}): {d['reason']}")


@po_app.command("approve")
def po_approve(
    number: str,
    quantity: Annotated[list[str] | None, typer.Option("--quantity", help="SKU=QTY to change before sending.")] = None,
    supplier: Annotated[str | None, typer.Option(help="Send to this supplier instead.")] = None,
    note: Annotated[str | None, typer.Option(help="Why (kept in the decision log).")] = None,
) -> None:
    """Approve a PO in review (optionally edited) and send it."""
    edits = _pairs(quantity or [], "--quantity")
    po = _run(lambda sp: sp.purchasing.approve(number, supplier=supplier, quantities=edits or None, note=note))
    console.print(f"{po['number']} {po['status']} to {po['supplier']}")


@po_app.command("reject")
def po_reject(number: str, reason: Annotated[str, typer.Option(help="Why it is not sent.")]) -> None:
    """Reject a PO in review."""
    po = _run(lambda sp: sp.purchasing.reject(number, reason))
    console.print(f"{po['number']} {po['status']}")


@po_app.command("receive")
def po_receive(
    number: str,
    lines: Annotated[list[str], typer.Argument(help="SKU=QTY received (partial and over-receipt allowed).")],
    key: Annotated[str, typer.Option("--key", help="Idempotency key of this receipt (e.g. the packing slip).")],
    location: Annotated[str | None, typer.Option(help="Where the goods were put away (default: ship-to).")] = None,
) -> None:
    """Receive goods against a PO: on-hand goes up, incoming down, through the ledger."""
    quantities = _pairs(lines, "line")
    po = _run(lambda sp: sp.purchasing.receive(number, quantities, idempotency_key=key, location=location))
    state = "already recorded" if po["replayed"] else po["status"]
    console.print(f"{po['number']}: {state}; " + ", ".join(f"{ln['sku']} {ln['received']}/{ln['quantity']}"
                                                            for ln in po["lines"]))


@po_app.command("close")
def po_close(number: str, reason: Annotated[str, typer.Option(help="Why (e.g. short shipment accepted).")]) -> None:
    """Close a received or partly received PO; what was not delivered is no longer expected."""
    po = _run(lambda sp: sp.purchasing.close(number, reason))
    console.print(f"{po['number']} {po['status']}")


@po_app.command("ack")
def po_ack(number: str, reference: Annotated[str | None, typer.Option(help="The supplier's order number.")] = None
           ) -> None:
    """Record a supplier's acknowledgement (e.g. given by phone)."""
    po = _run(lambda sp: sp.purchasing.acknowledge(number, via="cli", supplier_reference=reference))
    console.print(f"{po['number']} {po['status']}")


def plan_command(
    days: Annotated[int, typer.Option(help="At risk: projected to run out within this many days.")] = 7,
    all_skus: Annotated[bool, typer.Option("--all", help="Every SKU, not only those at risk.")] = False,
    recompute: Annotated[bool, typer.Option(help="Recompute demand and policies first.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The forecast view: days of cover, projected stockout (open POs counted) and SKUs at risk."""
    def work(sp: Stockpilot) -> list[dict[str, Any]]:
        if recompute:
            report = sp.plan.recompute()
            err.print(f"recomputed {report.skus} SKUs in "
                      f"{report.seconds_reading + report.seconds_computing + report.seconds_writing:.2f} s")
        return sp.plan.view(horizon_days=days, at_risk_only=not all_skus, limit=None)

    rows = _run(work)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{'All SKUs' if all_skus else f'SKUs at risk of stocking out within {days} days'}")
    for column in ("sku", "available", "incoming", "per day", "cover (d)", "stockout", "reorder pt", "order up to",
                   "class", "open POs"):
        table.add_column(column)
    for r in rows:
        table.add_row(f"[red]{r['sku']}[/red]" if r["at_risk"] else r["sku"], str(r["available"]), str(r["incoming"]),
                      f"{r['mean_daily']:.2f}", _num(r["days_of_cover"]), r["stockout_date"] or "-",
                      _num(r["reorder_point"]), _num(r["order_up_to"]), r["demand_class"] or "-",
                      ", ".join(f"{p['quantity']}@{p['eta']}" for p in r["open_pos"]) or "-")
    console.print(table)


def _po_table(rows: list[dict[str, Any]], as_json: bool, title: str, *, reason: bool = False) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=title)
    columns = ["number", "status", "supplier", "trigger", "created", "ETA"] + (["reason"] if reason else [])
    widths = {"number": 9, "status": 18, "created": 16}  # never shortened to "PO-0000…" in a narrow terminal
    for column in columns:
        table.add_column(column, no_wrap=column != "reason", min_width=widths.get(column))
    for r in rows:
        cells = [r["number"], r["status"], r["supplier"] or "-", r["trigger"], r["created_at"][:16], r["eta"] or "-"]
        table.add_row(*cells, *([r["review_reason"] or ""] if reason else []))
    console.print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _num(value: float | int | None) -> str:
    return "-" if value is None else f"{value:g}"


@event_app.command("add")
def event_add(
    name: str,
    starts_on: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    ends_on: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD), inclusive.")],
    multiplier: Annotated[float, typer.Option(help="Demand on those days is this many times the usual.")],
    sku: Annotated[str | None, typer.Option(help="Only this SKU (default: every SKU).")] = None,
) -> None:
    """Plan for a promotion or season."""
    event = _run(lambda sp: sp.planning.add_event(name, starts_on, ends_on, multiplier, sku))
    console.print(f"planned event {event['id']}: {event['name']} x{event['multiplier']:g} "
                  f"{event['starts_on']}..{event['ends_on']} ({event['sku'] or 'every SKU'})")


@event_app.command("list")
def event_list() -> None:
    """Planned events, by start date."""
    table = Table("id", "name", "sku", "from", "to", "x")
    for e in _run(lambda sp: sp.planning.list_events()):
        table.add_row(str(e["id"]), e["name"], e["sku"] or "all", e["starts_on"], e["ends_on"], f"{e['multiplier']:g}")
    console.print(table)


@event_app.command("remove")
def event_remove(event_id: int) -> None:
    """Forget a planned event."""
    _run(lambda sp: sp.planning.remove_event(event_id))
    console.print(f"planned event {event_id} removed")
