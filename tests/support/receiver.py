"""A real HTTP server on loopback that receives webhook deliveries and dedupes them by Idempotency-Key."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, fail_first: int = 0) -> None:
        self.raw = Counter()  # every POST, per key (redeliveries included)
        self.effects: dict[str, Any] = {}  # the deduped effect: first body per key
        self.fail_first = fail_first  # answer 503 to this many requests first
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):

            disable_nagle_algorithm = True  # answer at once: no 40 ms Nagle / delayed-ACK stall per request
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                expected = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(expected)
                if len(raw) < expected:  # the sender died mid-request: nothing was delivered
                    self.close_connection = True
                    return
                body = json.loads(raw or b"{}")
                key = self.headers.get("Idempotency-Key", "")
                with receiver._lock:
                    if receiver.fail_first > 0:
                        receiver.fail_first -= 1
                        status = 503
                    else:
                        receiver.raw[key] += 1
                        receiver.effects.setdefault(key, body)
                        receiver._new.notify_all()
                        status = 200
                payload = b'{"ok": true}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        with self._lock:
            return self._new.wait_for(lambda: len(self.effects) >= count, timeout)
