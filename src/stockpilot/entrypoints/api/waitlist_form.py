"""The embeddable back-in-stock form: `GET /waitlist/form?sku=...` for an iframe on the shop's pages, and the
`POST /waitlist/form` it submits to (the same `waitlist.join` as `POST /api/v1/waitlist`, without an API token).

Cross-origin embedding without CSRF holes:
- No ambient authority. The form sets no cookie and the POST needs none: there is no session a hostile page
  could ride (and third-party iframes lose their cookies in today's browsers anyway). What is left to forge is a
  signup, which is what double opt-in (`waitlist_double_opt_in`) and the signed unsubscribe link are for.
- The POST must come from a page we served. The browser names the submitting page in `Origin`; anything but our
  own origin (the iframe's document is ours, wherever it is embedded) is refused with 403, so a hostile page cannot
  post a form of its own to us from a visitor's browser. The form carries a signed token (SKU and time, HMAC under
  the `waitlist` secret, 2 hours): a POST without a form we rendered recently is refused.
- Who may frame it is the shop's call: `Content-Security-Policy: frame-ancestors <waitlist_form_frame_ancestors>`.
  Everything else in the page is locked down (default-src 'none', a per-response nonce for its one style and one
  script, form-action 'self', no referrer, no-store).
- Bots: a visually hidden `website` field people never fill; a POST that fills it is answered "thanks" and stored
  nowhere. Floods: per client address and per SKU rate limits (api/signup_limits.py) answer 429 with
  `Retry-After` and the reason.

Accessible: real labels, a fieldset for the two ways to be reached, errors announced in a role=alert region and
tied to the form, the consent as a required checkbox, usable without JavaScript (the script only fills in the
visitor's time zone for quiet hours).
"""

from __future__ import annotations

import secrets
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from stockpilot.adapters.db.tables import app_secrets
from stockpilot.adapters.notify.unsubscribe import UnsubscribeTokenInvalid, sign_form, verify_form
from stockpilot.domain.errors import NotFound, StockpilotError
from stockpilot.entrypoints.api.signup_limits import limits
from stockpilot.services.secrets import app_secret

router = APIRouter(include_in_schema=False)
_MAX_BODY = 4096


@router.get("/waitlist/form")
def form(request: Request, sku: str = Query(min_length=1, max_length=128)) -> HTMLResponse:
    sp = request.app.state.stockpilot
    try:
        title = sp.catalog.get_sku(sku)["title"] or sku
    except NotFound:
        return _page(request, "Unknown product", "<p>This product cannot be found.</p>", status=404)
    return _form(request, sku, title)


@router.post("/waitlist/form")
async def submit(request: Request) -> HTMLResponse:
    if not _same_origin(request):
        return _page(request, "Not accepted", "<p>This form can only be sent from the page that showed it.</p>",
                     status=403)
    refused = limits(request).address(request, request.app.state.stockpilot.ctx.clock.now().timestamp())
    if refused:  # before any database work: a flood from one address costs nothing but this
        return _page(request, "Please wait", f"<p role=alert class=error>{escape(refused.reason)}.</p>",
                     status=429, headers=refused.headers)
    raw = await request.body()
    if len(raw) > _MAX_BODY or not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        return _page(request, "Not accepted", "<p>The form could not be read.</p>", status=400)
    return await run_in_threadpool(_submit, request, raw)  # the database work, off the event loop


