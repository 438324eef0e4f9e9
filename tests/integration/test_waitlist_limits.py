"""Waitlist signup abuse limits on SQLite and PostgreSQL: per client address on the embeddable form, per SKU on the
form and `POST /api/v1/waitlist`; a refusal is 429 with Retry-After and a reason, and stores nothing."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from stockpilot.bootstrap import build
from stockpilot.config import ConfigError, Settings
from stockpilot.entrypoints.api.app import create_app
from tests.integration.helpers import stock

OWN = {"Origin": "https://shop.example"}
_APPS: dict[int, object] = {}


@pytest.fixture
def make(db_url, clock):
    apps = []

    def factory(**limits):
        sp = build(Settings(database_url=db_url, public_url="https://shop.example", **limits), clock=clock,
                   migrate=False)
        apps.append(sp)
        stock(sp, "TEE", {"WH": 0})
        stock(sp, "MUG", {"WH": 0})
        return sp

    yield factory
    for sp in apps:
        _APPS.pop(id(sp), None)
        sp.close()


@contextmanager
def visitor(sp, address):
    """A client at `address`, all of them on one app (the limits live in the app: one per process)."""
    if id(sp) not in _APPS:
        _APPS[id(sp)] = create_app(sp, run_worker=False)
    app = _APPS[id(sp)]
    with TestClient(app, client=(address, 40000)) as http:
        yield http


def sign_up(http, email, sku="TEE"):
    page = http.get("/waitlist/form", params={"sku": sku})
    token = re.search(r'name=token value="([^"]+)"', page.text).group(1)
    return http.post("/waitlist/form", headers=OWN,
                     data={"sku": sku, "token": token, "email": email, "consent": "yes"})


def emails(sp, sku="TEE"):
    return sorted(e["email"] for e in sp.waitlist.list(sku))


def test_one_address_gets_its_burst_then_429_with_retry_after_until_the_bucket_refills(make, clock):
    sp = make(waitlist_ip_burst=3, waitlist_ip_per_hour=6)  # a token every 10 minutes
    with visitor(sp, "203.0.113.7") as bot, visitor(sp, "198.51.100.20") as person:
        assert [sign_up(bot, f"bot{i}@example.com").status_code for i in range(3)] == [200, 200, 200]
        refused = sign_up(bot, "bot3@example.com", sku="MUG")  # every SKU: the address is limited
        assert refused.status_code == 429 and refused.headers["retry-after"] == "600"
        assert "too many signups from your network: try again in 600 s" in refused.text
        assert "content-security-policy" in refused.headers  # still the locked-down page
        assert sign_up(person, "ann@example.com").status_code == 200  # another address is not affected
        clock.advance(minutes=9)
        again = sign_up(bot, "bot4@example.com")
        assert again.status_code == 429 and again.headers["retry-after"] == "60"
        clock.advance(minutes=1)
        assert sign_up(bot, "bot5@example.com").status_code == 200
    assert emails(sp) == ["ann@example.com", "bot0@example.com", "bot1@example.com", "bot2@example.com",
                          "bot5@example.com"]
    assert emails(sp, "MUG") == []


def test_ipv6_addresses_share_a_bucket_per_64(make):
    sp = make(waitlist_ip_burst=1, waitlist_ip_per_hour=1)
    with visitor(sp, "2001:db8:1:2::a") as first, visitor(sp, "2001:db8:1:2:ffff::b") as same_64, \
            visitor(sp, "2001:db8:1:3::a") as other_64:
        assert sign_up(first, "a@example.com").status_code == 200
        assert sign_up(same_64, "b@example.com").status_code == 429
        assert sign_up(other_64, "c@example.com").status_code == 200
    assert emails(sp) == ["a@example.com", "c@example.com"]


def test_one_sku_is_limited_across_addresses_on_the_form_and_the_api(make, clock):
    sp = make(waitlist_sku_burst=3, waitlist_sku_per_minute=1)
    token = sp.tokens.create("shop backend")
    with visitor(sp, "192.0.2.1") as a, visitor(sp, "192.0.2.2") as b, visitor(sp, "192.0.2.3") as api:
        api.headers["Authorization"] = f"Bearer {token}"
        assert sign_up(a, "a@example.com").status_code == 200
        assert sign_up(b, "b@example.com").status_code == 200
        ok = api.post("/api/v1/waitlist", json={"sku": "TEE", "email": "c@example.com", "consent": True})
        assert ok.status_code == 201
        refused = api.post("/api/v1/waitlist", json={"sku": "TEE", "email": "d@example.com", "consent": True})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
        assert refused.json() == {"error": "rate_limited", "retry_after": 60,
                                  "detail": "too many signups for TEE just now: try again in 60 s"}
        form = sign_up(a, "e@example.com")
        assert form.status_code == 429 and "too many signups for TEE" in form.text
        assert 'value="e@example.com"' in form.text  # the form comes back filled in, the reason in role=alert
        assert api.post("/api/v1/waitlist", json={"sku": "MUG", "email": "d@example.com", "consent": True}
                        ).status_code == 201  # another SKU has its own bucket
        clock.advance(minutes=1)
        assert api.post("/api/v1/waitlist", json={"sku": "TEE", "email": "d@example.com", "consent": True}
                        ).status_code == 201
    assert emails(sp) == ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]


def test_a_limit_that_cannot_be_used_stops_start_up(make):
    sp = make(waitlist_ip_burst=5, waitlist_ip_per_hour=0)  # a burst that never refills
    with pytest.raises(ConfigError, match="waitlist_ip_burst"):
        create_app(sp, run_worker=False)
