"""Outbox handler `po.email`: the PO as an email with its PDF attached, sent through SMTP (stdlib smtplib).

`Message-ID` is derived from the idempotency key, so a redelivery (crash between the SMTP accept and the recorded
outcome) carries the same id and mail systems and people can recognise the duplicate; the key also travels in
`X-Stockpilot-Idempotency-Key`. SMTP cannot refuse a duplicate by itself; that id is what it offers.

STOCKPILOT_SMTP_URL: `smtp://host:port` (plain), `smtp://host:port?starttls=1` (upgrade), `smtp://user:pass@host:port`,
`smtps://user:pass@host:465` (implicit TLS). Optional `timeout=` seconds. User and password are percent-decoded.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from hashlib import sha256
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from stockpilot.adapters.suppliers.document import (
    TOPIC_EMAIL,
    InvalidPurchaseOrder,
    PermanentDeliveryError,
    PurchaseOrderDocument,
    TransientDeliveryError,
)
from stockpilot.adapters.suppliers.pdf import money, render_pdf

TOPIC = TOPIC_EMAIL
KEY_HEADER = "X-Stockpilot-Idempotency-Key"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


def parse_smtp_url(url: str) -> SmtpSettings:
    """Read an SMTP URL (see the module docstring); ValueError says what is wrong with a bad one."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"SMTP URL must start with smtp:// or smtps://, got {url.split('://')[0]!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("SMTP URL has an invalid port") from None
    if not parts.hostname:
        raise ValueError("SMTP URL has no host (smtp://host:port)")
    if parts.path not in ("", "/"):
        raise ValueError(f"SMTP URL takes no path, got {parts.path!r}")
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    unknown = set(query) - {"starttls", "timeout"}
    if unknown:
        raise ValueError(f"SMTP URL: unknown option(s) {', '.join(sorted(unknown))} (known: starttls, timeout)")
    starttls = _flag(query.get("starttls", ["0"])[-1])
    implicit = parts.scheme == "smtps"
    if implicit and starttls:
        raise ValueError("smtps:// is TLS from the start; starttls applies to smtp:// only")
    try:
        timeout = float(query.get("timeout", ["30"])[-1])
    except ValueError:
        raise ValueError("SMTP URL: timeout must be a number of seconds") from None
    if timeout <= 0:
        raise ValueError("SMTP URL: timeout must be positive")
    if parts.password is not None and not parts.username:
        raise ValueError("SMTP URL has a password but no user")
    return SmtpSettings(
        host=parts.hostname,
        port=port or (465 if implicit else 25),
        implicit_tls=implicit,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        timeout=timeout,
    )


def _flag(value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"SMTP URL: starttls must be 1 or 0, got {value!r}")


def message_id(idempotency_key: str, sender: str) -> str:
    domain = sender.rpartition("@")[2].strip(" >") or "stockpilot.invalid"
    return f"<po.{sha256(idempotency_key.encode()).hexdigest()[:40]}@{domain}>"


def subject(doc: PurchaseOrderDocument) -> str:
    if doc.kind == "cancel":
        return f"Cancellation of purchase order {doc.po_number} (revision {doc.revision})"
    return f"{doc.title} {doc.po_number} (revision {doc.revision})"


def build_message(doc: PurchaseOrderDocument, sender: str, idempotency_key: str) -> EmailMessage:
    if not doc.supplier.email:
        raise InvalidPurchaseOrder("supplier.email: required for email delivery")
    message = EmailMessage()
    message["Subject"] = _one_line(subject(doc))
    message["From"] = sender
    message["To"] = formataddr((_one_line(doc.supplier.name), doc.supplier.email))
    message["Reply-To"] = formataddr((_one_line(doc.buyer.name), doc.buyer.email))
    message["Date"] = format_datetime(doc.issued_at)  # from the payload: a redelivery is byte-for-byte the same
    message["Message-ID"] = message_id(idempotency_key, sender)
    message[KEY_HEADER] = idempotency_key
    message.set_content(body_text(doc))
    message.add_attachment(render_pdf(doc), maintype="application", subtype="pdf", filename=f"{doc.file_stem}.pdf")
    # The MIME boundary is random by default; derived from the key, a redelivery is the same bytes throughout.
    message.set_boundary(f"==stockpilot-{sha256(idempotency_key.encode()).hexdigest()[:32]}==")
    return message


