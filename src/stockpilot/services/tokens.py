"""API bearer tokens: shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import insert, select

from stockpilot.adapters.db.tables import api_tokens
from stockpilot.services.context import Context

TOKEN_PREFIX = "sp_"


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._valid: set[str] = set()

    def create(self, name: str = "default") -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.ctx.clock.now()
        self.ctx.db.write(
            lambda conn: conn.execute(
                insert(api_tokens).values(name=name, token_hash=hash_token(token), created_at=now)
            )
        )
        return token

    def verify(self, token: str) -> bool:
        digest = hash_token(token)
        if digest in self._valid:
            return True
        with self.ctx.db.read() as conn:
            found = conn.execute(
                select(api_tokens.c.id).where(api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None))
            ).first()
        if found is not None:
            self._valid.add(digest)
        return found is not None
