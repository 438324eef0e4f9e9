"""What the REST pushers (WooCommerce, BigCommerce) share: an HTTP answer turned into the push protocol's outcomes.

429 -> PushThrottled (the platform's wait header); 401/403/404/400/422 -> PushRejected (the body's reason);
408, 409 and 5xx -> a plain error, retried with backoff; anything else that is not 2xx -> PushRejected.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from stockpilot.adapters.channels.push import PushRejected, PushThrottled


def check(response: httpx.Response, platform: str, wait: Callable[[httpx.Response], float]) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = f"{platform} answered {status} to {response.request.method} {response.request.url.path}: " \
             f"{response.text[:300]}"
    if status == 429:
        raise PushThrottled(wait(response), f"HTTP 429 from {platform}")
    if status in (408, 409) or status >= 500:
        raise RuntimeError(detail)
    raise PushRejected(detail)


def seconds_header(response: httpx.Response, name: str, *, scale: float = 1.0, default: float = 1.0) -> float:
    try:
        return max(float(response.headers[name]) * scale, 0.0)
    except (KeyError, ValueError):
        return default
