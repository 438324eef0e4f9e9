"""Rows of the staff alerts: occurrence keys, merge windows per (kind, subject), digest items, SKU tags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import alert_digest_items, alert_occurrences, alert_windows, sku_tags, skus


def claim_occurrence(conn: Connection, key: str, kind: str, subject: str, now: datetime) -> bool:
    """True the first time `key` is seen; False for a replay (nothing may be sent again)."""
    stmt = (insert_or_ignore(conn, alert_occurrences)
            .values(key=key[:255], kind=kind, subject=subject[:255], created_at=now)
            .on_conflict_do_nothing().returning(alert_occurrences.c.key))
    return conn.execute(stmt).scalar_one_or_none() is not None


def prune(conn: Connection, before: datetime) -> tuple[int, int]:
    """Forget occurrence keys, and digest items already sent, created before `before`: (keys, items) deleted."""
    keys = conn.execute(delete(alert_occurrences).where(alert_occurrences.c.created_at < before)).rowcount
    items = conn.execute(delete(alert_digest_items).where(alert_digest_items.c.created_at < before,
                                                          alert_digest_items.c.digest_id.is_not(None))).rowcount
    return int(keys or 0), int(items or 0)


def lock_window(conn: Connection, kind: str, subject: str, now: datetime) -> dict[str, Any]:
    """The (kind, subject) window row, created closed if new, locked: raisers of one subject queue here."""
    conn.execute(insert_or_ignore(conn, alert_windows)
                 .values(kind=kind, subject=subject[:255], window_no=0, opened_at=now, ends_at=now, suppressed=0,
                         context={})
                 .on_conflict_do_nothing())
    row = conn.execute(select(alert_windows).where(alert_windows.c.kind == kind,
                                                   alert_windows.c.subject == subject[:255])
                       .with_for_update()).mappings().one()
    return dict(row)


def open_window(conn: Connection, kind: str, subject: str, window_no: int, now: datetime, ends_at: datetime,
                context: dict[str, Any]) -> None:
    conn.execute(update(alert_windows).where(alert_windows.c.kind == kind, alert_windows.c.subject == subject[:255])
                 .values(window_no=window_no, opened_at=now, ends_at=ends_at, suppressed=0, context=context))


def count_suppressed(conn: Connection, kind: str, subject: str, suppressed: int) -> None:
    conn.execute(update(alert_windows).where(alert_windows.c.kind == kind, alert_windows.c.subject == subject[:255])
                 .values(suppressed=suppressed))


def add_digest_item(conn: Connection, destination: str, kind: str, subject: str, title: str, link: str | None,
                    now: datetime) -> None:
    conn.execute(insert(alert_digest_items).values(destination=destination, kind=kind, subject=subject[:255],
                                                   title=title[:500], link=link, created_at=now))


def pending_digest_items(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(alert_digest_items).where(alert_digest_items.c.digest_id.is_(None))
                        .order_by(alert_digest_items.c.id).with_for_update())
    return [dict(r) for r in rows.mappings()]


def mark_digested(conn: Connection, ids: list[int], digest_id: int) -> None:
    conn.execute(update(alert_digest_items).where(alert_digest_items.c.id.in_(ids),
                                                  alert_digest_items.c.digest_id.is_(None))
                 .values(digest_id=digest_id))


def tags_of(conn: Connection, sku: str) -> list[str]:
    rows = conn.execute(select(sku_tags.c.tag).join(skus, skus.c.id == sku_tags.c.sku_id).where(skus.c.sku == sku)
                        .order_by(sku_tags.c.tag))
    return [r.tag for r in rows]


def set_tags(conn: Connection, sku_id: int, tags: list[str]) -> None:
    conn.execute(delete(sku_tags).where(sku_tags.c.sku_id == sku_id))
    if tags:
        conn.execute(insert(sku_tags), [{"sku_id": sku_id, "tag": tag} for tag in tags])
