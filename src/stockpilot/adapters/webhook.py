"""Outbox handler `webhook.post`: deliver a JSON body to a URL, carrying the idempotency key.

The receiver sees `Idempotency-Key: <key>` on every attempt, so a redelivery (after a crash between the POST and
the recorded outcome) can be recognised and applied once. 2xx is success; anything else is a failure to retry.
"""

from __future__ import annotations

from typing import Any

import httpx

TOPIC = "webhook.post"


class WebhookHandler:
    def __init__(self, client: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self.client = client or httpx.Client(timeout=timeout)

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> None:
        url = payload.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook payload needs an http(s) url, got {url!r}")
        headers = {"Idempotency-Key": idempotency_key, **payload.get("headers", {})}
        response = self.client.post(url, json=payload.get("body", {}), headers=headers)
        if not response.is_success:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")

    def close(self) -> None:
        self.client.close()
