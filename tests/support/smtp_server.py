"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepted, for delivery tests.

    with SmtpServer() as smtp:                      # 127.0.0.1, ephemeral port
        EmailDelivery(smtp.url, "po@buyer.example")(payload, key)
        (message,) = smtp.wait_for(1)               # parsed email.message.EmailMessage objects

Options: `auth=("user", "secret")` requires AUTH PLAIN/LOGIN (`smtp.url` then carries the credentials);
`tls="implicit"` (smtps://) or `tls="starttls"` serve a throwaway self-signed certificate made with the openssl
command, and `smtp.client_context` trusts it; `smtp.fail(550, times=1, stage="rcpt")` answers the next RCPT (or
"data") with that code.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

_REPLIES = {
    421: "421 4.3.2 Service not available, closing channel",
    450: "450 4.2.1 Mailbox busy, try again later",
    451: "451 4.3.0 Local error in processing, try again later",
    452: "452 4.3.1 Insufficient system storage",
    550: "550 5.1.1 Mailbox unavailable",
    552: "552 5.3.4 Message too big",
    554: "554 5.7.1 Transaction failed",
}


class _EphemeralController(Controller):
    """aiosmtpd's Controller connects to its configured port once started; with port 0 learn the real one first."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    def __init__(self, *, auth: tuple[str, str] | None = None,
                 tls: Literal["implicit", "starttls"] | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TOs) per accepted message
        self.auth = auth
        self._failures: list[tuple[str, int]] = []  # (stage, code), consumed in order
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        options: dict[str, Any] = {}
        if auth is not None:
            options = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        self.tls = tls
        self.client_context: ssl.SSLContext | None = None
        if tls is not None:
            server_context, self.client_context = _throwaway_tls()
            options["ssl_context" if tls == "implicit" else "tls_context"] = server_context
        self._controller = _EphemeralController(_Handler(self), hostname="127.0.0.1", port=0, **options)

    # --- lifecycle ---

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._controller.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def url(self) -> str:
        credentials = f"{self.auth[0]}:{self.auth[1]}@" if self.auth else ""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        query = "?starttls=1" if self.tls == "starttls" else ""
        return f"{scheme}://{credentials}{self.host}:{self.port}{query}"

    # --- test controls ---

    def fail(self, code: int, *, times: int = 1, stage: str = "data") -> None:
        """Answer the next `times` RCPT or DATA commands with `code` (421/45x transient, 55x permanent)."""
        if stage not in ("rcpt", "data") or code not in _REPLIES:
            raise ValueError(f"stage must be rcpt or data and code one of {sorted(_REPLIES)}")
        with self._lock:
            self._failures += [(stage, code)] * times

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least `count` messages arrived; returns them (AssertionError on timeout)."""
        with self._lock:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} messages within {timeout}s, got {len(self.messages)}")
            return list(self.messages)

    # --- called from the server thread ---

    def _failure(self, stage: str) -> str | None:
        with self._lock:
            if self._failures and self._failures[0][0] == stage:
                return _REPLIES[self._failures.pop(0)[1]]
        return None

    def _accept(self, envelope: Envelope) -> None:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        parsed = cast(EmailMessage, message_from_bytes(data, policy=policy.default))  # policy.default: EmailMessage
        with self._lock:
            self.messages.append(parsed)
            self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
            self._arrived.notify_all()

    def _authenticate(self, _server: SMTPProtocol, _session: Session, _envelope: Envelope, _mechanism: str,
                      data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and self.auth is not None
              and (data.login.decode(), data.password.decode()) == self.auth)
        # handled=False makes aiosmtpd answer 535 itself on a failure (handled=True would leave the client waiting).
        return AuthResult(success=ok, handled=False)


def _throwaway_tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the server's context, and a client context that trusts only it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make a test certificate")
    with tempfile.TemporaryDirectory() as folder:
        key, cert = Path(folder) / "key.pem", Path(folder) / "cert.pem"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
             "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60,
        )
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cert, key)
        client = ssl.create_default_context(cafile=str(cert))
    return server, client


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(self, _server: SMTPProtocol, _session: Session, envelope: Envelope, address: str,
                          _options: list[str]) -> str:
        failure = self.server._failure("rcpt")
        if failure:
            return failure
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: SMTPProtocol, _session: Session, envelope: Envelope) -> str:
        failure = self.server._failure("data")
        if failure:
            return failure
        self.server._accept(envelope)
        return "250 2.0.0 Message accepted for delivery"
