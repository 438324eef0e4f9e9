"""Ads follow stock, on SQLite and PostgreSQL, against loopback Meta Marketing API and Google Ads API fakes.

The worker's own consumer, timers and outbox dispatcher run step by step against a manual clock; the fakes are
real HTTP servers speaking each platform's wire format and keep every status change with who made it.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.entrypoints.api.app import create_app
from stockpilot.runtime import decisions
from stockpilot.runtime.handlers import automations
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime, outbox_rows
from tests.support.fake_google_ads import FakeGoogleAds
from tests.support.fake_meta_ads import FakeMetaAds

CID = "1234567890"


@pytest.fixture
def meta(clock):
    with FakeMetaAds(token="EAAB-test", app_secret="app-secret", clock=clock.now) as fake:
        yield fake


@pytest.fixture
def google(clock):
    with FakeGoogleAds(developer_token="dev-token", access_token="ya29.test", login_customer_id="9990001111",
                       clock=clock.now) as fake:
        yield fake


@pytest.fixture
def make(db_url, clock, meta, google):
    apps = []

    def factory(**overrides):
        settings = Settings(database_url=db_url, db_pool_size=20, meta_graph_url=meta.url,
                            meta_access_token="EAAB-test", meta_app_secret="app-secret",
                            google_ads_url=google.url, google_ads_developer_token="dev-token",
                            google_ads_access_token="ya29.test", google_ads_login_customer_id="999-000-1111",
                            **overrides)
        app = build(settings, clock=clock, migrate=False)
        apps.append(app)
        return app, Runtime.build(app)

    yield factory
    for app in apps:
        app.close()


def reasons(sp, subject):
    with sp.db.read() as conn:
        return [(d.kind, d.reason) for d in decisions.list_for(conn, subject)]


def test_a_restock_resumes_only_the_ad_sets_stockpilot_paused(make, meta, google):
    sp, rt = make()
    stock(sp, "TEE", {"WH": 3})
    stock(sp, "MUG", {"WH": 0})
    meta.add_ad_set("1001", daily_spend="20.00")  # running: ours to pause
    meta.add_ad_set("1002", status="PAUSED")  # a person paused it before any stock-out
    google.add_ad_group(CID, "555", daily_cost="12.50")
    sp.ads.map("meta", "1001", ["TEE"])
    sp.ads.map("meta", "1002", ["TEE"])
    sp.ads.map("google", "555", ["TEE", "MUG"], account="123-456-7890")
    rt.settle()
    assert meta.status_changes("1001") == [] and google.status_changes(CID, "555") == []  # TEE still sells

    sp.stock.adjust(sku="TEE", location="WH", on_hand=0, idempotency_key="sold-out")
    rt.settle()
    assert meta.status_of("1001") == "PAUSED" and meta.status_changes("1001") == ["PAUSED"]
    assert meta.status_changes("1002") == []  # looked at, found paused by a person, never touched
    assert google.status_of(CID, "555") == "PAUSED"
    assert [s["state"] for s in sp.ads.list()] == ["paused", "left", "paused"]
    paused = dict(reasons(sp, "ad:meta:1001"))
    assert "20.00 a day" in paused["ads_paused"]
    assert "already had it PAUSED" in dict(reasons(sp, "ad:meta:1002"))["ads_declined"]
    assert "12.50 a day" in dict(reasons(sp, "ad:google:555"))["ads_paused"]

    rt.advance(hours=3)
    sp.stock.adjust(sku="TEE", location="WH", delta=10, kind="receive", idempotency_key="rcv-1")
    rt.settle()
    assert meta.status_of("1001") == "PAUSED"  # the hold: stock must stay for 15 minutes first
    rt.advance(minutes=14)
    assert meta.status_of("1001") == "PAUSED"
    rt.advance(minutes=1)
    assert meta.status_changes("1001") == ["PAUSED", "ACTIVE"]
    assert google.status_changes(CID, "555") == ["PAUSED", "ENABLED"]
    assert meta.status_of("1002") == "PAUSED" and meta.status_changes("1002") == []  # the person's pause stands
    resumed = dict(reasons(sp, "ad:meta:1001"))["ads_resumed"]
    assert "~2.71 spend saved" in resumed  # 20.00/day x 3 h 15 min
    detail = sp.ads.get("meta", "1001")
    assert detail["state"] == "running" and detail["pauses"][0]["spend_saved"] == "2.71"
    assert sp.ads.get("google", "555")["pauses"][0]["spend_saved"] == "1.69"  # 12.50 x 3.25 / 24
    keys = [r["idempotency_key"] for r in outbox_rows(sp) if r["topic"].startswith("ads.")]
    assert sorted(keys) == sorted(["ads:pause:1", "ads:pause:2", "ads:pause:3", "ads:resume:1:1",
                                   "ads:resume:3:1"])
    # every Meta call carried the app secret proof, every Google call the manager account header (the fakes
    # refuse otherwise), and Google was asked about people's changes before resuming
    assert any("FROM change_event" in q for q in google.queries)


def test_a_person_who_reactivates_or_repauses_during_our_pause_is_respected(make, meta, google):
    sp, rt = make()
    stock(sp, "TEE", {"WH": 0})
    meta.add_ad_set("2001", daily_spend="10")  # a person turns it back on during our pause
    meta.add_ad_set("2002", daily_spend="10")  # a person turns it on and off again during our pause
    google.add_ad_group(CID, "777", daily_cost="5")  # the same, in the Google Ads web UI
    for ad_set in ("2001", "2002"):
        sp.ads.map("meta", ad_set, ["TEE"])
    sp.ads.map("google", "777", ["TEE"], account=CID)
    rt.settle()
    assert {meta.status_of("2001"), meta.status_of("2002"), google.status_of(CID, "777")} == {"PAUSED"}

    rt.advance(hours=1)
    meta.person_sets("2001", "ACTIVE")
    meta.person_sets("2002", "ACTIVE")
    google.person_sets(CID, "777", "ENABLED")
    rt.advance(minutes=10)
    meta.person_sets("2002", "PAUSED")
    google.person_sets(CID, "777", "PAUSED")
    sp.stock.adjust(sku="TEE", location="WH", delta=5, kind="receive", idempotency_key="rcv-1")
    rt.settle()
    rt.advance(minutes=15)
    assert meta.status_changes("2001") == ["PAUSED"] and meta.status_of("2001") == "ACTIVE"
    assert meta.status_changes("2002") == ["PAUSED"] and meta.status_of("2002") == "PAUSED"
    assert google.status_changes(CID, "777") == ["PAUSED"] and google.status_of(CID, "777") == "PAUSED"
    assert "re-activated it during our pause" in dict(reasons(sp, "ad:meta:2001"))["ads_left"]
    assert "edited on Meta since our pause" in dict(reasons(sp, "ad:meta:2002"))["ads_left"]
    assert "owner@shop.example via GOOGLE_ADS_WEB_CLIENT" in dict(reasons(sp, "ad:google:777"))["ads_left"]
    assert {s["state"] for s in sp.ads.list()} == {"running"}  # stock is back: the next stock-out is judged afresh

    sp.stock.adjust(sku="TEE", location="WH", on_hand=0, idempotency_key="sold-out-again")
    rt.settle()
    assert meta.status_changes("2001") == ["PAUSED", "PAUSED"]  # running again (the person's choice): paused anew
    assert meta.status_changes("2002") == ["PAUSED"]  # the person's own pause: declined, not ours


def test_a_count_hovering_at_zero_and_one_does_not_flap(make, meta, google):
    sp, rt = make(ads_resume_threshold=2, ads_resume_hold_minutes=15)
    stock(sp, "TEE", {"WH": 0})
    meta.add_ad_set("3001", daily_spend="8")
    sp.ads.map("meta", "3001", ["TEE"])
    rt.settle()
    for step in range(12):  # 0/1 every five minutes for an hour: below the threshold, nothing to resume
        sp.stock.adjust(sku="TEE", location="WH", on_hand=step % 2, idempotency_key=f"hover-{step}")
        rt.settle()
        rt.advance(minutes=5)
    for step in range(6):  # 2/0: the hold starts and breaks, never lasting 15 minutes
        sp.stock.adjust(sku="TEE", location="WH", on_hand=2 * (1 - step % 2), idempotency_key=f"bounce-{step}")
        rt.settle()
        rt.advance(minutes=10)
    assert meta.status_changes("3001") == ["PAUSED"]
    sp.stock.adjust(sku="TEE", location="WH", on_hand=2, idempotency_key="steady")
    rt.settle()
    rt.advance(minutes=14)
    assert meta.status_changes("3001") == ["PAUSED"]
    rt.advance(minutes=1)
    assert meta.status_changes("3001") == ["PAUSED", "ACTIVE"]
    kinds = [kind for kind, _ in reasons(sp, "ad:meta:3001")]
    assert kinds.count("ads_pause") == 1 and kinds.count("ads_resume") == 1


def test_rate_limits_are_retried_and_a_redelivered_pause_is_still_ours(make, meta, google, clock):
    sp, rt = make()
    stock(sp, "TEE", {"WH": 0})
    meta.add_ad_set("4001", daily_spend="30")
    google.add_ad_group(CID, "888", daily_cost="30")
    meta.throttle_next(1)
    google.throttle_next(1)
    sp.ads.map("meta", "4001", ["TEE"])
    sp.ads.map("google", "888", ["TEE"], account=CID)
    rt.settle()
    errors = [r["last_error"] for r in outbox_rows(sp) if r["topic"] == "ads.pause"]
    assert any("code 80004" in (e or "") for e in errors) and any("RESOURCE_EXHAUSTED" in (e or "") for e in errors)
    rt.advance(seconds=2)  # the outbox's backoff
    assert meta.status_changes("4001") == ["PAUSED"] and google.status_changes(CID, "888") == ["PAUSED"]

    # A crash after the platform call, before the outcome was recorded: the outbox delivers the resume again.
    sp.stock.adjust(sku="TEE", location="WH", delta=9, kind="receive", idempotency_key="rcv")
    rt.settle()
    clock.advance(minutes=15)
    rt.timers.run_once()  # the hold ends: an ads.resume row is queued, not yet delivered
    (row,) = [r for r in outbox_rows(sp, "ads.resume") if r["payload"]["platform"] == "meta"]
    handlers = automations(sp).outbox_handlers
    assert handlers["ads.resume"](row["payload"], row["idempotency_key"])["outcome"] == "resumed"
    rt.settle()  # the redelivery finds it ACTIVE, but knows it sent that itself
    assert meta.status_changes("4001") == ["PAUSED", "ACTIVE"]
    assert "ads_resumed" in dict(reasons(sp, "ad:meta:4001"))


def test_backorderable_skus_keep_their_ads_running_unless_configured_otherwise(make, meta):
    sp, rt = make()
    stock(sp, "PRE", {"WH": 0}, backorder_policy="allow")
    stock(sp, "CAP", {"WH": 0}, backorder_policy="allow", backorder_cap=2)
    meta.add_ad_set("5001")
    meta.add_ad_set("5002")
    sp.ads.map("meta", "5001", ["PRE"])
    sp.ads.map("meta", "5002", ["CAP"])
    rt.settle()
    assert meta.status_changes("5001") == [] and meta.status_changes("5002") == []
    sp.orders.place("SO-1", [line("CAP", 2)])
    rt.settle()  # the cap is used up: nothing more can be sold
    assert meta.status_changes("5002") == ["PAUSED"] and meta.status_changes("5001") == []

    strict, rt2 = make(ads_backorders_keep_running=False)
    stock(strict, "PRE2", {"WH": 0}, backorder_policy="allow")
    meta.add_ad_set("5003")
    strict.ads.map("meta", "5003", ["PRE2"])
    rt2.settle()
    assert meta.status_changes("5003") == ["PAUSED"]


def test_unconfigured_platform_fails_visibly(db_url, clock):
    sp = build(Settings(database_url=db_url), clock=clock, migrate=False)
    try:
        rt = Runtime.build(sp)
        stock(sp, "TEE", {"WH": 0})
        sp.ads.map("meta", "6001", ["TEE"])
        rt.settle()
        (row,) = outbox_rows(sp, "ads.pause")
        assert row["status"] == "dead" and "meta ads are not configured" in row["last_error"]
        assert sp.ads.get("meta", "6001")["state"] == "left"
    finally:
        sp.close()


def test_the_ads_api(db_url, clock):
    sp = build(Settings(database_url=db_url), clock=clock, migrate=False)
    token = sp.tokens.create("test")
    stock(sp, "TEE", {"WH": 4})
    with TestClient(create_app(sp, run_worker=False)) as http:
        http.headers["Authorization"] = f"Bearer {token}"
        made = http.post("/api/v1/ads/mappings", json={"platform": "google", "ad_set_id": "42",
                                                       "account": "123-456-7890", "skus": ["TEE"]})
        assert made.status_code == 200 and made.json()["state"] == "running" and made.json()["account"] == CID
        assert http.post("/api/v1/ads/mappings",
                         json={"platform": "google", "ad_set_id": "43", "skus": ["TEE"]}).status_code == 422
        assert http.post("/api/v1/ads/mappings",
                         json={"platform": "meta", "ad_set_id": "44", "skus": ["TEE", "NOPE"]}).status_code == 404
        assert http.post("/api/v1/ads/mappings",
                         json={"platform": "tiktok", "ad_set_id": "1", "skus": ["TEE"]}).status_code == 422
        assert [a["ad_set_id"] for a in http.get("/api/v1/ads").json()] == ["42"]  # 44 was not half-created
        assert http.get("/api/v1/ads/google/42").json()["skus"] == ["TEE"]
        assert http.get("/api/v1/ads/meta/42").status_code == 404
        assert http.get("/api/v1/ads", headers={"Authorization": ""}).status_code == 401
    sp.close()


def test_restocks_racing_pause_outcomes_never_strand_an_ad_set(make, meta, db_url):
    """Restocks and their consumer run in threads while other threads deliver the pauses and record their
    outcomes: whether the restock is consumed before or after a pause is recorded, the outcome hook's re-check (and
    the consumer's view of the new state) books the resume hold, so every ad set is resumed after it. Without the
    re-check this fails; the narrower window the ad-set row lock closes on PostgreSQL is not reliably hit here."""
    import threading
    import time

    from stockpilot.runtime import outbox as ob
    from stockpilot.runtime.consumers import ConsumerRunner

    count = 16
    sp, rt = make()
    for n in range(count):
        stock(sp, f"S{n}", {"WH": 0})
        meta.add_ad_set(str(7000 + n), daily_spend="5")
        sp.ads.map("meta", str(7000 + n), [f"S{n}"])
    assert len(outbox_rows(sp, "ads.pause")) == count  # decided in the mapping transactions, not yet delivered
    auto = automations(sp)
    errors: list[BaseException] = []
    stop = threading.Event()

    def guarded(work):
        def run():
            try:
                work()
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)
        return run

    def deliver(name):
        dispatcher = ob.Dispatcher(sp.db, sp.ctx.clock, auto.outbox_handlers, worker_id=name, outcomes=auto.outcomes)
        while not stop.is_set():
            dispatcher.run_once(limit=2)

    def restock():
        for n in range(count):
            sp.stock.adjust(sku=f"S{n}", location="WH", delta=5, kind="receive", idempotency_key=f"rcv-{n}")

    def consume(name):
        runner = ConsumerRunner(sp.db, sp.ctx.clock, auto.consumers, worker_id=name, lease_seconds=5)
        while not stop.is_set():
            runner.run_once()

    threads = [threading.Thread(target=guarded(lambda n=n: deliver(f"d{n}"))) for n in range(2)]
    threads += [threading.Thread(target=guarded(lambda: consume("c0")))]
    for thread in threads:
        thread.start()
    restock()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(a["state"] == "paused" for a in sp.ads.list()) and len(meta.calls) >= 3 * count:
            break
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    rt.settle()
    rt.advance(minutes=15)
    assert [a["state"] for a in sp.ads.list()] == ["running"] * count
    assert all(meta.status_changes(str(7000 + n)) == ["PAUSED", "ACTIVE"] for n in range(count))


def test_google_access_tokens_come_from_the_refresh_token_and_are_renewed(db_url, clock):
    with FakeGoogleAds(developer_token="dev-token", access_token="never-issued", clock=clock.now,
                       oauth=("client.apps.googleusercontent.com", "client-secret", "1//refresh")) as google:
        def build_with(refresh_token):
            settings = Settings(database_url=db_url, google_ads_url=google.url,
                                google_ads_developer_token="dev-token",
                                google_ads_client_id="client.apps.googleusercontent.com",
                                google_ads_client_secret="client-secret", google_ads_refresh_token=refresh_token,
                                google_ads_token_url=f"{google.url}/token")
            return build(settings, clock=clock, migrate=False)

        sp = build_with("1//refresh")
        try:
            rt = Runtime.build(sp)
            stock(sp, "TEE", {"WH": 0})
            google.add_ad_group(CID, "901", daily_cost="4")
            google.add_ad_group(CID, "902", daily_cost="4")
            sp.ads.map("google", "901", ["TEE"], account=CID)
            rt.settle()
            assert google.status_changes(CID, "901") == ["PAUSED"] and google.token_requests == 1  # then cached
            google.expire_tokens()  # an hour later: the API answers 401, the client renews once and carries on
            sp.ads.map("google", "902", ["TEE"], account=CID)
            rt.settle()
            assert google.status_changes(CID, "902") == ["PAUSED"] and google.token_requests == 2
        finally:
            sp.close()

        revoked = build_with("1//revoked")
        try:
            stock(revoked, "CAP", {"WH": 0})
            google.add_ad_group(CID, "903")
            revoked.ads.map("google", "903", ["CAP"], account=CID)
            Runtime.build(revoked).settle()
            (row,) = [r for r in outbox_rows(revoked, "ads.pause") if r["payload"]["external_id"] == "903"]
            assert row["status"] == "dead" and "invalid_grant" in row["last_error"]
        finally:
            revoked.close()
