"""Fixtures the channel tests share: an app that routes oversells at once, its API client and its runtime.

A test module that defines its own `app`, `client` or `rt` keeps it (pytest's nearest definition wins).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from stockpilot.bootstrap import Stockpilot, build
from stockpilot.config import Settings
from tests.integration.purchasing_helpers import Runtime
from tests.support.serve_process import api_client


@pytest.fixture
def app(db_url: str, clock) -> Iterator[Stockpilot]:
    # Pushes go at once on the manual clock (the batch gather delay has tests of its own).
    sp = build(Settings(database_url=db_url, oversell_window_seconds=0, channel_push_gather_seconds=0), clock=clock,
               migrate=False)
    yield sp
    sp.close()


@pytest.fixture
def client(app: Stockpilot) -> Iterator[TestClient]:
    with api_client(app) as test_client:
        yield test_client


@pytest.fixture
def rt(app: Stockpilot) -> Runtime:
    return Runtime.build(app)
