"""Bearer-token authentication for /api/v1."""

from __future__ import annotations

from fastapi import HTTPException, Request


async def require_token(request: Request) -> None:
    # async on purpose: a sync dependency costs every request a hop to the thread pool. Known tokens are
    # answered from memory; only a first sight of a token reads the database (briefly, on the event loop).
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if not request.app.state.stockpilot.tokens.verify(token.strip()):
        raise HTTPException(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
