"""Which pusher sets counts on each kind of channel (the adapters behind adapters/channels/push.py's protocol).

bootstrap.py builds the push pipeline with these; a new platform adds its pusher here under its channel kind.
"""

from __future__ import annotations

from stockpilot.adapters.channels.push import ChannelPusher
from stockpilot.config import Settings


def default_pushers(settings: Settings) -> dict[str, ChannelPusher]:
    pushers: dict[str, ChannelPusher] = {}
    return pushers
