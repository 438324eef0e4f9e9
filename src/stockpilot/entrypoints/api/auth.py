"""Bearer-token authentication for /api/v1."""

from __future__ import annotations

from fastapi import HTTPException, Request


def require_token(request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not request.app.state.stockpilot.tokens.verify(token.strip()):
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
