"""Sign in with an API token (the api_tokens table) and sign out. User/password sign-in waits for a users table."""

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


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, next_path: str = Query("/", alias="next")) -> Response:
    token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
    response = page(request, "signin.html", {"next": safe_next(next_path), "signin_csrf": token}, None)
    response.set_cookie(SIGNIN_COOKIE, token, httponly=True, samesite="strict", path="/signin",
                        secure=request.url.scheme == "https")
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    body = await request.body()
    fields = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", errors="replace"))
    given = (fields.get("csrf") or [""])[0]
    expected = request.cookies.get(SIGNIN_COOKIE) or ""
    next_path = safe_next((fields.get("next") or ["/"])[0])
    if not expected or not hmac.compare_digest(given, expected):
        return redirect(request, f"/signin?next={quote(next_path)}",
                        error="The sign-in form expired; please try again.")
    token = (fields.get("token") or [""])[0].strip()
    sp = stockpilot(request)

    def lookup() -> int | None:
        with sp.db.read() as conn:
            return dashboard_store.token_id(conn, hash_token(token)) if token else None

    token_id = await run_in_threadpool(lookup)
    if token_id is None:
        return redirect(request, f"/signin?next={quote(next_path)}", error="That token is not valid (or was revoked).")
    _, value = signer(request).new_session(token_id, now_seconds(request))
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
