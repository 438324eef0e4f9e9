"""App factory for `uvicorn --factory` (multi-worker serving): everything from the environment."""

from __future__ import annotations

import os

from fastapi import FastAPI

from stockpilot.bootstrap import build
from stockpilot.entrypoints.api.app import create_app


def create_from_env() -> FastAPI:
    # `serve --workers N` says whether each HTTP process embeds a worker or one child process serves them all.
    placement = os.environ.get("STOCKPILOT_SERVE_WORKER", "embedded")
    if placement == "process":  # one child of the `serve` supervisor, which is this process's parent
        return create_app(build(migrate=False), run_worker=False,
                          worker_elsewhere={"mode": "process", "supervisor_pid": os.getppid()})
    return create_app(build(migrate=False), run_worker=placement == "embedded")
