"""Who may see a page and send a form: the session cookie (token still unrevoked) and the CSRF check on POSTs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from stockpilot.adapters.db import dashboard_store
from stockpilot.bootstrap import Stockpilot
from stockpilot.entrypoints.web.session import SESSION_COOKIE, Session, Signer
from stockpilot.services.secrets import app_secret

MAX_FORM_BYTES = 64 * 1024


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class FormRejected(Exception):
    """A POST without the CSRF token of the current session (or a form too large to be ours)."""


@dataclass(frozen=True)
class Form:
    session: Session
    fields: dict[str, list[str]]

    def one(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0].strip() if values else default


def stockpilot(request: Request) -> Stockpilot:
    return request.app.state.stockpilot


def signer(request: Request) -> Signer:
    cached: Signer | None = getattr(request.app.state, "web_signer", None)
    if cached is None:
        sp = stockpilot(request)
        secret = sp.db.write(lambda conn: app_secret(conn, "session", sp.ctx.clock.now()))
        cached = request.app.state.web_signer = Signer(secret)
    return cached


def now_seconds(request: Request) -> float:
    return stockpilot(request).ctx.clock.now().timestamp()


def current_session(request: Request) -> Session:
    """The signed-in session; a revoked token, a disabled user or a changed password ends its sessions at once.
    Sync: FastAPI runs it off the loop."""
    session = signer(request).session(request.cookies.get(SESSION_COOKIE), now_seconds(request))
    if session is not None:
        sp = stockpilot(request)
        if session.user_id is not None:
            if sp.users.active(session.user_id, session.version) is not None:
                return session
        else:
            with sp.db.read() as conn:
                if session.token_id is not None and dashboard_store.token_active(conn, session.token_id):
                    return session
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise SignInRequired(path)


async def posted_form(request: Request, session: Session = Depends(current_session)) -> Form:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormRejected("form too large")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    if not signer(request).csrf_ok(session, (fields.get("csrf") or [""])[0]):
        raise FormRejected("missing or stale CSRF token")
    return Form(session, fields)


def safe_next(value: str | None) -> str:
    """Only a path on this site (no scheme, no //host): sign-in must not redirect elsewhere."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def on_sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if request.url.path.startswith("/live/"):
        return JSONResponse({"error": "unauthorized", "detail": "sign in again"}, status_code=401)
    return RedirectResponse(f"/signin?next={quote(safe_next(exc.next_path))}", status_code=303)


def on_form_rejected(request: Request, exc: Exception) -> Response:
    return HTMLResponse("<!doctype html><title>Form expired</title><p>This form has expired or did not come from "
                        "this dashboard. Go back, reload the page and try again.</p>", status_code=403)
