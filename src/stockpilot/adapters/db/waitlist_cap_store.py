"""The per-contact frequency cap's slots (table `waitlist_cap_slots`): read which look free, claim one atomically.

A contact may be told `cap` times per period: it has slots 0..cap-1, each holding when one of its notices was
decided. A slot is free when its notice is older than the period (or it was never used). Claiming is one guarded
statement, as the ledger's guarded UPDATE on stock levels: the slot's first use is an INSERT ... ON CONFLICT DO
NOTHING, a reuse an `UPDATE ... WHERE sent_at <= :since`. On PostgreSQL a second claimant of the same slot waits for
the first's row lock (or its uncommitted insert) and then finds the slot taken, so a contact's last free slot goes
to exactly one wave; on SQLite writers are serial anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select, update

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import waitlist_cap_slots as slots


def free_slots(conn: Connection, contacts: Iterable[str], cap: int, since: datetime) -> dict[str, list[int]]:
    """Per contact, the slots below `cap` that look free now (a plain read: a claim must still win)."""
    wanted = sorted(set(contacts))
    taken: dict[str, set[int]] = {c: set() for c in wanted}
    if wanted:
        rows = conn.execute(select(slots.c.contact, slots.c.slot).where(
            slots.c.contact.in_(wanted), slots.c.slot < cap, slots.c.sent_at > since))
        for row in rows:
            taken[row.contact].add(int(row.slot))
    return {c: [k for k in range(cap) if k not in taken[c]] for c in wanted}


def claim(conn: Connection, contact: str, candidates: list[int], entry_id: int, since: datetime,
          now: datetime) -> int | None:
    """Take the first of `candidates` that is really free; the slot number, or None if every one was taken."""
    for slot in candidates:
        inserted = conn.execute(insert_or_ignore(conn, slots)
                                .values(contact=contact, slot=slot, sent_at=now, entry_id=entry_id)
                                .on_conflict_do_nothing().returning(slots.c.slot)).first()
        if inserted is not None:
            return slot
        reused = conn.execute(update(slots).where(slots.c.contact == contact, slots.c.slot == slot,
                                                  slots.c.sent_at <= since)
                              .values(sent_at=now, entry_id=entry_id))
        if reused.rowcount == 1:
            return slot
    return None
