"""The documents a supplier was sent for a PO (one outbox row per revision and kind), and each one's PDF.

The PDF is rendered from the outbox row's own payload by the same renderer the email handler attaches, and the
renderer is deterministic (its creation date is the PO's issue time), so the dashboard serves byte for byte the
PDF an email supplier received. API and EDI suppliers got the same document as JSON or X12; its PDF is the same
document on paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from stockpilot.adapters.db.tables import outbox
from stockpilot.adapters.suppliers.document import PurchaseOrderDocument
from stockpilot.adapters.suppliers.pdf import render_pdf
from stockpilot.domain.errors import NotFound
from stockpilot.services.context import Context

TOPIC_WORDS = {"po.email": "email", "po.http": "supplier API", "po.edi": "EDI 850"}


@dataclass(frozen=True)
class SentDocument:
    revision: int
    kind: str  # new | change | cancel
    via: str
    status: str  # the outbox row's: pending, delivered, dead, ...
    queued_at: datetime
    delivered_at: datetime | None

    @property
    def file_name(self) -> str:
        return f"r{self.revision}-{self.kind}.pdf"


def _prefix(number: str) -> str:
    return f"po:{number}:r"


class PODocuments:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def sent(self, number: str) -> list[SentDocument]:
        with self.ctx.db.read() as conn:
            rows = conn.execute(select(outbox.c.idempotency_key, outbox.c.topic, outbox.c.status,
                                       outbox.c.created_at, outbox.c.delivered_at)
                                .where(outbox.c.idempotency_key.startswith(_prefix(number), autoescape=True))
                                .order_by(outbox.c.id)).all()
        out = []
        for r in rows:
            revision, _, kind = r.idempotency_key[len(_prefix(number)):].partition(":")
            if revision.isdigit() and r.topic in TOPIC_WORDS:
                out.append(SentDocument(int(revision), kind, TOPIC_WORDS[r.topic], r.status, r.created_at,
                                        r.delivered_at))
        return out

    def pdf(self, number: str, revision: int, kind: str) -> tuple[str, bytes]:
        """(file name, PDF bytes) of the document sent as that revision and kind."""
        with self.ctx.db.read() as conn:
            payload = conn.execute(select(outbox.c.payload).where(
                outbox.c.idempotency_key == f"{_prefix(number)}{revision}:{kind}",
                outbox.c.topic.in_(list(TOPIC_WORDS)))).scalar_one_or_none()
        if payload is None:
            raise NotFound(f"{number} has no revision {revision} ({kind}) sent to a supplier")
        doc = PurchaseOrderDocument.from_payload(payload)
        return f"{doc.file_stem}.pdf", render_pdf(doc)