def _submit(request: Request, raw: bytes) -> HTMLResponse:
    sp = request.app.state.stockpilot
    fields = {k: v[-1].strip() for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    sku = fields.get("sku", "")
    try:
        title = sp.catalog.get_sku(sku)["title"] or sku
    except NotFound:
        return _page(request, "Unknown product", "<p>This product cannot be found.</p>", status=404)
    now = sp.ctx.clock.now()
    try:
        verify_form(fields.get("token", ""), sku, int(now.timestamp()), _secret(sp))
    except (UnsubscribeTokenInvalid, ValueError, KeyError) as exc:
        return _form(request, sku, title, fields, f"Please try again: {exc}.", status=400)
    refused = limits(request).sku(sku, now.timestamp())
    if refused:
        return _form(request, sku, title, fields, f"{refused.reason}.", status=429, headers=refused.headers)
    if fields.get("website"):  # the honeypot: a bot filled the hidden field
        return _thanks(request, title, confirm=False)
    email, phone = fields.get("email") or None, fields.get("phone") or None
    if email is None and phone is None:
        return _form(request, sku, title, fields, "Enter an email address or a mobile number.", status=422)
    if fields.get("consent") != "yes":
        return _form(request, sku, title, fields, "Tick the box to agree to be told.", status=422)
    zone = fields.get("timezone") or None
    try:
        if email:
            joined = sp.waitlist.join(sku, email, True, timezone=zone, source="form")
        if phone:
            joined = sp.waitlist.join(sku, None, True, phone=phone, timezone=zone, source="form")
    except StockpilotError as exc:
        return _form(request, sku, title, fields, exc.detail, status=422)
    return _thanks(request, title, confirm=joined["status"] == "unconfirmed")


def _same_origin(request: Request) -> bool:
    """Browsers send Origin on every form POST; ours is the public URL's origin or the one this request came to."""
    origin = request.headers.get("origin")
    if origin is None:
        return request.headers.get("sec-fetch-site") in (None, "same-origin")
    public = urlsplit(request.app.state.stockpilot.ctx.settings.public_url)
    own = {f"{public.scheme}://{public.netloc}", f"{request.url.scheme}://{request.headers.get('host', '')}"}
    return origin in own


def _secret(sp: Any) -> str:
    # A read once the secret exists: the form is on product pages, and a write per page view would queue on
    # SQLite's single writer.
    with sp.db.read() as conn:
        value = conn.execute(select(app_secrets.c.value).where(app_secrets.c.name == "waitlist")).scalar_one_or_none()
    return value or sp.db.write(lambda conn: app_secret(conn, "waitlist", sp.ctx.clock.now()))


def _form(request: Request, sku: str, title: str, fields: dict[str, str] | None = None, error: str | None = None,
          *, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    sp = request.app.state.stockpilot
    values = fields or {}
    token = sign_form(sku, int(sp.ctx.clock.now().timestamp()), _secret(sp))

    def value(name: str) -> str:
        return escape(values.get(name, ""), quote=True)

    alert = (f"<p id=form-error role=alert class=error>{escape(error)}</p>" if error
             else "<p id=form-error role=alert class=error hidden></p>")
    described = " aria-describedby=form-error" if error else ""
    body = f"""<p>We'll tell you once when it is back in stock. No other messages.</p>
{alert}
<form method=post action="/waitlist/form"{described}>
<input type=hidden name=sku value="{escape(sku, quote=True)}">
<input type=hidden name=token value="{token}">
<input type=hidden name=timezone id=timezone value="{value('timezone')}">
<fieldset><legend>How should we reach you?</legend>
<label for=email>Email</label>
<input id=email name=email type=email autocomplete=email inputmode=email maxlength=254 value="{value('email')}">
<label for=phone>or mobile number, with country code</label>
<input id=phone name=phone type=tel autocomplete=tel inputmode=tel maxlength=32 placeholder="+44 7700 900123"
 value="{value('phone')}">
</fieldset>
<div class=hp aria-hidden=true><label for=website>Leave this empty</label>
<input id=website name=website tabindex=-1 autocomplete=off></div>
<p><input id=consent name=consent type=checkbox value=yes required{' checked' if values.get('consent') == 'yes'
                                                                      else ''}>
<label for=consent>Yes, tell me when {escape(title)} is back in stock</label></p>
<button type=submit>Notify me</button>
</form>"""
    script = ("(function(){var z=document.getElementById('timezone');if(!z.value){try{z.value="
              "Intl.DateTimeFormat().resolvedOptions().timeZone||''}catch(e){}}})();")
    return _page(request, f"Get told when {escape(title)} is back", body, status=status, script=script,
                 headers=headers)


def _thanks(request: Request, title: str, *, confirm: bool) -> HTMLResponse:
    text = ("Check your inbox (or texts) and confirm: until then we will not contact you." if confirm
            else f"You are on the list: we will tell you when {escape(title)} is back in stock.")
    return _page(request, "Thank you", f"<p role=status>{text}</p>")


def _page(request: Request, title: str, body: str, *, status: int = 200, script: str = "",
          headers: dict[str, str] | None = None) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    style = ("body{font:16px/1.5 system-ui,sans-serif;margin:1rem;color:#1a1a1a;background:#fff}"
             "h1{font-size:1.2rem;margin:0 0 .5rem}fieldset{border:0;padding:0;margin:0 0 .75rem}"
             "legend{font-weight:600;margin-bottom:.25rem}label{display:block;margin:.5rem 0 .15rem}"
             "p label{display:inline}input[type=email],input[type=tel]{width:100%;max-width:24rem;padding:.5rem;"
             "font:inherit;border:1px solid #555;border-radius:4px}button{font:inherit;padding:.5rem 1.25rem;"
             "border:0;border-radius:4px;background:#1d4ed8;color:#fff}button:focus,input:focus{outline:3px solid "
             "#f59e0b;outline-offset:1px}.error{color:#b91c1c;font-weight:600}"
             ".hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}")
    tag = f"<script nonce={nonce}>{script}</script>" if script else ""
    html = (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width,initial-scale=1'><title>{title}</title><style nonce={nonce}>{style}</style>"
            f"</head><body><main><h1>{title}</h1>{body}</main>{tag}</body></html>")
    ancestors = request.app.state.stockpilot.ctx.settings.waitlist_form_frame_ancestors
    headers = {
        **(headers or {}),
        "Content-Security-Policy": (f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
                                    f"form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(html, status_code=status, headers=headers)