def body_text(doc: PurchaseOrderDocument) -> str:
    what = {
        "new": f"Please find attached purchase order {doc.po_number} (revision {doc.revision}).",
        "change": f"Please find attached change order {doc.po_number} revision {doc.revision}. "
        "It replaces every earlier revision of this order.",
        "cancel": f"Purchase order {doc.po_number} is cancelled (revision {doc.revision}): please do not ship it.",
    }[doc.kind]
    cur = doc.supplier.currency
    rows = [("#", "SKU", "Your item", "Description", "Qty", f"Unit cost ({cur})", f"Line total ({cur})")]
    rows += [
        (str(ln.line), ln.sku, ln.supplier_sku or "", ln.title, f"{ln.quantity:,}", money(ln.unit_cost),
         money(ln.total))
        for ln in doc.lines
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = [_table_row(row, widths) for row in rows]
    lines = [
        f"Hello {doc.supplier.name},", "", what, "",
        f"Issued:     {doc.issued_at.date().isoformat()}",
        f"Needed by:  {doc.needed_by.isoformat() if doc.needed_by else 'as soon as possible'}", "",
        *table, "",
        f"Total ({cur}): {money(doc.total)}",
    ]
    if doc.notes.strip():
        lines += ["", "Notes:", doc.notes.strip()]
    lines.append("")
    if doc.ack_url:
        lines += ["Please acknowledge this order (confirm quantities and ship dates):", doc.ack_url,
                  f"or reply to {doc.buyer.email}."]
    else:
        lines.append(f"Please acknowledge this order by replying to {doc.buyer.email}.")
    lines += ["", "Thank you,", doc.buyer.name, doc.buyer.email, *doc.buyer.address_lines]
    return "\n".join(lines) + "\n"


def _table_row(cells: tuple[str, ...], widths: list[int]) -> str:
    numeric = {0, 4, 5, 6}  # right-aligned columns: #, quantity, unit cost, line total
    padded = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
    return "  ".join(padded).rstrip()


def _one_line(text: str) -> str:
    return " ".join(text.split())  # a header never carries a line break (header injection)


class EmailDelivery:
    """Outbox handler `po.email`. Raises PermanentDeliveryError (5xx, bad login) or TransientDeliveryError."""

    def __init__(
        self, smtp_url: str, sender: str, *, ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.settings = parse_smtp_url(smtp_url)
        if "@" not in sender:
            raise ValueError(f"sender must be an email address, got {sender!r}")
        self.sender = sender
        self.ssl_context = ssl_context  # None: the system's trust store, hostname checked
        self.local_hostname = local_hostname  # the EHLO name; None lets smtplib use this host's FQDN

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> None:
        doc = PurchaseOrderDocument.from_payload(payload)
        self.send(build_message(doc, self.sender, idempotency_key))

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        where = f"{s.host}:{s.port}"
        context = self.ssl_context or ssl.create_default_context()
        client: smtplib.SMTP | None = None
        try:
            if s.implicit_tls:
                client = smtplib.SMTP_SSL(s.host, s.port, local_hostname=self.local_hostname, timeout=s.timeout,
                                          context=context)
            else:
                client = smtplib.SMTP(s.host, s.port, local_hostname=self.local_hostname, timeout=s.timeout)
            if s.starttls:
                client.starttls(context=context)
            if s.username:
                client.login(s.username, s.password or "")
            client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _classified(code, text, f"{where} refused the recipient") from exc
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, auth failed, ...
            raise _classified(exc.smtp_code, exc.smtp_error, f"{where} refused the message") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentDeliveryError(f"SMTP permanent failure at {where}: {exc} (check STOCKPILOT_SMTP_URL)") \
                from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentDeliveryError(f"SMTP permanent failure at {where}: TLS certificate rejected: {exc}") \
                from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused connection, timeout, dropped connection, TLS
            raise TransientDeliveryError(f"SMTP transient failure at {where}: {type(exc).__name__}: {exc}") \
                from exc
        finally:
            if client is not None:
                _quietly_quit(client)


def _classified(code: int, text: bytes | str, what: str) -> Exception:
    detail = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    if 500 <= code < 600:
        return PermanentDeliveryError(f"SMTP permanent failure: {what}: {code} {detail}")
    return TransientDeliveryError(f"SMTP transient failure: {what}: {code} {detail}")


def _quietly_quit(client: smtplib.SMTP) -> None:
    """Once the message is accepted it is delivered; a failing QUIT must not turn that into a retry."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
