"""`stockpilot import history FILE.csv`: daily demand per SKU from a CSV, checked whole before anything is written.

Columns (header row, case-insensitive): `sku`, `date` (YYYY-MM-DD), and `units` (or `quantity`). Rows for the same
SKU and day are summed; negative units (returns) are allowed on a row but a day's total may not be negative.
Every error names its line and column; one bad row imports nothing. Importing a file again sets the same
(SKU, day) figures again: the file is the truth for the days it names.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import Connection

from stockpilot.adapters.csv_catalog import RowError
from stockpilot.adapters.db import demand_series, demand_store
from stockpilot.adapters.db.catalog_store import sku_ref
from stockpilot.services.context import Context

UNIT_COLUMNS = ("units", "quantity")


@dataclass
class HistoryReport:
    rows_read: int = 0
    days_imported: int = 0
    skus: int = 0
    errors: list[RowError] = field(default_factory=list)


class HistoryImport:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def import_file(self, path: Path) -> HistoryReport:
        report = HistoryReport()
        totals: dict[tuple[str, date], int] = {}
        first_line: dict[str, int] = {}
        day_line: dict[tuple[str, date], int] = {}
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = {name.strip().lower(): name for name in reader.fieldnames or []}
            units_col = next((header[c] for c in UNIT_COLUMNS if c in header), None)
            missing = [c for c in ("sku", "date") if c not in header] + ([] if units_col else ["units"])
            if missing:
                report.errors.append(RowError(1, missing[0], f"missing column(s): {', '.join(missing)}"))
                return report
            for row in reader:
                report.rows_read += 1
                line = reader.line_num
                sku = (row.get(header["sku"]) or "").strip()
                if not sku:
                    report.errors.append(RowError(line, "sku", "empty"))
                    continue
                try:
                    day = date.fromisoformat((row.get(header["date"]) or "").strip())
                except ValueError:
                    shown = row.get(header["date"])
                    report.errors.append(RowError(line, "date", f"not a date (YYYY-MM-DD): {shown!r}"))
                    continue
                raw = (row.get(units_col) or "").strip()
                if not raw.lstrip("-").isdigit():
                    report.errors.append(RowError(line, units_col, f"not a whole number: {raw!r}"))
                    continue
                totals[(sku, day)] = totals.get((sku, day), 0) + int(raw)
                first_line.setdefault(sku, line)
                day_line[(sku, day)] = line
        if report.errors:
            return report

        def work(conn: Connection) -> None:
            ids: dict[str, int] = {}
            for sku in sorted({s for s, _ in totals}):
                ref = sku_ref(conn, sku)
                if ref is None:
                    report.errors.append(RowError(first_line[sku], "sku",
                                                  f"unknown SKU {sku!r} (import the catalog first)"))
                else:
                    ids[sku] = ref.id
            negative = [(s, d) for (s, d), units in totals.items() if units < 0]
            for s, d in negative[:20]:
                report.errors.append(RowError(day_line[(s, d)], "units", f"{s} on {d}: the day's total is negative"))
            if report.errors:
                return
            values = [{"sku_id": ids[s], "day": d, "units": u} for (s, d), u in sorted(totals.items())]
            for lo in range(0, len(values), 5000):
                demand_store.upsert_history(conn, values[lo:lo + 5000])
            demand_series.mark_stale(conn, ids.values())  # past days changed: planning rebuilds these series
            report.days_imported = len(values)
            report.skus = len(ids)

        self.ctx.db.write(work)
        return report
