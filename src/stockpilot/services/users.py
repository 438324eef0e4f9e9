"""Dashboard users: add, change password, disable, list, and checking a sign-in (with the durable lockout).

A failed sign-in costs the same whatever failed: an unknown name, a disabled user and a locked name still run one
Argon2id verification (against a decoy hash when there is no real one), and all say the same words, so neither
timing nor text tells which names exist. The hash check runs outside any transaction (it takes ~0.15 s).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters import passwords
from stockpilot.adapters.db import user_store
from stockpilot.domain.errors import Conflict, NotFound, ValidationFailed
from stockpilot.domain.signin_throttle import FORGET_AFTER, after_failure, is_locked, wait_words
from stockpilot.services.context import Context

NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,99}")
MIN_PASSWORD, MAX_PASSWORD = 10, 1024  # long passphrases welcome; a cap keeps one request's hashing bounded
WRONG = "Wrong user name or password."


@dataclass(frozen=True)
class SignIn:
    user_id: int | None  # None: refused
    session_version: int = 0
    name: str = ""
    error: str = ""


def normalise_name(name: str) -> str:
    return name.strip().lower()


def validate_name(name: str) -> str:
    normal = normalise_name(name)
    if not NAME.fullmatch(normal):
        raise ValidationFailed(f"user name {name!r}: 1-100 of a-z 0-9 . _ @ -, starting with a letter or digit")
    return normal


def validate_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationFailed(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters, got {len(password)}")
    if password != password.strip():
        raise ValidationFailed("password must not start or end with spaces (they are too easy to lose)")
    return password


class UserService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def add(self, name: str, password: str) -> dict[str, Any]:
        normal, encoded = validate_name(name), passwords.hash_password(validate_password(password))

        def work(conn: Connection) -> dict[str, Any]:
            if user_store.user_by_name(conn, normal) is not None:
                raise Conflict(f"user {normal!r} already exists")
            user_store.insert_user(conn, normal, encoded, self.ctx.clock.now())
            return {"name": normal}

        return self.ctx.db.write(work)

    def set_password(self, name: str, password: str) -> dict[str, Any]:
        """A new password (also re-enables the user and lifts a lockout); every open session of the user ends."""
        normal, encoded = normalise_name(name), passwords.hash_password(validate_password(password))

        def work(conn: Connection) -> dict[str, Any]:
            user = self._require(conn, normal)
            user_store.set_password(conn, user["id"], encoded, self.ctx.clock.now())
            user_store.clear_throttle(conn, normal)
            return {"name": normal}

        return self.ctx.db.write(work)

    def disable(self, name: str) -> dict[str, Any]:
        normal = normalise_name(name)

        def work(conn: Connection) -> dict[str, Any]:
            user_store.disable(conn, self._require(conn, normal)["id"], self.ctx.clock.now())
            return {"name": normal}

        return self.ctx.db.write(work)

    def list(self) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            return user_store.list_users(conn)

    def active(self, user_id: int, session_version: int) -> str | None:
        with self.ctx.db.read() as conn:
            return user_store.user_active(conn, user_id, session_version)

    def authenticate(self, name: str, password: str) -> SignIn:
        normal = normalise_name(name)[:100]
        now = self.ctx.clock.now()
        with self.ctx.db.read() as conn:
            user = user_store.user_by_name(conn, normal) if normal else None
            throttle = user_store.read_throttle(conn, normal) if normal else None
        encoded = user["password_hash"] if user is not None else passwords.decoy_hash()
        matches = passwords.verify_password(encoded, password[:MAX_PASSWORD])  # always paid, whatever follows
        if is_locked(throttle, now):
            assert throttle is not None
            return SignIn(None, error=_locked(wait_words(throttle, now)))
        if matches and user is not None and user["disabled_at"] is None:
            stronger = passwords.hash_password(password) if passwords.needs_rehash(encoded) else None

            def success(conn: Connection) -> None:
                user_store.clear_throttle(conn, normal)
                user_store.signed_in(conn, user["id"], now)
                if stronger:
                    user_store.rehash(conn, user["id"], encoded, stronger)

            self.ctx.db.write(success)
            return SignIn(user["id"], user["session_version"], normal)
        if not normal:
            return SignIn(None, error=WRONG)

        def failure(conn: Connection) -> str:
            user_store.forget_stale(conn, now - FORGET_AFTER, now)
            state = user_store.lock_throttle(conn, normal, now)
            if is_locked(state, now):  # a racing failure locked it first: not counted again
                return _locked(wait_words(state, now))
            counted = after_failure(state, now)
            user_store.save_throttle(conn, normal, counted)
            return _locked(wait_words(counted, now)) if is_locked(counted, now) else WRONG

        return SignIn(None, error=self.ctx.db.write(failure))

    def _require(self, conn: Connection, normal: str) -> dict[str, Any]:
        user = user_store.user_by_name(conn, normal)
        if user is None:
            raise NotFound(f"unknown user {normal!r}")
        return user


def _locked(wait: str) -> str:
    return f"Too many failed sign-ins for this name; try again in {wait}."
