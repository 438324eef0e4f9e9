"""Cancel a WooCommerce order through REST API v3: `PUT {site}/wp-json/wc/v3/orders/{id}` `{"status": "cancelled"}`.

The same key pair (HTTP Basic `ck_...:cs_...`) and HTTP outcomes as the stock pusher (woocommerce_push.py,
http_push.py): 429 waits Retry-After, 5xx / 408 / 409 retried, 401/403/404/400 permanent. Setting `cancelled` on a
cancelled order answers 200 and changes nothing, so a redelivery is safe. An answer that kept another status (a
plugin vetoed the transition) is permanent too: retrying would be refused the same way.
"""

from __future__ import annotations

from typing import Any

import httpx

from stockpilot.adapters.channels.http_push import check, seconds_header
from stockpilot.adapters.channels.push import ChannelAccount, PushRejected
from stockpilot.adapters.channels.woocommerce_push import rest_auth, rest_base


class WooCommerceOrderCancel:
    def __init__(self, timeout: float = 10.0, *, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def cancel(self, account: ChannelAccount, order_id: str) -> dict[str, Any]:
        response = self.client.put(f"{rest_base(account)}/orders/{order_id}", json={"status": "cancelled"},
                                   auth=rest_auth(account), headers={"Accept": "application/json"})
        check(response, "WooCommerce", lambda r: seconds_header(r, "Retry-After"))
        status = response.json().get("status")
        if status != "cancelled":
            raise PushRejected(f"WooCommerce kept order {order_id} {status!r}, not cancelled")
        return {"status": status}
