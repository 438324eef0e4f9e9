"""The operations run: the REAL service stack on a temporary SQLite file, a simulated clock, signed channel
webhooks with delivery faults, and in-process supplier APIs (supplier_fake.py) behind the real `po.http` adapter.

What runs is production code: `Stockpilot.build` (migrations included), `WebhookIntake.receive` (Standard Webhooks
signature, dedupe by webhook-id), the `channel.webhook` outbox handler (order watermarks, `OrderService`), the
`replenishment` consumer and its flush timers, planning (`plan.daily` timer -> `PlanService.recompute`), the PO
lifecycle (send, acknowledgement in the API answer, reminder and deadline timers, re-routing) and receiving.
Only the world around it is simulated: the clock jumps from one due moment (a delivery, a timer, an outbox row) to
the next, so a 48-hour escalation costs no wall time; customers, the store platform and suppliers are generated.

Per SKU: `allow` backorders (an order for more than is available is taken and raises Oversold), a preferred and a
backup supplier (every third SKU's preferred one never acknowledges when `silent_supplier` is set; the last
`no_supplier_share` of the SKUs have none at all), two months
of daily history imported through `stockpilot import history`'s service, and `stock_days` of demand on hand.

Figures:
- duplicate_pos: a PO without a parent (not a top-up or re-route) created for a SKU while another PO of that SKU
  was still open (draft, needs_review, sent, acknowledged, partially received). At most one open replenishment per
  SKU and deficit episode is the design rule, so every such PO is a duplicate. Also counted: a PO revision the
  supplier received under two idempotency keys, and SKUs whose committed units differ from the orders delivered.
- oversell events: `Oversold` events; one is resolved without a person when the first replenishment decision for
  its SKU after it ordered (PO sent, or the open PO grown) or found the need already covered, and no PO of that
  SKU made by then waits in review; the others are listed with the review reasons (or "not flushed by the end").
- detection_to_po_seconds: from the Oversold event to that decision (the flush that sent the PO), simulated time;
  detection_to_supplier_seconds: to the supplier API's first successful answer for the PO that decision created
  (503 outages and their backoff included).
- supplier_duplicate_deliveries: a (PO number, revision, kind) the supplier accepted under two idempotency keys.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import func, select

from stockpilot.adapters.db.tables import decisions, events, outbox, purchase_order_history, purchase_order_lines
from stockpilot.adapters.db.tables import purchase_orders as po_table
from stockpilot.adapters.db.tables import skus as sku_table
from stockpilot.adapters.db.tables import timers as timer_table
from stockpilot.adapters.suppliers.document import TOPIC_HTTP
from stockpilot.adapters.suppliers.http_api import HttpApiDelivery
from stockpilot.bootstrap import Stockpilot, build
from stockpilot.config import Settings
from stockpilot.domain.clock import ManualClock
from stockpilot.domain.webhook_signatures import standard_signature
from stockpilot.runtime import outbox as ob
from stockpilot.runtime import timers as tm
from stockpilot.runtime.consumers import ConsumerRunner
from stockpilot.runtime.handlers import automations
from stockpilot.services.history_import import HistoryImport
from stockpilot.simulation.scenario import OpsConfig
from stockpilot.simulation.supplier_fake import SupplierFake, api_url

CHANNEL = "pos"
SECRET = "whsec_" + base64.b64encode(b"stockpilot-simulation-channel-key").decode()
TOKEN = "sim-supplier-token"
START = datetime(2026, 3, 2, tzinfo=UTC)
HISTORY_DAYS = 60
OPEN = ("draft", "needs_review", "sent", "acknowledged", "partially_received")


@dataclass(order=True)
class Delivery:
    at: datetime
    seq: int
    webhook_id: str
    body: bytes
    order_id: str
    kind: str  # "create" | "cancel"
    fault: str  # "" | "duplicate" | "redelivered" | "late" | "out_of_order"


class _Runtime:
    """The worker's three loops run by hand, and the clock moved from one due moment to the next."""

    def __init__(self, sp: Stockpilot, clock: ManualClock, http: HttpApiDelivery, seed: int) -> None:
        auto = automations(sp)
        rng = np.random.default_rng([seed, 11])
        self.sp, self.clock = sp, clock
        self.consumer = ConsumerRunner(sp.db, clock, auto.consumers, worker_id="sim")
        self.timers = tm.TimerRunner(sp.db, clock, auto.timer_handlers, worker_id="sim")
        self.dispatcher = ob.Dispatcher(sp.db, clock, {**auto.outbox_handlers, TOPIC_HTTP: http}, worker_id="sim",
                                        outcomes=auto.outcomes, backoff=ob.Backoff(random=lambda: float(rng.random())))
        self.timer_errors: list[str] = []

    def settle(self) -> None:
        for _ in range(50):
            moved = self.consumer.run_once()
            fired = self.timers.run_once()
            self.timer_errors.extend(fired.errors)
            report = self.dispatcher.run_once()
            if not (moved or fired.fired or fired.failed or report.claimed):
                return

    def next_due(self) -> datetime | None:
        with self.sp.db.read() as conn:
            t = conn.execute(select(func.min(timer_table.c.fire_at)).where(timer_table.c.status == tm.SCHEDULED)
                             ).scalar()
            o = conn.execute(select(func.min(outbox.c.available_at)).where(outbox.c.status == ob.PENDING)).scalar()
        due = [x for x in (t, o) if x is not None]
        return min(due) if due else None

    def run_until(self, moment: datetime) -> None:
        self.settle()
        while (due := self.next_due()) is not None and due <= moment:
            self.clock.set(max(due, self.clock.now()))
            self.settle()
        self.clock.set(max(moment, self.clock.now()))
        self.settle()


