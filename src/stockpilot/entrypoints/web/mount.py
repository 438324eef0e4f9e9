"""Plug the dashboard into the API application: its pages, its static files, its sign-in redirects."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from stockpilot.entrypoints.web import (
    auth_pages,
    automation_pages,
    notify_pages,
    pages,
    po_pages,
    policy_pages,
    supplier_pages,
)
from stockpilot.entrypoints.web.guard import FormRejected, SignInRequired, on_form_rejected, on_sign_in_required
from stockpilot.entrypoints.web.render import HERE


def install_dashboard(app: FastAPI) -> None:
    for module in (auth_pages, pages, po_pages, policy_pages, supplier_pages, automation_pages, notify_pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(FormRejected, on_form_rejected)
