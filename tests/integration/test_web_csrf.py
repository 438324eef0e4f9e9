"""CSRF on every form: each POST route the dashboard serves refuses a missing or a wrong token and changes nothing,
and every POST form on every page carries the session's token (found by walking the app, not by a list)."""

from __future__ import annotations

from html.parser import HTMLParser

from fastapi.routing import APIRoute
from sqlalchemy import func, select, update

from stockpilot.adapters.db.tables import decisions, movements, outbox, purchase_orders, sku_policies, suppliers
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime
from tests.integration.web_helpers import (  # noqa: F401 (fixtures by name: app, web, signed_in)
    app_fixture,
    csrf_of,
    signed_in_fixture,
    web_fixture,
)

WEB_MODULES = "stockpilot.entrypoints.web."


def _walk(routes):
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):  # FastAPI keeps an included router as one route (no prefix here)
            yield from _walk(r.original_router.routes)


def _post_routes(client) -> list[str]:
    """Path templates of every POST route whose endpoint lives in the dashboard package."""
    return sorted(r.path for r in _walk(client.app.routes) if "POST" in r.methods
                  and r.endpoint.__module__.startswith(WEB_MODULES))


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no sample value for a parameter of {path}"
    return path


def _state(app) -> tuple:
    with app.db.read() as conn:
        return (
            tuple(conn.execute(select(purchase_orders.c.number, purchase_orders.c.status, purchase_orders.c.revision)
                               .order_by(purchase_orders.c.id)).all()),
            tuple(conn.execute(select(outbox.c.id, outbox.c.status).order_by(outbox.c.id)).all()),
            conn.execute(select(func.count()).select_from(movements)).scalar_one(),
            conn.execute(select(func.count()).select_from(decisions)).scalar_one(),
            tuple(conn.execute(select(suppliers.c.code, suppliers.c.name, suppliers.c.email)).all()),
            tuple(conn.execute(select(sku_policies.c.sku_id, sku_policies.c.manual_min,
                                      sku_policies.c.service_level)).all()),
        )


class _Forms(HTMLParser):
    """(action, csrf value or None) of every <form method=post>, and of each submit button's formaction in one."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[list] = []
        self._open: list | None = None
        self._extra: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "").lower() == "post":
            self._open, self._extra = [a.get("action"), None], []
        elif self._open is not None and tag == "input" and a.get("name") == "csrf":
            self._open[1] = a.get("value")
        elif self._open is not None and tag in ("button", "input") and a.get("formaction"):
            self._extra.append(a["formaction"])

    def handle_endtag(self, tag):
        if tag == "form" and self._open is not None:
            self.forms.append(self._open)
            self.forms.extend([action, self._open[1]] for action in self._extra)
            self._open = None


def _setup(app, clock) -> dict[str, str]:
    stock(app, "TEE", {"WH": 0}, backorder_policy="allow")
    app.orders.place("SO-1", [line("TEE", 3)])
    Runtime.build(app).settle()
    app.suppliers.add("ACME", {"name": "Acme", "delivery_method": "edi", "edi_id": "ACME"})

    def dead(conn):
        from stockpilot.runtime import outbox as box

        row = box.enqueue(conn, "nobody.listens", {}, "csrf-test", clock.now(), max_attempts=1)
        conn.execute(update(outbox).where(outbox.c.id == row).values(status="dead", last_error="boom"))
        return row

    outbox_id = app.db.write(dead)
    number = app.purchasing.list(status="needs_review")[0]["number"]
    return {"number": number, "outbox_id": str(outbox_id), "sku": "TEE", "code": "ACME"}


def test_every_dashboard_post_refuses_a_missing_or_wrong_csrf_token(app, signed_in, clock):
    values = _setup(app, clock)
    routes = _post_routes(signed_in)
    # The walk found the forms we know of (so an empty walk cannot pass this test).
    assert {"/signout", "/purchase-orders/{number}/approve", "/purchase-orders/{number}/receive",
            "/automations/outbox/{outbox_id}/retry"} <= set(routes), routes
    before = _state(app)
    good = csrf_of(signed_in.get("/").text)
    for template in routes:
        path = _fill(template, values)
        body = {"reason": "x", "qty:TEE": "5", "key": "k", "name": "Changed", "email": "x@example.com",
                "manual_min": "1", "manual_max": "2", "service_level": "0.9", "token": "t", "username": "u",
                "password": "p", "method": "password"}
        for csrf in (None, "", "0" * 64, good[:-1] + ("0" if good[-1] != "0" else "1")):
            sent = dict(body) if csrf is None else {**body, "csrf": csrf}
            answer = signed_in.post(path, data=sent)
            if template == "/signin":  # no session yet: refused back to the form, no session cookie set
                assert answer.status_code == 303 and "sp_session" not in answer.headers.get("set-cookie", ""), path
            else:
                assert answer.status_code == 403, (path, csrf, answer.status_code)
    assert _state(app) == before
    assert signed_in.get("/").status_code == 200  # the session was not ended by the refused sign-out


def test_every_post_form_on_every_page_carries_the_session_token(app, signed_in, clock):
    values = _setup(app, clock)
    token = csrf_of(signed_in.get("/").text)
    routes = _post_routes(signed_in)
    number = values["number"]
    pages = ["/", "/inventory", "/inventory/TEE", "/purchase-orders", f"/purchase-orders/{number}", "/suppliers",
             "/suppliers/ACME", "/automations"]
    seen = set()
    for path in pages:
        html = signed_in.get(path)
        assert html.status_code == 200, path
        parser = _Forms()
        parser.feed(html.text)
        for action, csrf in parser.forms:
            assert csrf == token, f"{path}: the form posting to {action} has no (or a stale) CSRF token"
            matching = [t for t in routes if _fill(t, values) == action]
            assert matching, f"{path}: a form posts to {action}, which is no dashboard POST route"
            seen.update(matching)
    # A PO after approval shows the receive form too.
    signed_in.post(f"/purchase-orders/{number}/approve", data={"csrf": token, "supplier": "ACME", "qty:TEE": "3"})
    parser = _Forms()
    parser.feed(signed_in.get(f"/purchase-orders/{number}").text)
    assert all(csrf == token for _, csrf in parser.forms)
    seen.update(t for t in routes for action, _ in parser.forms if _fill(t, values) == action)
    assert seen >= set(routes) - {"/signin"}, f"POST routes no page offers a form for: {set(routes) - seen}"
