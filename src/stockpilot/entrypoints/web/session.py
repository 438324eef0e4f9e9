"""Signed cookies for the dashboard: the session (which API token or user signed in, until when) and one-shot notices.

A value is `base64url(json).hmac`, HMAC-SHA256 keyed by the `session` app secret with a purpose prefix, so a
notice can never be replayed as a session. The CSRF token of a form is derived from the session's random id:
nothing to store, and it changes with every sign-in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

SESSION_COOKIE = "sp_session"
NOTICE_COOKIE = "sp_notice"
SIGNIN_COOKIE = "sp_signin"  # double-submit token of the sign-in form (there is no session yet)
LIFETIME_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Session:
    """Who signed in: an API token (token_id) or a dashboard user (user_id at its session_version)."""

    token_id: int | None
    sid: str
    expires: int  # unix seconds
    user_id: int | None = None
    version: int = 0
    who: str = ""  # shown in the top bar and written into decisions a person makes here


class Signer:
    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _mac(self, purpose: str, data: str) -> str:
        return hmac.new(self._key, f"{purpose}|{data}".encode(), hashlib.sha256).hexdigest()

    def sign(self, purpose: str, payload: dict[str, Any]) -> str:
        data = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{data}.{self._mac(purpose, data)}"

    def unsign(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        if not value or "." not in value:
            return None
        data, _, mac = value.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(purpose, data)):
            return None
        try:
            loaded = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        except (binascii.Error, ValueError):
            return None
        return loaded if isinstance(loaded, dict) else None

    def new_session(self, token_id: int, now: float, who: str = "") -> tuple[Session, str]:
        session = Session(token_id, secrets.token_urlsafe(16), int(now) + LIFETIME_SECONDS, who=who)
        return session, self.sign("session", {"t": token_id, "s": session.sid, "e": session.expires, "n": who})

    def new_user_session(self, user_id: int, version: int, now: float, who: str) -> tuple[Session, str]:
        session = Session(None, secrets.token_urlsafe(16), int(now) + LIFETIME_SECONDS, user_id, version, who)
        return session, self.sign("session", {"u": user_id, "v": version, "s": session.sid, "e": session.expires,
                                              "n": who})

    def session(self, value: str | None, now: float) -> Session | None:
        payload = self.unsign("session", value)
        if payload is None:
            return None
        try:
            if "u" in payload:
                session = Session(None, str(payload["s"]), int(payload["e"]), int(payload["u"]), int(payload["v"]),
                                  str(payload.get("n", "")))
            else:
                session = Session(int(payload["t"]), str(payload["s"]), int(payload["e"]),
                                  who=str(payload.get("n", "")))
        except (KeyError, TypeError, ValueError):
            return None
        return session if session.expires > now else None

    def csrf(self, session: Session) -> str:
        return self._mac("csrf", session.sid)

    def csrf_ok(self, session: Session, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.csrf(session), submitted or "")
