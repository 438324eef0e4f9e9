"""A loopback fake of Twilio's Programmable Messaging API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.

What it checks, as Twilio does: HTTP basic auth `AccountSid:AuthToken` (401, error 20003 "Authenticate"), the
account in the path matches the credentials (403, 20004-like), a form-encoded body with `To`, `From` and `Body`
(400, 21604 / 21603 / 21602). A good request is 201 with the Message resource JSON (status `queued`).
`throttle(times)` answers 429 with error 20429 ("Too Many Requests") that many times first.
`num_segments` is counted as carriers do: GSM-7 (basic set 1 septet, extension set 2; 160 alone, 153 per part of a
concatenated message), otherwise UCS-2 (70 alone, 67 per part); each accepted message records its `Segments`.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class TwilioApi:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, str]] = []  # accepted: {"To", "From", "Body"}
        self.refused: list[int] = []  # status codes answered to refused requests
        self.segments: list[int] = []  # num_segments of each accepted message
        self._throttle = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        api = self

        class Handler(BaseHTTPRequestHandler):

            disable_nagle_algorithm = True  # answer at once: no 40 ms Nagle / delayed-ACK stall per request
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, body = api._answer(self.path, self.headers.get("Authorization", ""),
                                           self.headers.get("Content-Type", ""), raw)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"  # the REST base (twilio_api_url)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TwilioApi:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def throttle(self, times: int) -> None:
        with self._lock:
            self._throttle += times

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, str]]:
        with self._lock:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} SMS within {timeout}s, got {len(self.messages)}")
            return list(self.messages)

    def _answer(self, path: str, authorization: str, content_type: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            answer = self._check(path, authorization, content_type, raw)
            if answer[0] != 201:
                self.refused.append(answer[0])
            return answer

    def _check(self, path: str, authorization: str, content_type: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        parts = path.split("?")[0].strip("/").split("/")
        if len(parts) != 4 or parts[0] != "2010-04-01" or parts[1] != "Accounts" or parts[3] != "Messages.json":
            return 404, _error(20404, "The requested resource was not found", 404)
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if authorization != expected:
            return 401, _error(20003, "Authenticate", 401)
        if parts[2] != self.account_sid:
            return 403, _error(20004, "Method not allowed for this account", 403)
        if self._throttle > 0:
            self._throttle -= 1
            return 429, _error(20429, "Too Many Requests", 429)
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return 400, _error(21602, "Message body is required.", 400)
        form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        for field, code, text in (("To", 21604, "A 'To' phone number is required."),
                                  ("From", 21603, "A 'From' phone number is required."),
                                  ("Body", 21602, "Message body is required.")):
            if not form.get(field):
                return 400, _error(code, text, 400)
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        message = {"To": form["To"], "From": form["From"], "Body": form["Body"]}
        segments = sms_segments(form["Body"])
        self.messages.append(message)
        self.segments.append(segments)
        self._arrived.notify_all()
        return 201, {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": form["Body"],
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": form["From"], "messaging_service_sid": None,
            "num_media": "0", "num_segments": str(segments), "price": None,
            "price_unit": "USD", "sid": sid, "status": "queued", "to": form["To"],
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }


def _error(code: int, message: str, status: int) -> dict[str, Any]:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


GSM7_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
              "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = "^{}\\[~]|€\f"


def sms_segments(body: str) -> int:
    """How many SMS segments `body` takes (GSM 03.38 when every character has a septet, else UCS-2)."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        septets = sum(2 if c in GSM7_EXTENSION else 1 for c in body)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)
