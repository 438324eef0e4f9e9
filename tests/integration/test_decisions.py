"""The explained decision log."""

from __future__ import annotations

import pytest

from stockpilot.adapters.db.database import Database
from stockpilot.runtime import decisions as dec


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def test_record_and_list_a_subjects_decisions_in_order(db, clock):
    inputs = {"available": -3, "lead_time_days": 5, "velocity": 1.5}
    options = [{"supplier": "ACME", "score": 0.9}, {"supplier": "Globex", "score": 0.7}]

    def work(conn):
        first = dec.record(
            conn, "TEE", "reorder", inputs, options, options[0], "best score among available", clock.now()
        )
        dec.record(conn, "MUG", "reorder", {}, [], None, "other subject", clock.now())
        clock.advance(minutes=1)
        second = dec.record(
            conn, "TEE", "reorder", inputs, options, None, "open PO already covers the deficit", clock.now()
        )
        return first, second

    first, second = db.write(work)
    with db.read() as conn:
        tee = dec.list_for(conn, "TEE")
        assert [d.id for d in tee] == [first, second]
        assert (tee[0].inputs, tee[0].options, tee[0].choice) == (inputs, options, options[0])
        assert tee[0].reason == "best score among available" and tee[0].kind == "reorder"
        assert tee[1].choice is None and tee[1].created_at == clock.now()
        assert [d.id for d in dec.list_for(conn, "TEE", after=first)] == [second]
        assert [d.id for d in dec.list_for(conn, "TEE", limit=1)] == [first]
        assert dec.list_for(conn, "NONE") == []


def test_a_decision_rolls_back_with_the_action_it_explains(db, clock):
    def work(conn):
        dec.record(conn, "TEE", "reorder", {}, [], {"qty": 5}, "reason", clock.now())
        raise RuntimeError("purchase order could not be drafted")

    with pytest.raises(RuntimeError):
        db.write(work)
    with db.read() as conn:
        assert dec.list_for(conn, "TEE") == []
