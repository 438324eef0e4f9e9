"""Fixtures and helpers of the dashboard tests: the app on each database, a test client, signing in.

A test module imports app_fixture, web_fixture, signed_in_fixture to have the fixtures `app`, `web`, `signed_in`."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.entrypoints.api.app import create_app


@pytest.fixture(name="app")
def app_fixture(db_url, clock, tmp_path):
    sp = build(Settings(database_url=db_url, oversell_window_seconds=0, edi_dir=str(tmp_path / "edi")),
               clock=clock, migrate=False)
    yield sp
    sp.close()


@pytest.fixture(name="web")
def web_fixture(app):
    with TestClient(create_app(app, run_worker=False), follow_redirects=False) as client:
        yield client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(web: TestClient, token: str, next_path: str = "/") -> None:
    form = web.get(f"/signin?next={next_path}&method=token")
    done = web.post("/signin", data={"csrf": csrf_of(form.text), "method": "token", "token": token,
                                     "next": next_path})
    assert done.status_code == 303 and done.headers["location"] == next_path


def sign_in_user(web: TestClient, name: str, password: str, next_path: str = "/"):
    """Post the user/password form; returns the response (303 either way)."""
    form = web.get(f"/signin?next={next_path}")
    return web.post("/signin", data={"csrf": csrf_of(form.text), "method": "password", "username": name,
                                     "password": password, "next": next_path})


@pytest.fixture(name="signed_in")
def signed_in_fixture(app, web):
    sign_in(web, app.tokens.create("ops"))
    return web

