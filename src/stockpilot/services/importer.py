"""`stockpilot import FILE`: catalog and stock from a CSV file (Stockpilot's own layout or Shopify's exports).

The whole file is checked before anything is written. With any bad row, nothing is imported unless the caller
chose to skip invalid rows. Good rows are then written in batches (one transaction each, for speed on files of
tens of thousands of rows); a row is never half-imported. Counts become `set` movements in the ledger whose
idempotency key is the file's SHA-256 and the line, so importing the same file again changes nothing, even after
sales moved the stock in between; a batch that failed can be resumed by simply importing the file again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from stockpilot.adapters import csv_catalog
from stockpilot.adapters.csv_catalog import CatalogRow, RowError, StockCount
from stockpilot.adapters.db import catalog_store, import_store, ledger
from stockpilot.adapters.db.ledger import LocationRef, SkuRef
from stockpilot.domain.errors import ValidationFailed
from stockpilot.domain.model import BackorderPolicy, Delta, MovementKind
from stockpilot.services.context import Context

BATCH_ROWS = 500
SOURCE = "import"

Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    file: str
    format: str | None = None
    rows_read: int = 0
    rows_imported: int = 0
    rows_skipped: int = 0  # nothing to import on them (e.g. Shopify image rows), not errors
    rows_invalid: int = 0
    skus_created: int = 0
    skus_updated: int = 0
    skus_unchanged: int = 0
    stock_levels_set: int = 0
    stock_levels_already_imported: int = 0  # by an earlier import of this very file
    errors: list[RowError] = field(default_factory=list)
    fatal: bool = False  # the file as a whole could not be read; skipping rows would not help

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class _Count:
    location: LocationRef
    on_hand: int
    key: str


@dataclass(frozen=True, slots=True)
class _Plan:
    row: CatalogRow
    counts: tuple[_Count, ...]


@dataclass
class _Known:
    """What the batch's transaction already knows, loaded once per batch and kept current row by row."""

    skus: dict[str, dict[str, Any]]
    products: dict[str, dict[str, Any]]
    keys: set[str]


@dataclass(frozen=True, slots=True)
class _RowResult:
    sku: dict[str, Any]
    product: dict[str, Any] | None
    created: bool
    updated: bool
    keys_applied: tuple[str, ...]
    keys_replayed: int


@dataclass
class _BatchResult:
    created: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    imported: int = 0
    stock_set: int = 0
    stock_replayed: int = 0
    errors: list[RowError] = field(default_factory=list)


