"""A person overriding a SKU's planning settings from the dashboard: stored, explained and acted on at once.

One transaction stores the settings (the same rules as `PUT /skus/{sku}/policy`), writes a `policy_override`
decision naming who and what changed (so a later automated PO can be traced back to it), and asks the runtime
for a `plan.recompute` (an outbox row a worker runs outside any transaction), so the reorder point the triggers
read reflects the override within seconds instead of at the next daily recompute.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from stockpilot.runtime import decisions, outbox
from stockpilot.services.context import Context
from stockpilot.services.planning import SETTING_FIELDS, apply_settings, validate_settings
from stockpilot.services.purchasing import PLAN_TOPIC


class PolicyOverrides:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def set(self, sku: str, fields: dict[str, Any], *, by: str) -> dict[str, Any]:
        values = validate_settings(fields)

        def work(conn: Connection) -> dict[str, Any]:
            now = self.ctx.clock.now()
            before = {k: v for k, v in apply_settings(conn, sku, {}, now).items() if k in SETTING_FIELDS}
            after = apply_settings(conn, sku, values, now)
            changed = {k: after.get(k) for k in SETTING_FIELDS if after.get(k) != before.get(k)}
            if changed:
                words = ", ".join(f"{k} {before.get(k)} -> {v}" for k, v in changed.items())
                decisions.record(conn, sku, "policy_override", {"before": before, "by": by}, [], changed,
                                 f"{by} set {words}; planning recomputes now", now)
                outbox.enqueue(conn, PLAN_TOPIC, {"requested_at": now.isoformat(), "by": by},
                               f"plan:override:{sku}:{now.isoformat()}", now)
            return {**after, "changed": changed}

        return self.ctx.db.write(work)
