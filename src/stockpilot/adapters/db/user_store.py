"""Rows of dashboard users and of the failed sign-in counter. Plain reads and writes; the rules live elsewhere."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import dashboard_users, signin_failures
from stockpilot.domain.signin_throttle import Throttle


def user_by_name(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(dashboard_users).where(dashboard_users.c.name == name)).first()
    return dict(row._mapping) if row else None


def user_active(conn: Connection, user_id: int, session_version: int) -> str | None:
    """The user's name if it is enabled and the session's version is current (no password change since)."""
    return conn.execute(select(dashboard_users.c.name).where(
        dashboard_users.c.id == user_id, dashboard_users.c.session_version == session_version,
        dashboard_users.c.disabled_at.is_(None))).scalar_one_or_none()


def insert_user(conn: Connection, name: str, password_hash: str, now: datetime) -> int:
    return conn.execute(insert(dashboard_users).values(
        name=name, password_hash=password_hash, session_version=1, created_at=now, password_changed_at=now,
    ).returning(dashboard_users.c.id)).scalar_one()


def set_password(conn: Connection, user_id: int, password_hash: str, now: datetime) -> None:
    conn.execute(update(dashboard_users).where(dashboard_users.c.id == user_id).values(
        password_hash=password_hash, password_changed_at=now, disabled_at=None,
        session_version=dashboard_users.c.session_version + 1))


def rehash(conn: Connection, user_id: int, old_hash: str, password_hash: str) -> None:
    """Store a stronger hash of the same password (sessions stay valid); only if nobody changed it meanwhile."""
    conn.execute(update(dashboard_users).where(dashboard_users.c.id == user_id,
                                               dashboard_users.c.password_hash == old_hash)
                 .values(password_hash=password_hash))


def disable(conn: Connection, user_id: int, now: datetime) -> None:
    conn.execute(update(dashboard_users).where(dashboard_users.c.id == user_id).values(
        disabled_at=now, session_version=dashboard_users.c.session_version + 1))


def signed_in(conn: Connection, user_id: int, now: datetime) -> None:
    conn.execute(update(dashboard_users).where(dashboard_users.c.id == user_id).values(last_signin_at=now))


def list_users(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(
        dashboard_users.c.name, dashboard_users.c.created_at, dashboard_users.c.password_changed_at,
        dashboard_users.c.last_signin_at, dashboard_users.c.disabled_at).order_by(dashboard_users.c.name))]


def lock_throttle(conn: Connection, name: str, now: datetime) -> Throttle:
    """The name's counter, row-locked for the rest of the transaction (created at zero if absent), so two
    failures racing each other both count."""
    conn.execute(insert_or_ignore(conn, signin_failures).values(name=name, failures=0, last_failure_at=now)
                 .on_conflict_do_nothing())
    stmt = select(signin_failures).where(signin_failures.c.name == name)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).one()
    return Throttle(row.failures, row.last_failure_at if row.failures else None, row.locked_until)


def read_throttle(conn: Connection, name: str) -> Throttle | None:
    row = conn.execute(select(signin_failures).where(signin_failures.c.name == name)).first()
    return Throttle(row.failures, row.last_failure_at, row.locked_until) if row else None


def save_throttle(conn: Connection, name: str, state: Throttle) -> None:
    conn.execute(update(signin_failures).where(signin_failures.c.name == name).values(
        failures=state.failures, last_failure_at=state.last_failure_at, locked_until=state.locked_until))


def forget_stale(conn: Connection, before: datetime, now: datetime) -> None:
    """Drop counters whose last failure is older than `before` and that hold no lock: names sprayed by a guesser
    do not pile up (a forgotten counter would count from zero anyway)."""
    conn.execute(delete(signin_failures).where(
        signin_failures.c.last_failure_at < before,
        (signin_failures.c.locked_until.is_(None)) | (signin_failures.c.locked_until < now)))


def clear_throttle(conn: Connection, name: str) -> None:
    conn.execute(delete(signin_failures).where(signin_failures.c.name == name))
