"""One JSON error shape for every failure: {"error": code, "detail": text, ...}."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stockpilot.domain.errors import (
    Conflict,
    IdempotencyConflict,
    InsufficientStock,
    NotFound,
    ReservationExpired,
    StockpilotError,
    ValidationFailed,
)

STATUS_BY_ERROR: dict[type[StockpilotError], int] = {
    NotFound: 404,
    ValidationFailed: 422,
    Conflict: 409,
    IdempotencyConflict: 409,
    InsufficientStock: 409,
    ReservationExpired: 410,
}


def error_response(status: int, code: str, detail: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status)


def error_status(exc: StockpilotError) -> int:
    return next((s for cls, s in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)


def error_body(exc: StockpilotError) -> dict[str, object]:
    return {"error": exc.code, "detail": exc.detail, **exc.extra}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StockpilotError)
    async def _domain(_request: Request, exc: StockpilotError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=error_status(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'] if p != 'body') or 'body'}: {err['msg']}" for err in exc.errors()
        ]
        return error_response(422, "invalid", "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        response = error_response(exc.status_code, code, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response
