"""Per-SKU planning settings (service level, manual min/max, cover) and the stored policy the triggers read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import sku_policies
from stockpilot.domain.errors import ValidationFailed
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

        def work(conn: Connection) -> dict[str, Any]:
            ref = require_sku(conn, sku)
            now = self.ctx.clock.now()
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

        return self.ctx.db.write(work)


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
