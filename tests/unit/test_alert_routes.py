"""Alert routing rules: which destinations an alert reaches, and how bad routes are named."""

from __future__ import annotations

import pytest

from stockpilot.domain.alerts import STAFF_EMAIL, RouteError, destinations, parse_routes, redact

ROUTES = parse_routes([
    {"kinds": ["oversell", "escalation"], "urls": ["slack://T/B/C", "json://ops.example/hook"]},
    {"kinds": ["po_failed", "escalation"], "suppliers": ["kilnco"], "urls": ["mailtos://u:p@mail.example"]},
    {"tags": ["fragile"], "urls": ["json://ops.example/hook"], "digest": True},
    {"kinds": ["low_stock"], "urls": ["twilio://AC1:tok@15550001111/15550002222"]},
])


def urls(kind, tags=(), supplier=None, low=False, fallback=None):
    return {d.url: d.digest for d in destinations(ROUTES, kind, tags, supplier, low_priority=low, fallback=fallback)}


def test_routes_by_kind_supplier_and_tag():
    assert urls("oversell") == {"slack://T/B/C": False, "json://ops.example/hook": False}
    assert urls("escalation", supplier="KILNCO") == {"slack://T/B/C": False, "json://ops.example/hook": False,
                                                      "mailtos://u:p@mail.example": False}
    assert urls("po_failed", supplier="OTHER") == {}
    assert urls("po_failed", supplier="KILNCO") == {"mailtos://u:p@mail.example": False}
    # the same URL reached immediately by one route and as a digest by another is sent once, immediately
    assert urls("oversell", tags=["Fragile"])["json://ops.example/hook"] is False
    assert urls("delivery_dead", tags=["fragile"]) == {"json://ops.example/hook": True}
    assert urls("low_stock", low=True) == {"twilio://AC1:tok@15550001111/15550002222": True}


def test_no_route_falls_back_to_the_staff_address_when_there_is_one():
    assert urls("delivery_dead") == {}
    assert urls("delivery_dead", fallback=STAFF_EMAIL) == {STAFF_EMAIL: False}


def test_bad_routes_are_named_by_position_and_field():
    with pytest.raises(RouteError, match=r"alert_routes\[1\]\.urls: at least one"):
        parse_routes([{"kinds": ["oversell"]}])
    with pytest.raises(RouteError, match=r"alert_routes\[1\]: unknown field\(s\) channel"):
        parse_routes([{"urls": ["json://x/y"], "channel": "#ops"}])
    with pytest.raises(RouteError, match=r"alert_routes\[1\]\.urls: 'ops@example.com' is not a URL"):
        parse_routes('[{"urls": ["ops@example.com"]}]')
    with pytest.raises(RouteError, match="not valid JSON"):
        parse_routes("[{")


def test_redaction_hides_credentials_and_query_values():
    assert redact("twilio://AC1:secret@15550001111/15550002222") == "twilio://***@15550001111/15550002222"
    assert redact("mailtos://u:p@mail.example?to=a@b.example") == "mailtos://***@mail.example?to=***"
