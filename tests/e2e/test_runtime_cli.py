"""The operator views of the runtime, as a person runs them: `stockpilot outbox ...` and `stockpilot timers ...`."""

from __future__ import annotations

from stockpilot.runtime import outbox, timers
from tests.e2e.test_serve_process import _cli


def test_outbox_views_retry_and_discard(sp, db_url):
    now = sp.ctx.clock.now()

    def dead_rows(conn):
        for key in ("po-1", "po-2"):
            outbox.enqueue(conn, "webhook.post", {"url": "http://127.0.0.1:9/"}, key, now, max_attempts=1)

    sp.db.write(dead_rows)
    sp.db.write(lambda conn: conn.execute(outbox.outbox.update().values(status="dead", last_error="503 from supplier")))
    listed = _cli(db_url, "outbox", "list", "--status", "dead", "--json")
    rows = [line for line in listed.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 2 and "503 from supplier" in rows[0]
    with sp.db.read() as conn:
        first, second = (outbox.get(conn, key).id for key in ("po-1", "po-2"))
    assert _cli(db_url, "outbox", "retry", str(first)).returncode == 0
    assert _cli(db_url, "outbox", "discard", str(second)).returncode == 0
    again = _cli(db_url, "outbox", "retry", str(second), check=False)
    assert again.returncode == 1 and "not dead" in again.stderr
    with sp.db.read() as conn:
        assert (outbox.get(conn, "po-1").status, outbox.get(conn, "po-2").status) == ("pending", "discarded")
    bad = _cli(db_url, "outbox", "list", "--status", "lost", check=False)
    assert bad.returncode == 2 and "status must be one of" in bad.stderr


def test_timer_views_cancel_and_retry(sp, db_url):
    now = sp.ctx.clock.now()
    sp.db.write(lambda conn: timers.schedule(conn, "cart_reminder", "cart:7", now, {}, now=now))
    dead_id = sp.db.write(lambda conn: timers.schedule(conn, "broken", "cart:8", now, {}, now=now))
    sp.db.write(lambda conn: conn.execute(
        timers.timers.update().where(timers.timers.c.id == dead_id).values(status="dead", attempts=8)))
    assert "cart:7" in _cli(db_url, "timers", "list").stdout
    assert "cart:8" in _cli(db_url, "timers", "list", "--status", "dead").stdout
    assert "1 timer(s) cancelled" in _cli(db_url, "timers", "cancel", "cart:7").stdout
    assert _cli(db_url, "timers", "retry", str(dead_id)).returncode == 0
    with sp.db.read() as conn:
        assert [t.status for t in timers.list_for(conn, "cart:7")] == ["cancelled"]
        assert timers.get(conn, dead_id).status == "scheduled"