def run_operations(cfg: OpsConfig, *, seed: int, progress: Callable[[str], None] | None = None,
                   database_url: str | None = None) -> dict[str, Any]:
    """Run on a fresh temporary SQLite file, or on `database_url` (an EMPTY, migrated or migratable database:
    the tests pass their PostgreSQL one)."""
    with tempfile.TemporaryDirectory(prefix="stockpilot-sim-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'ops.db'}"
        return _run(cfg, seed, Path(tmp), url, progress or (lambda _t: None))


def _run(cfg: OpsConfig, seed: int, tmp: Path, url: str, progress: Callable[[str], None]) -> dict[str, Any]:
    rng = np.random.default_rng([seed, 5])
    clock = ManualClock(START)
    settings = Settings(database_url=url, oversell_window_seconds=cfg.oversell_window_seconds,
                        edi_dir=str(tmp / "edi"), secret_key="simulation-ack-key")
    progress("building the service stack")
    sp = build(settings, clock=clock)
    try:
        codes = [f"OPS-{i:03d}" for i in range(cfg.skus)]
        rates = rng.uniform(0.5, 6.0, cfg.skus)
        silent = frozenset({"QUIET"}) if cfg.silent_supplier else frozenset()
        fake = SupplierFake(clock, TOKEN, np.random.default_rng([seed, 13]), outage=cfg.outage, silent=silent)
        http = HttpApiDelivery(client=httpx.Client(transport=fake.transport()))
        _seed_catalog(sp, codes, rates, cfg, tmp, rng)
        rt = _Runtime(sp, clock, http, seed)
        sp.purchasing.schedule_planning()
        sp.plan.recompute()
        plan = _deliveries(codes, rates, cfg, rng)
        sent = {"create": 0, "cancel": 0, "lost": plan.lost, **{k: 0 for k in ("duplicate", "redelivered", "late",
                                                                               "out_of_order")}}
        day_of = -1
        for d in plan.items:
            day = (d.at - START).days
            if day != day_of:
                for k in range(day_of + 1, day + 1):
                    rt.run_until(START + timedelta(days=k, hours=8))
                    _receive_due(sp, (START + timedelta(days=k)).date(), k)
                    rt.settle()
                    progress(f"day {k + 1} of {cfg.days}")
                day_of = day
            rt.run_until(d.at)
            _post(sp, d, clock)
            sent[d.kind] += 1
            if d.fault:
                sent[d.fault] += 1
            rt.settle()
        for k in range(day_of + 1, cfg.days + 3):  # let escalations (48 h) and the last receipts play out
            rt.run_until(START + timedelta(days=k, hours=8))
            _receive_due(sp, (START + timedelta(days=k)).date(), k)
        rt.run_until(clock.now() + timedelta(hours=1))
        progress("measuring")
        figures = _measure(sp, fake, plan.expected_committed, codes)
        figures["webhooks"] = sent
        figures["timer_errors"] = len(rt.timer_errors)
        figures["check_problems"] = len(sp.checker.run().problems)
        figures["simulated_days"] = cfg.days
        figures["skus"] = cfg.skus
        http.close()
        return figures
    finally:
        sp.close()


def _seed_catalog(sp: Stockpilot, codes: list[str], rates: np.ndarray, cfg: OpsConfig, tmp: Path,
                  rng: np.random.Generator) -> None:
    sp.catalog.create_location("WH", "Warehouse", "warehouse", 10)
    sp.channels.add("standard", CHANNEL, secret=SECRET, location="WH")
    sp.suppliers.add("FAST", {"name": "Fast Supplies", "delivery_method": "http", "api_url": api_url("FAST"),
                              "api_token": TOKEN})
    sp.suppliers.add("BACKUP", {"name": "Backup Wholesale", "delivery_method": "http",
                                "api_url": api_url("BACKUP"), "api_token": TOKEN})
    if cfg.silent_supplier:
        sp.suppliers.add("QUIET", {"name": "Quiet Factory", "delivery_method": "http", "api_url": api_url("QUIET"),
                                   "api_token": TOKEN})
    lines = ["sku,date,units"]
    unsupplied = len(codes) - int(np.ceil(cfg.no_supplier_share * len(codes)))
    for i, code in enumerate(codes):
        sp.catalog.upsert_sku(code, {"title": f"Simulated product {i}", "backorder_policy": "allow"})
        sp.stock.adjust(sku=code, location="WH", on_hand=int(np.ceil(rates[i] * cfg.stock_days)),
                        idempotency_key=f"sim-seed:{code}")
        history = rng.poisson(rates[i], HISTORY_DAYS)
        for k, units in enumerate(history.tolist()):
            day = (START - timedelta(days=HISTORY_DAYS - k)).date().isoformat()
            lines.append(f"{code},{day},{units}")
        if i >= unsupplied:
            continue  # no supplier on file: a person has to pick one
        sp.suppliers.set_offer("FAST", code, {"unit_cost": "4.00", "lead_time_days": 3, "lead_time_spread_days": 1})
        sp.suppliers.set_offer("BACKUP", code, {"unit_cost": "4.40", "lead_time_days": 6,
                                                "lead_time_spread_days": 2})
        if cfg.silent_supplier and i % 3 == 0:  # the fastest and cheapest, so the ranking prefers it
            sp.suppliers.set_offer("QUIET", code, {"unit_cost": "3.60", "lead_time_days": 2,
                                                   "lead_time_spread_days": 1})
    path = tmp / "history.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = HistoryImport(sp.ctx).import_file(path)
    if report.errors:
        raise RuntimeError(f"history import failed: {report.errors[:3]}")


@dataclass
class _Plan:
    items: list[Delivery]
    lost: int
    expected_committed: dict[str, int]


def _deliveries(codes: list[str], rates: np.ndarray, cfg: OpsConfig, rng: np.random.Generator) -> _Plan:
    """Orders through the days (Poisson units, 1-3 per order) and their webhook deliveries, faults applied."""
    items: list[Delivery] = []
    expected = dict.fromkeys(codes, 0)
    lost = seq = 0

    def add(at: datetime, kind: str, order_id: str, data: dict[str, Any], fault: str = "",
            webhook_id: str | None = None) -> None:
        nonlocal seq
        seq += 1
        envelope = {"type": "order.created" if kind == "create" else "order.cancelled",
                    "timestamp": data["updated_at"], "data": data}
        items.append(Delivery(at, seq, webhook_id or f"msg_{seq:08d}", json.dumps(envelope).encode(), order_id,
                              kind, fault))

    n_order = 0
    for day in range(cfg.days):
        for i, code in enumerate(codes):
            units = int(rng.poisson(rates[i]))
            while units > 0:
                q = int(min(units, rng.integers(1, 4)))
                units -= q
                n_order += 1
                order_id = f"SIM-{n_order:06d}"
                placed = START + timedelta(days=day, seconds=int(rng.integers(9 * 3600, 21 * 3600)))
                data = {"id": order_id, "lines": [{"sku": code, "quantity": q}], "updated_at": placed.isoformat()}
                cancelled = rng.random() < cfg.cancel_share
                if rng.random() < cfg.lost:
                    lost += 1  # never delivered: Stockpilot cannot know this order (and nor its cancel)
                    continue
                create_at, fault = placed + timedelta(seconds=int(rng.integers(1, 5))), ""
                if rng.random() < cfg.late:
                    create_at, fault = create_at + timedelta(seconds=int(rng.integers(3600, 6 * 3600))), "late"
                if cancelled:
                    cancel_time = placed + timedelta(seconds=int(rng.integers(600, 4 * 3600)))
                    cancel_data = {"id": order_id, "updated_at": cancel_time.isoformat()}
                    cancel_at = cancel_time + timedelta(seconds=2)
                    if rng.random() < cfg.out_of_order:  # the cancel overtakes its order
                        create_at, fault = cancel_at + timedelta(seconds=int(rng.integers(60, 1800))), "out_of_order"
                    add(cancel_at, "cancel", order_id, cancel_data)
                else:
                    expected[code] += q
                first_id = None
                add(create_at, "create", order_id, data, fault)
                first_id = items[-1].webhook_id
                if rng.random() < cfg.duplicate:
                    add(create_at + timedelta(seconds=int(rng.integers(1, 300))), "create", order_id, data,
                        "duplicate", webhook_id=first_id)
                if rng.random() < cfg.redelivered:
                    add(create_at + timedelta(seconds=int(rng.integers(1, 600))), "create", order_id, data,
                        "redelivered")
    items.sort()
    return _Plan(items, lost, expected)


def _post(sp: Stockpilot, d: Delivery, clock: ManualClock) -> None:
    ts = str(int(clock.now().timestamp()))  # a delivery is signed when it is sent (a retry is re-signed)
    headers = {"content-type": "application/json", "webhook-id": d.webhook_id, "webhook-timestamp": ts,
               "webhook-signature": standard_signature(SECRET, d.webhook_id, ts, d.body)}
    sp.webhook_intake.receive("standard", CHANNEL, headers, d.body)


def _receive_due(sp: Stockpilot, today: date, day: int) -> None:
    """The warehouse books in every acknowledged PO whose ETA has come (the whole outstanding quantity)."""
    for row in sp.purchasing.list(status="acknowledged", limit=1000) + sp.purchasing.list(
            status="partially_received", limit=1000):
        po = sp.purchasing.get(row["id"])
        if po["eta"] is None or date.fromisoformat(po["eta"]) > today:
            continue
        quantities = {ln["sku"]: ln["quantity"] - ln["received"] for ln in po["lines"]
                      if ln["quantity"] > ln["received"]}
        if quantities:
            sp.purchasing.receive(po["number"], quantities, idempotency_key=f"sim-receipt:{po['number']}:{day}")


def _measure(sp: Stockpilot, fake: SupplierFake, expected: dict[str, int], codes: list[str]) -> dict[str, Any]:
    with sp.db.read() as conn:
        pos = [dict(r._mapping) for r in conn.execute(select(po_table).order_by(po_table.c.id))]
        lines = [dict(r._mapping) for r in conn.execute(select(purchase_order_lines))]
        history = [dict(r._mapping) for r in conn.execute(select(purchase_order_history)
                                                          .order_by(purchase_order_history.c.id))]
        sku_rows = {r.id: r for r in conn.execute(select(sku_table))}
        oversold = [dict(r._mapping) for r in conn.execute(select(events).where(events.c.kind == "Oversold")
                                                            .order_by(events.c.id))]
        replen = [dict(r._mapping) for r in conn.execute(select(decisions).where(decisions.c.kind == "replenishment")
                                                         .order_by(decisions.c.id))]
    po_by_id = {p["id"]: p for p in pos}
    closed_at: dict[int, datetime] = {}
    for h in history:
        if h["status"] not in OPEN and h["po_id"] not in closed_at:
            closed_at[h["po_id"]] = h["at"]
    sku_code = {i: r.sku for i, r in sku_rows.items()}
    pos_of_sku: dict[str, list[dict[str, Any]]] = {}
    for ln in lines:
        pos_of_sku.setdefault(sku_code[ln["sku_id"]], []).append(po_by_id[ln["po_id"]])
    duplicates = []
    for sku, mine in pos_of_sku.items():
        mine.sort(key=lambda p: p["id"])
        for k, p in enumerate(mine):
            if p["parent_id"] is not None:
                continue
            for earlier in mine[:k]:
                ends = closed_at.get(earlier["id"])
                if ends is None or ends > p["created_at"]:
                    duplicates.append({"sku": sku, "po": p["number"], "while_open": earlier["number"]})
                    break
    keys_per_revision: dict[tuple[str | None, int | None, str | None], set[str]] = {}
    for r in fake.requests:
        if r.status in (200, 201, 202):
            keys_per_revision.setdefault((r.po_number, r.revision, r.kind), set()).add(r.key)
    supplier_duplicates = sum(1 for keys in keys_per_revision.values() if len(keys) > 1)
    committed_mismatch = sorted(c for c in codes
                                if next(r for r in sku_rows.values() if r.sku == c).committed != expected[c])

    first_answer: dict[str, float] = {}
    for r in fake.requests:
        if r.status in (200, 201, 202) and r.kind == "new" and r.po_number and r.po_number not in first_answer:
            first_answer[r.po_number] = r.at
    resolved = 0
    waits: list[float] = []
    to_supplier: list[float] = []
    unresolved: list[dict[str, Any]] = []
    for e in oversold:
        decision = next((d for d in replen if d["subject"] == e["sku"] and d["created_at"] >= e["created_at"]), None)
        if decision is None:
            unresolved.append({"sku": e["sku"], "at": e["created_at"].isoformat(), "reason": "not flushed by the end"})
            continue
        choice = decision["choice"] or {}
        review = choice.get("review") or []
        # A decision that grew (or found the need covered by) a PO waiting in review still waits for a person:
        # nobody approves anything in this run, so a PO in review at the end was in review then.
        waiting = [p for p in pos_of_sku.get(e["sku"], []) if p["status"] == "needs_review"
                   and p["created_at"] <= decision["created_at"]]
        if review or waiting:
            why = "; ".join(review) or "; ".join(sorted({p["review_reason"] or "in review" for p in waiting}))
            unresolved.append({"sku": e["sku"], "at": e["created_at"].isoformat(), "reason": why})
            continue
        resolved += 1
        waits.append((decision["created_at"] - e["created_at"]).total_seconds())
        made = [p for p in pos_of_sku.get(e["sku"], []) if p["created_at"] == decision["created_at"]
                and p["number"] in first_answer]  # the PO this decision created (not a grown one)
        if made:
            to_supplier.append(min(first_answer[p["number"]] for p in made) - e["created_at"].timestamp())
    reasons: dict[str, int] = {}
    for p in pos:
        if p["review_reason"]:
            reasons[p["review_reason"]] = reasons.get(p["review_reason"], 0) + 1

    def pct(values: list[float], q: float) -> float | None:
        return float(np.percentile(values, q)) if values else None

    status_counts: dict[str, int] = {}
    for p in pos:
        status_counts[p["status"]] = status_counts.get(p["status"], 0) + 1
    return {
        "pos": len(pos), "po_statuses": status_counts,
        "pos_by_trigger": {t: sum(1 for p in pos if p["trigger"] == t) for t in sorted({p["trigger"] for p in pos})},
        "duplicate_pos": len(duplicates), "duplicate_po_details": duplicates[:20],
        "supplier_duplicate_deliveries": supplier_duplicates,
        "supplier_requests": len(fake.requests),
        "supplier_outage_answers": sum(1 for r in fake.requests if r.status == 503),
        "committed_mismatch_skus": committed_mismatch,
        "oversell_events": len(oversold), "oversells_resolved_without_person": resolved,
        "oversells_resolved_without_person_share": resolved / len(oversold) if oversold else None,
        "oversells_for_a_person": unresolved[:50], "review_reasons": reasons,
        "detection_to_po_seconds_p50": pct(waits, 50), "detection_to_po_seconds_p95": pct(waits, 95),
        "detection_to_po_seconds_max": max(waits) if waits else None,
        "detection_to_supplier_seconds_p50": pct(to_supplier, 50),
        "detection_to_supplier_seconds_p95": pct(to_supplier, 95),
    }
