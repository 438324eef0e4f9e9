"""Sign in with a user name and password (dashboard_users, Argon2id) or an API token (api_tokens), and sign out.

The sign-in form has no session yet, so its CSRF token is a double-submit cookie scoped to /signin. Every refusal
answers the same way (303 back to the form with a notice) and sets no session cookie.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stockpilot.adapters.db import dashboard_store
from stockpilot.entrypoints.web.guard import (
    MAX_FORM_BYTES,
    Form,
    now_seconds,
    posted_form,
    safe_next,
    signer,
    stockpilot,
)
from stockpilot.entrypoints.web.render import page, redirect
from stockpilot.entrypoints.web.session import LIFETIME_SECONDS, SESSION_COOKIE, SIGNIN_COOKIE
from stockpilot.services.tokens import hash_token

router = APIRouter(include_in_schema=False)
METHODS = ("password", "token")


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, next_path: str = Query("/", alias="next"),
                method: str = Query("password")) -> Response:
    token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
    context = {"next": safe_next(next_path), "signin_csrf": token, "method": method if method in METHODS else
               "password"}
    response = page(request, "signin.html", context, None)
    response.set_cookie(SIGNIN_COOKIE, token, httponly=True, samesite="strict", path="/signin",
                        secure=request.url.scheme == "https")
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    body = await request.body()
    fields = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", errors="replace"))

    def one(name: str) -> str:
        return (fields.get(name) or [""])[0]

    expected = request.cookies.get(SIGNIN_COOKIE) or ""
    next_path = safe_next(one("next") or "/")
    method = one("method") if one("method") in METHODS else "password"
    back = f"/signin?next={quote(next_path)}&method={method}"
    if not expected or not hmac.compare_digest(one("csrf"), expected):
        return redirect(request, back, error="The sign-in form expired; please try again.")
    sp = stockpilot(request)
    now = now_seconds(request)
    if method == "token":
        token = one("token").strip()

        def lookup() -> tuple[int, str] | None:
            with sp.db.read() as conn:
                return dashboard_store.token_id(conn, hash_token(token)) if token else None

        found = await run_in_threadpool(lookup)
        if found is None:
            return redirect(request, back, error="That token is not valid (or was revoked).")
        _, value = signer(request).new_session(found[0], now, who=f"token {found[1]}")
    else:
        result = await run_in_threadpool(sp.users.authenticate, one("username"), one("password"))
        if result.user_id is None:
            return redirect(request, back, error=result.error)
        _, value = signer(request).new_user_session(result.user_id, result.session_version, now, result.name)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(SESSION_COOKIE, value, max_age=LIFETIME_SECONDS, httponly=True, samesite="lax", path="/",
                        secure=request.url.scheme == "https")
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


@router.post("/signout")
def signout(request: Request, form: Form = Depends(posted_form)) -> Response:
    response = redirect(request, "/signin", ok="Signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
