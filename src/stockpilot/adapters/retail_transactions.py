"""Retail transaction files (the UCI "Online Retail" columns) -> daily demand per StockCode.

Columns (header required, any order, extra columns ignored): InvoiceNo, StockCode, Description, Quantity,
InvoiceDate, UnitPrice, CustomerID, Country. Plain CSV or gzip (by the `.gz` suffix). InvoiceDate is ISO
`YYYY-MM-DD HH:MM[:SS]` or the UCI original `M/D/YYYY H:MM`.

What counts as demand, deliberately:
- a sale (positive Quantity, UnitPrice > 0, a product code) is demand on its calendar day;
- a cancellation (InvoiceNo starting with "C", negative Quantity) nets out the same customer's most recent earlier
  sale of the same code (across several sales if needed, never below zero): the customer withdrew that demand.
  Unmatched cancellations (their sale predates the file, or no customer id) change nothing: they are not negative
  demand on the day they happen;
- other negative quantities (no "C" invoice: damages, stock corrections, returns booked as adjustments) and
  zero-price lines are stock adjustments, not demand: skipped and counted;
- non-product codes (postage, manual, fees, charges, vouchers: no digit in the code, C2, gift_*, DCGS*) are dropped.
A malformed line raises `TransactionFileError` naming its line and field; nothing is half-loaded.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np

REQUIRED = ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")
NON_PRODUCT_CODES = frozenset({"POST", "DOT", "M", "D", "S", "B", "C2", "CRUK", "PADS", "AMAZONFEE", "BANK CHARGES"})


class TransactionFileError(ValueError):
    """A line that cannot be read: the message names the line number (1 = header) and the field."""


@dataclass(frozen=True)
class DailyDemand:
    """`demand[i, d]` = units of `codes[i]` demanded on `start + d` (calendar days, zeros included)."""

    codes: list[str]
    start: date
    demand: np.ndarray  # float64 (skus x days)
    unit_price: np.ndarray  # median selling price per code
    description: list[str]
    counts: dict[str, int] = field(default_factory=dict)  # what was dropped or netted, for the report

    @property
    def days(self) -> int:
        return int(self.demand.shape[1])


def is_product_code(code: str) -> bool:
    c = code.strip()
    if not c or c.upper() in NON_PRODUCT_CODES or not any(ch.isdigit() for ch in c):
        return False
    return not (c.lower().startswith("gift_") or c.upper().startswith("DCGS"))


def _open(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")  # the caller closes it (with ...)


def _parse_day(text: str) -> date:
    t = text.strip()
    if "/" in t[:10]:  # the UCI original M/D/YYYY: the cache key (first 10 chars) may hold the hour, so re-split
        return datetime.strptime(t.split(" ")[0], "%m/%d/%Y").date()
    if len(t) >= 10 and t[4] == "-":
        return date(int(t[0:4]), int(t[5:7]), int(t[8:10]))
    return datetime.strptime(t.split(" ")[0], "%m/%d/%Y").date()


def load_transactions(path: Path | str) -> DailyDemand:
    """Read the whole file, then build the daily matrix (see the module docstring for the rules)."""
    path = Path(path)
    if not path.is_file():
        raise TransactionFileError(f"{path}: no such file")
    sales: list[tuple[int, int, str, str, int, float]] = []  # (day, line, customer, code, qty, price)
    cancels: list[tuple[int, int, str, str, int]] = []
    counts = defaultdict(int)
    names: dict[str, str] = {}
    with _open(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise TransactionFileError(f"{path}: line 1: empty file, expected a header")
        col = {name.strip().lstrip("\ufeff"): k for k, name in enumerate(header)}
        missing = [c for c in REQUIRED if c not in col]
        if missing:
            raise TransactionFileError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        ix = [col[c] for c in REQUIRED]
        i0, i1, i2, i3, i4, i5 = ix
        product: dict[str, bool] = {}
        desc_ix = col.get("Description")
        width = max(ix) + 1
        day_cache: dict[str, int] = {}  # a file has a few hundred distinct days: parse each once
        for lineno, row in enumerate(reader, start=2):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) < width:
                raise TransactionFileError(f"{path}: line {lineno}: {len(row)} fields, expected at least {width}")
            invoice, code, qty_s, when, price_s, customer = row[i0], row[i1], row[i2], row[i3], row[i4], row[i5]
            try:
                qty = int(float(qty_s))
            except ValueError:
                raise TransactionFileError(f"{path}: line {lineno}: field Quantity: {qty_s!r} is not a number") \
                    from None
            try:
                price = float(price_s)
                if not math.isfinite(price):
                    raise ValueError
            except ValueError:
                raise TransactionFileError(f"{path}: line {lineno}: field UnitPrice: {price_s!r} is not a number") \
                    from None
            try:
                day = day_cache.get(when[:10])
                if day is None:
                    day = day_cache[when[:10]] = _parse_day(when).toordinal()
            except (ValueError, IndexError):
                raise TransactionFileError(f"{path}: line {lineno}: field InvoiceDate: {when!r} is not a date "
                                           "(YYYY-MM-DD HH:MM:SS or M/D/YYYY H:MM)") from None
            code = code.strip()
            keep = product.get(code)
            if keep is None:
                keep = product[code] = is_product_code(code)
            if not keep:
                counts["non_product_lines"] += 1
                continue
            if qty < 0 and invoice[:1] in ("C", "c"):
                cancels.append((day, lineno, customer.strip(), code, -qty))
            elif qty < 0:
                counts["negative_adjustment_lines"] += 1
            elif qty == 0 or price <= 0:
                counts["zero_quantity_or_price_lines"] += 1
            else:
                sales.append((day, lineno, customer.strip(), code, qty, price))
                if desc_ix is not None and code not in names and desc_ix < len(row):
                    names[code] = row[desc_ix].strip()
    if not sales:
        raise TransactionFileError(f"{path}: no sale lines of product codes")
    return _daily(sales, cancels, names, dict(counts))


def _daily(sales: list[tuple[int, int, str, str, int, float]], cancels: list[tuple[int, int, str, str, int]],
           names: dict[str, str], counts: dict[str, int]) -> DailyDemand:
    first = min(s[0] for s in sales)
    last = max(s[0] for s in sales)
    codes = sorted({s[3] for s in sales})
    row_of = {c: i for i, c in enumerate(codes)}
    day_ix = np.fromiter((s[0] - first for s in sales), np.int64, len(sales))
    row_ix = np.fromiter((row_of[s[3]] for s in sales), np.int64, len(sales))
    qty = np.fromiter((s[4] for s in sales), np.float64, len(sales))
    demand = np.zeros((len(codes), last - first + 1))
    np.add.at(demand, (row_ix, day_ix), qty)
    price_all = np.fromiter((s[5] for s in sales), np.float64, len(sales))
    order = np.lexsort((price_all, row_ix))  # by code, then price: each code's prices sorted, median by index
    sorted_price = price_all[order]
    bounds = np.searchsorted(row_ix[order], np.arange(len(codes) + 1))
    lo, hi = bounds[:-1], bounds[1:] - 1
    price = (sorted_price[lo + (hi - lo) // 2] + sorted_price[lo + (hi - lo + 1) // 2]) / 2.0
    # Cancellations in time order against the sales made before them by the same customer (latest first).
    netted = unmatched = 0
    if cancels:
        history: dict[tuple[str, str], list[list[int]]] = defaultdict(list)
        events = sorted([(s[0], s[1], 0, s) for s in sales if s[2]] + [(c[0], c[1], 1, c) for c in cancels])
        for day, _line, kind, item in events:
            key = (item[2], item[3])
            if kind == 0:
                history[key].append([day, item[4]])
                continue
            left = item[4]
            stack = history.get(key) if item[2] else None
            while left > 0 and stack:
                sale = stack[-1]
                take = min(left, sale[1])
                demand[row_of[item[3]], sale[0] - first] -= take
                sale[1] -= take
                left -= take
                netted += take
                if sale[1] == 0:
                    stack.pop()
            unmatched += left
    counts.update(sale_lines=len(sales), cancellation_lines=len(cancels), cancelled_units_netted=netted,
                  cancelled_units_unmatched=unmatched)
    np.maximum(demand, 0.0, out=demand)
    return DailyDemand(codes=codes, start=date.fromordinal(first), demand=demand, unit_price=price,
                       description=[names.get(c, "") for c in codes], counts=counts)
