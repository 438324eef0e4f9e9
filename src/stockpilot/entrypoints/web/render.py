"""Rendering pages: the Jinja2 environment, its display filters, and the one-shot notice after a redirect (PRG)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from stockpilot.entrypoints.web.guard import signer
from stockpilot.entrypoints.web.session import NOTICE_COOKIE, Session

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M")


def _day(value: date | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return value.strftime("%a %d %b")


def _relwords(value: date | str | None, today: date | datetime) -> str:
    """A date near today as words: "today", "tomorrow", "in 3 days", "2 days ago"."""
    if value is None:
        return "—"
    day = date.fromisoformat(value[:10]) if isinstance(value, str) else value
    base = today.date() if isinstance(today, datetime) else today
    delta = (day - base).days
    return {0: "today", 1: "tomorrow", -1: "yesterday"}.get(delta) or (
        f"in {delta} days" if delta > 0 else f"{-delta} days ago")


def _relday(value: date | str | None, today: date | datetime) -> str:
    """A date near today as words, with the date itself: "in 3 days (Fri 04 Dec)"."""
    if value is None:
        return "—"
    return f"{_relwords(value, today)} ({_day(value)})"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _num(value: float | None, places: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{places}f}"


def _label(value: str | None) -> str:
    return (value or "").replace("_", " ")


templates.env.filters.update(when=_when, day=_day, relday=_relday, relwords=_relwords, age=_age, pct=_pct, num=_num,
                             label=_label)


def page(request: Request, name: str, context: dict[str, Any], session: Session | None, *,
         status_code: int = 200) -> HTMLResponse:
    """Render a page; the notice left by the last redirect is shown once and cleared."""
    notice = signer(request).unsign("notice", request.cookies.get(NOTICE_COOKIE))
    csrf = signer(request).csrf(session) if session else None
    shared = {"csrf": csrf, "notice": notice, "path": request.url.path, "who": session.who if session else ""}
    response = templates.TemplateResponse(request, name, {**context, **shared}, status_code=status_code)
    if notice is not None:
        response.delete_cookie(NOTICE_COOKIE, path="/")
    return response


def redirect(request: Request, to: str, *, ok: str | None = None, error: str | None = None) -> RedirectResponse:
    """303 to `to` (Post/Redirect/Get), carrying a notice of what happened for the next page."""
    response = RedirectResponse(to, status_code=303)
    if ok or error:
        value = signer(request).sign("notice", {"kind": "error" if error else "ok", "text": (error or ok or "")[:500]})
        response.set_cookie(NOTICE_COOKIE, value, httponly=True, samesite="lax", path="/",
                            secure=request.url.scheme == "https")
    return response
