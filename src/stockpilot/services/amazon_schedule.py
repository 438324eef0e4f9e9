"""The `amazon.poll` timer of an Amazon channel: one chain of timers per channel, each booking the next."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from stockpilot.runtime import timers

POLL_TIMER = "amazon.poll"


def poll_key(channel_name: str) -> str:
    return f"amazon-poll:{channel_name}"


def schedule_poll(conn: Connection, channel_name: str, at: datetime, now: datetime) -> None:
    timers.schedule(conn, POLL_TIMER, poll_key(channel_name), at, {"channel": channel_name}, now=now)
