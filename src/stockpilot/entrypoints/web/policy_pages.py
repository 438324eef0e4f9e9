"""The SKU page's planning override form: service level, manual min/max, cover, rule (PolicyOverrides.set)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from stockpilot.domain.errors import StockpilotError
from stockpilot.entrypoints.web.guard import Form, posted_form, stockpilot
from stockpilot.entrypoints.web.render import redirect
from stockpilot.services.policy_overrides import PolicyOverrides

router = APIRouter(include_in_schema=False)


class _Bad(Exception):
    pass


def _number(form: Form, name: str, label: str, *, whole: bool) -> Any:
    text = form.one(name).replace(",", ".")
    if not text:
        return None  # blank: back to the default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        raise _Bad(f"{label}: expected {'a whole number' if whole else 'a number'}, got {text!r}") from None
    return value


@router.post("/inventory/{sku}/policy")
def set_policy(request: Request, sku: str, form: Form = Depends(posted_form)) -> Response:
    back = f"/inventory/{quote(sku)}#settings-h"
    try:
        level = _number(form, "service_level", "Service level", whole=False)
        fields = {
            "service_level": None if level is None else round(level / 100, 6),  # the form speaks percent
            "manual_min": _number(form, "manual_min", "Manual min", whole=True),
            "manual_max": _number(form, "manual_max", "Manual max", whole=True),
            "target_cover_days": _number(form, "target_cover_days", "Target cover", whole=False),
        }
        if form.one("policy"):
            fields["policy"] = form.one("policy")
        done = PolicyOverrides(stockpilot(request).ctx).set(sku, fields, by=form.session.who or "a person")
    except _Bad as exc:
        return redirect(request, back, error=str(exc))
    except StockpilotError as exc:
        return redirect(request, back, error=exc.detail)
    if not done["changed"]:
        return redirect(request, back, ok="Nothing changed.")
    return redirect(request, back, ok=f"Planning settings of {sku} saved ({', '.join(done['changed'])}); the "
                                      "reorder point is being recomputed and shows here in a few seconds.")
