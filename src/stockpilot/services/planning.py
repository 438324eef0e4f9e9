"""Per-SKU planning settings (service level, manual min/max, cover) and the stored policy the triggers read."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import planned_events, sku_policies, skus
from stockpilot.domain.errors import NotFound, ValidationFailed
from stockpilot.services.context import Context
from stockpilot.services.lookups import require_sku

SETTING_FIELDS = ("service_level", "manual_min", "manual_max", "target_cover_days", "policy")
POLICIES = ("stockpilot", "naive")


class PlanningSettings:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def set_policy(self, sku: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change a SKU's planning settings; a field given as None is cleared (e.g. manual min/max removed)."""
        values = validate_settings(fields)
        return self.ctx.db.write(lambda conn: apply_settings(conn, sku, values, self.ctx.clock.now()))


    def add_event(self, name: str, starts_on: str, ends_on: str, multiplier: float,
                  sku: str | None = None) -> dict[str, Any]:
        """A promotion or season: demand on days in [starts_on, ends_on] is `multiplier` times the usual."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationFailed("name is required")
        try:
            start, end = date.fromisoformat(str(starts_on)), date.fromisoformat(str(ends_on))
        except ValueError:
            raise ValidationFailed(f"starts_on and ends_on must be dates (YYYY-MM-DD), got {starts_on!r}, "
                                   f"{ends_on!r}") from None
        if end < start:
            raise ValidationFailed(f"ends_on {end} is before starts_on {start}")
        if isinstance(multiplier, bool) or not isinstance(multiplier, int | float) or not 0 < multiplier <= 100:
            raise ValidationFailed(f"multiplier must be a number in (0, 100], got {multiplier!r}")

        def work(conn: Connection) -> dict[str, Any]:
            sku_id = require_sku(conn, sku).id if sku else None
            event_id = conn.execute(insert(planned_events).values(
                name=name.strip(), sku_id=sku_id, starts_on=start, ends_on=end, multiplier=float(multiplier),
            ).returning(planned_events.c.id)).scalar_one()
            return {"id": event_id, "name": name.strip(), "sku": sku, "starts_on": start.isoformat(),
                    "ends_on": end.isoformat(), "multiplier": float(multiplier)}

        return self.ctx.db.write(work)

    def list_events(self) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            rows = conn.execute(
                select(planned_events, skus.c.sku).outerjoin(skus, skus.c.id == planned_events.c.sku_id)
                .order_by(planned_events.c.starts_on, planned_events.c.id)
            ).all()
        return [{"id": r.id, "name": r.name, "sku": r.sku, "starts_on": r.starts_on.isoformat(),
                 "ends_on": r.ends_on.isoformat(), "multiplier": r.multiplier} for r in rows]

    def remove_event(self, event_id: int) -> None:
        def work(conn: Connection) -> None:
            if conn.execute(delete(planned_events).where(planned_events.c.id == event_id)).rowcount != 1:
                raise NotFound(f"unknown planned event {event_id}")

        self.ctx.db.write(work)


def apply_settings(conn: Connection, sku: str, values: dict[str, Any], now: Any) -> dict[str, Any]:
    """Store validated settings for a SKU inside the caller's transaction; returns its policy row."""
    ref = require_sku(conn, sku)
    conn.execute(insert_or_ignore(conn, sku_policies)
                 .values(sku_id=ref.id, policy="stockpilot", updated_at=now).on_conflict_do_nothing())
    merged = {**policy_row(conn, ref.id), **values}
    if (merged.get("manual_min") is None) != (merged.get("manual_max") is None):
        raise ValidationFailed("manual_min and manual_max go together: give both, or clear both")
    if merged.get("manual_min") is not None and merged["manual_min"] > merged["manual_max"]:
        raise ValidationFailed(f"manual_min {merged['manual_min']} is above manual_max {merged['manual_max']}")
    conn.execute(update(sku_policies).where(sku_policies.c.sku_id == ref.id).values(updated_at=now, **values))
    row = policy_row(conn, ref.id)
    return {"sku": sku, **{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()
                           if k != "sku_id"}}


def policy_row(conn: Connection, sku_id: int) -> dict[str, Any]:
    row = conn.execute(select(sku_policies).where(sku_policies.c.sku_id == sku_id)).first()
    return dict(row._mapping) if row else {}


def validate_settings(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(SETTING_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown policy field(s): {', '.join(sorted(unknown))}")
    values = dict(fields)
    level = values.get("service_level")
    if level is not None and (isinstance(level, bool) or not isinstance(level, int | float) or not 0.5 <= level < 1):
        raise ValidationFailed(f"service_level must be a fraction in [0.5, 1), got {level!r}")
    for name in ("manual_min", "manual_max"):
        value = values.get(name)
        if value is not None and (type(value) is not int or value < 0):
            raise ValidationFailed(f"{name} must be a non-negative integer, got {value!r}")
    cover = values.get("target_cover_days")
    if cover is not None and (isinstance(cover, bool) or not isinstance(cover, int | float) or cover < 0):
        raise ValidationFailed(f"target_cover_days must be a non-negative number, got {cover!r}")
    if "policy" in values and values["policy"] not in POLICIES:
        raise ValidationFailed(f"policy must be one of {', '.join(POLICIES)}, got {values['policy']!r}")
    if "policy" in values and values["policy"] is None:
        values.pop("policy")
    return values