class _RowFailed(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


class ImportService:
    def __init__(self, ctx: Context, *, batch_rows: int = BATCH_ROWS) -> None:
        self.ctx = ctx
        self.batch_rows = batch_rows

    def import_file(self, path: str | Path, *, skip_invalid: bool = False, progress: Progress | None = None,
                    location: str | None = None) -> ImportReport:
        """Import catalog rows and on-hand counts from `path`.

        `location` (a code or name) receives counts the file does not place, such as the single-location
        quantities of Shopify's product CSV; without it they go to the only location, if there is just one.
        """
        data = Path(path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        parsed = csv_catalog.parse_catalog(data)
        report = ImportReport(
            file=str(path),
            format=parsed.format.value if parsed.format else None,
            rows_read=parsed.rows_read,
            rows_skipped=len(parsed.skipped_lines),
            errors=list(parsed.errors),
            fatal=parsed.fatal,
        )
        if parsed.fatal:
            return report
        plans, plan_errors = self._plan(parsed.rows, digest, location)
        report.errors = sorted(report.errors + plan_errors, key=lambda error: error.line)
        invalid = {error.line for error in report.errors}
        report.rows_invalid = len(invalid)
        if invalid and not skip_invalid:
            return report  # all or nothing: the file is fixed and imported whole, or not at all
        good = [plan for plan in plans if plan.row.line not in invalid]
        self._apply(good, digest, Path(path).name, report, skip_invalid, progress)
        return report

    # --- checking the rows against the database -----------------------------------------------------------

    def _plan(self, rows: list[CatalogRow], digest: str, default: str | None) -> tuple[list[_Plan], list[RowError]]:
        with self.ctx.db.read() as conn:
            places = _Locations(import_store.named_locations(conn))
        default_ref, default_problem = places.default(default)
        plans: list[_Plan] = []
        errors: list[RowError] = []
        for row in rows:
            counts: list[_Count] = []
            for count in row.counts:
                ref, problem = (places.find(count.location) if count.location is not None
                                else (default_ref, default_problem))
                column = count.location_column if count.location is not None else count.column
                if ref is None:
                    errors.append(RowError(row.line, column, problem or "no location"))
                elif any(c.location.id == ref.id for c in counts):
                    errors.append(RowError(row.line, column, f"location {ref.code!r} is given twice on this row"))
                else:
                    counts.append(_Count(ref, count.on_hand, _key(digest, row.line, count, ref)))
            plans.append(_Plan(row, tuple(counts)))
        return plans, errors

    # --- writing -------------------------------------------------------------------------------------------

    def _apply(self, plans: list[_Plan], digest: str, file_name: str, report: ImportReport, skip_invalid: bool,
               progress: Progress | None) -> None:
        created: set[str] = set()
        updated: set[str] = set()
        seen: set[str] = set()
        if progress:
            progress(0, len(plans))
        for start in range(0, len(plans), self.batch_rows):
            batch = plans[start:start + self.batch_rows]
            try:
                result = self.ctx.db.write(
                    lambda conn, batch=batch: self._write_batch(conn, batch, digest, file_name, skip_invalid)
                )
            except _RowFailed as failed:
                report.errors.append(RowError(failed.line, None, (
                    f"could not be written ({failed.reason}); the import stopped here: rows before line "
                    f"{batch[0].row.line} are imported, the rest are not; importing the file again resumes"
                )))
                report.rows_invalid += 1
                break
            created |= result.created
            updated |= result.updated
            seen |= result.seen
            report.rows_imported += result.imported
            report.stock_levels_set += result.stock_set
            report.stock_levels_already_imported += result.stock_replayed
            report.errors.extend(result.errors)
            report.rows_invalid += len(result.errors)
            if progress:
                progress(start + len(batch), len(plans))
        report.skus_created = len(created)
        report.skus_updated = len(updated - created)
        report.skus_unchanged = len(seen - created - updated)

    def _write_batch(self, conn: Connection, batch: list[_Plan], digest: str, file_name: str,
                     skip_invalid: bool) -> _BatchResult:
        now = self.ctx.clock.now()
        known = _Known(
            skus=import_store.skus_by_code(conn, {p.row.sku for p in batch}),
            products=import_store.products_by_handle(conn, {p.row.product.handle for p in batch if p.row.product}),
            keys=import_store.existing_movement_keys(conn, {c.key for p in batch for c in p.counts}),
        )
        result = _BatchResult()
        for plan in batch:
            try:
                if skip_invalid:
                    with conn.begin_nested():  # a savepoint: a failing row is rolled back alone
                        row_result = self._write_row(conn, plan, known, digest, file_name, now)
                else:
                    row_result = self._write_row(conn, plan, known, digest, file_name, now)
            except (IntegrityError, _RowFailed) as exc:
                reason = exc.reason if isinstance(exc, _RowFailed) else _first_line(exc.orig)
                if not skip_invalid:
                    raise _RowFailed(plan.row.line, reason) from exc
                result.errors.append(RowError(plan.row.line, None, f"could not be written: {reason}"))
                continue
            _remember(known, plan, row_result)
            _tally(result, plan, row_result)
        return result

    def _write_row(self, conn: Connection, plan: _Plan, known: _Known, digest: str, file_name: str,
                   now: datetime) -> _RowResult:
        row = plan.row
        product = _upsert_product(conn, row, known.products.get(row.product.handle) if row.product else None, now)
        sku, created, updated = _upsert_sku(conn, row, known.skus.get(row.sku), product, now)
        ref = SkuRef(sku["id"], row.sku, BackorderPolicy(sku["backorder_policy"]), sku["backorder_cap"],
                     sku["low_stock_threshold"])
        applied: list[str] = []
        for count in plan.counts:
            if count.key in known.keys:
                continue
            _set_count(conn, ref, count, reference=f"import:{digest}",
                       reason=f"import of {file_name}, line {row.line}"[:500], now=now, line=row.line)
            applied.append(count.key)
        return _RowResult(sku, product, created, updated, tuple(applied), len(plan.counts) - len(applied))


# --- the pieces of one row ------------------------------------------------------------------------------------


def _upsert_product(conn: Connection, row: CatalogRow, existing: dict[str, Any] | None,
                    now: datetime) -> dict[str, Any] | None:
    fields = row.product
    if fields is None:
        return None
    given = {"title": fields.title, "vendor": fields.vendor, "product_type": fields.product_type}
    if existing is None:
        values = {**given, "handle": fields.handle, "title": fields.title or row.title or fields.handle}
        return {**values, "id": import_store.insert_product(conn, values, now)}
    changes = {name: value for name, value in given.items() if value is not None and existing[name] != value}
    import_store.update_product(conn, existing["id"], changes)
    return {**existing, **changes}


def _upsert_sku(conn: Connection, row: CatalogRow, existing: dict[str, Any] | None,
                product: dict[str, Any] | None, now: datetime) -> tuple[dict[str, Any], bool, bool]:
    """Create or update the SKU with what the row gives; returns (the SKU as it now is, created?, updated?)."""
    values = row.sku_fields()
    if product is not None:
        values["product_id"] = product["id"]
    if existing is None:
        defaults = {"title": "", "barcode": None, "options": {}, "backorder_policy": BackorderPolicy.DENY.value,
                    "backorder_cap": None, "low_stock_threshold": None, "product_id": None}
        full = {"sku": row.sku, **defaults, **values}
        return {**full, "id": catalog_store.insert_sku(conn, full, now)}, True, False
    # Only real differences are written, so a re-import leaves updated_at (and the report) alone.
    changes = {name: value for name, value in values.items() if existing[name] != value}
    catalog_store.update_sku(conn, existing["id"], changes, now)
    return {**existing, **changes}, False, bool(changes)


def _set_count(conn: Connection, sku: SkuRef, count: _Count, *, reference: str, reason: str, now: datetime,
               line: int) -> None:
    current = ledger.read_level(conn, sku.id, count.location.id, for_update=True)
    delta = Delta(on_hand=count.on_hand - (current.on_hand if current else 0))
    # Written even when the delta is zero: the key records that this line was applied, so a later re-import
    # of the file cannot reset a count that sales have moved since.
    applied = ledger.apply(
        conn, sku=sku, location=count.location, kind=MovementKind.SET, delta=delta, floor=None, source=SOURCE,
        reference=reference, idempotency_key=count.key, now=now, reason=reason,
    )
    if applied is None:
        raise _RowFailed(line, f"{sku.sku} at {count.location.code}: the ledger refused on_hand {count.on_hand}")


def _remember(known: _Known, plan: _Plan, result: _RowResult) -> None:
    """Carry a written row's effects to later rows of the batch (only once the row went through whole)."""
    known.skus[plan.row.sku] = result.sku
    if plan.row.product and result.product:
        known.products[plan.row.product.handle] = result.product
    known.keys.update(result.keys_applied)


def _tally(batch: _BatchResult, plan: _Plan, result: _RowResult) -> None:
    batch.seen.add(plan.row.sku)
    if result.created:
        batch.created.add(plan.row.sku)
    if result.updated:
        batch.updated.add(plan.row.sku)
    batch.imported += 1
    batch.stock_set += len(result.keys_applied)
    batch.stock_replayed += result.keys_replayed


def _first_line(error: BaseException) -> str:
    return next(iter(str(error).splitlines()), type(error).__name__)


def _key(digest: str, line: int, count: StockCount, location: LocationRef) -> str:
    # A line holds one count, keyed by file and line; in the older Shopify inventory layout a line holds a
    # count per location column, so those keys also name the location.
    base = f"import:{digest}:{line}"
    return f"{base}:{location.code}" if count.in_location_column else base


class _Locations:
    """Location lookup by code, then by display name (Shopify's files name locations, not codes)."""

    def __init__(self, places: list[tuple[LocationRef, str]]) -> None:
        self.refs = [ref for ref, _ in places]
        self.by_code = {ref.code: ref for ref, _ in places}
        self.by_name: dict[str, list[LocationRef]] = {}
        for ref, name in places:
            self.by_name.setdefault(name, []).append(ref)

    def find(self, name: str) -> tuple[LocationRef | None, str | None]:
        if name in self.by_code:
            return self.by_code[name], None
        named = self.by_name.get(name, [])
        if len(named) == 1:
            return named[0], None
        if named:
            return None, f'location name "{name}" is shared by {", ".join(r.code for r in named)}; use a code'
        return None, f'unknown location "{name}"; create it first (known: {self._known()})'

    def default(self, name: str | None) -> tuple[LocationRef | None, str | None]:
        """The location for counts the file does not place; a named default that does not exist is refused."""
        if name is not None:
            ref, problem = self.find(name)
            if ref is None:
                raise ValidationFailed(problem or f"unknown location {name!r}")
            return ref, None
        if len(self.refs) == 1:
            return self.refs[0], None
        if not self.refs:
            return None, "no location exists yet to hold this count; create one first"
        return None, (f"the file names no location for this count and there are {len(self.refs)}; "
                      f"choose one with --location (known: {self._known()})")

    def _known(self) -> str:
        codes = sorted(self.by_code)
        shown = ", ".join(codes[:10]) or "none"
        return shown + (f" and {len(codes) - 10} more" if len(codes) > 10 else "")
