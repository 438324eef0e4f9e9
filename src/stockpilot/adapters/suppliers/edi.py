"""EDI X12 850 (purchase order): the writer, a reader for checking it, and the `po.edi` file-drop handler.

Segments written (version 004010): ISA GS ST BEG CUR REF(PP revision, IA our code for the supplier) DTM(002
needed by) N1/N3/PER (buyer) N1 (supplier) PO1 PID ... CTT AMT SE GE IEA. BEG01 is 00 for a new order, 05
(replace) for a change order, since our change orders repeat the whole order, and 01 for a cancellation.

Control numbers come from the PO number and revision, so a redelivery writes a byte-identical file with the same
ISA13: a supplier's translator that already picked the first copy up recognises the duplicate interchange.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from hashlib import sha256
from pathlib import Path
from typing import Any

from stockpilot.adapters.suppliers.document import (
    TOPIC_EDI,
    InvalidPurchaseOrder,
    PermanentDeliveryError,
    PurchaseOrderDocument,
    TransientDeliveryError,
)
from stockpilot.adapters.suppliers.x12 import (
    Envelope,
    Segment,
    Separators,
    X12Error,
    clean,
    parse_interchange,
    write_interchange,
)

TOPIC = TOPIC_EDI
PURPOSE = {"new": "00", "change": "05", "cancel": "01"}  # BEG01
_SEP = Separators()


def control_number(po_number: str, revision: int) -> int:
    """A 9-digit control number a person can read back: PO-000123 revision 2 -> 12302 (digits x 100 + revision).

    PO numbers whose digits do not fit (or that have none) fall back to a hash of number and revision.
    """
    digits = re.sub(r"\D", "", po_number)
    if digits and revision < 100 and int(digits) < 10_000_000:
        return int(digits) * 100 + revision
    return int.from_bytes(sha256(f"{po_number}\x00{revision}".encode()).digest()[:8]) % 1_000_000_000


def write_850(doc: PurchaseOrderDocument, *, usage: str = "P") -> str:
    s = doc.supplier
    if not s.edi_sender_id:
        raise InvalidPurchaseOrder("supplier.edi_sender_id: required for EDI delivery")
    issued = doc.issued_at.astimezone(UTC)  # one time zone for the envelope and BEG05, whatever the issuer's
    envelope = Envelope(
        sender_id=s.edi_sender_id, receiver_id=s.edi_receiver_id or s.code, functional_id="PO",
        date=issued.strftime("%Y%m%d"), time=issued.strftime("%H%M"),
        control_number=control_number(doc.po_number, doc.revision), usage=usage,
    )

    def text(value: str, limit: int) -> str:
        return clean(value, _SEP, limit)

    body: list[list[str]] = [
        ["BEG", PURPOSE[doc.kind], "SA", doc.po_number, "", envelope.date],
        ["CUR", "BY", s.currency],
        ["REF", "PP", str(doc.revision)],
        ["REF", "IA", text(s.code, 30)],
    ]
    if doc.needed_by:
        body.append(["DTM", "002", doc.needed_by.strftime("%Y%m%d")])
    body.append(["N1", "BY", text(doc.buyer.name, 60)])
    address = [text(line, 55) for line in doc.buyer.address_lines if text(line, 55)]
    body += [["N3", *address[i : i + 2]] for i in range(0, len(address), 2)]
    body.append(["PER", "BD", text(doc.buyer.name, 60), "EM", text(doc.buyer.email, 80)])
    body.append(["N1", "SE", text(s.name, 60), "92", text(s.code, 80)])
    for line in doc.lines:
        if not re.fullmatch(r"[A-Z0-9]{2}", line.uom):
            raise InvalidPurchaseOrder(f"lines: unit of measure {line.uom!r} is not a 2-character X12 code (EA, CA...)")
        ids = ["BP", text(line.sku, 48)]
        if line.supplier_sku:
            ids += ["VP", text(line.supplier_sku, 48)]
        body.append(["PO1", str(line.line), str(line.quantity), line.uom, _amount(line.unit_cost), "PE",
                     *ids])
        body.append(["PID", "F", "", "", "", text(line.title, 80)])
    body.append(["CTT", str(len(doc.lines)), str(sum(line.quantity for line in doc.lines))])
    body.append(["AMT", "TT", _amount(doc.total)])
    try:
        return write_interchange(envelope, "850", body, _SEP)
    except ValueError as exc:
        raise InvalidPurchaseOrder(f"cannot write the 850: {exc}") from exc


@dataclass(frozen=True)
class Po1Line:
    line: str  # PO101, as sent
    quantity: Decimal
    uom: str
    unit_price: Decimal | None
    product_ids: dict[str, str]  # qualifier -> id (BP buyer part, VP/VN vendor part, UP, EN...)
    description: str  # PID05 of the PID segments that follow


@dataclass(frozen=True)
class Parsed850:
    po_number: str
    purpose: str  # BEG01
    order_date: date | None  # BEG05
    currency: str | None
    revision: int | None  # REF*PP
    needed_by: date | None  # DTM*002
    lines: tuple[Po1Line, ...]
    line_count: int | None  # CTT01
    quantity_total: Decimal | None  # CTT02 (hash total), when given
    interchange_control_number: str


def parse_850(text: str, *, strict: bool = True) -> list[Parsed850]:
    interchange = parse_interchange(text, strict=strict)
    orders = interchange.transactions("850")
    if not orders:
        raise X12Error("no 850 transaction set in the interchange")
    return [_order(t.segments, interchange.control_number) for t in orders]


def _order(segments: tuple[Segment, ...], control: str) -> Parsed850:
    beg = next((seg for seg in segments if seg.tag == "BEG"), None)
    if beg is None or not beg.get(3):
        raise X12Error("850 without BEG03 (purchase order number)")
    lines: list[Po1Line] = []
    fields: dict[str, Any] = {"currency": None, "revision": None, "needed_by": None, "ctt": None, "hash": None}
    for seg in segments:
        if seg.tag == "PO1":
            pairs = seg.elements[5:]
            ids = {pairs[i]: pairs[i + 1] for i in range(0, len(pairs) - 1, 2) if pairs[i]}
            lines.append(Po1Line(seg.get(1), _decimal(seg.get(2), "PO102"), seg.get(3),
                                 _decimal(seg.get(4), "PO104") if seg.get(4) else None, ids, ""))
        elif seg.tag == "PID" and lines and seg.get(5):
            last = lines[-1]
            description = f"{last.description} {seg.get(5)}".strip()
            lines[-1] = Po1Line(last.line, last.quantity, last.uom, last.unit_price, last.product_ids, description)
        elif seg.tag == "CUR" and seg.get(1) == "BY":
            fields["currency"] = seg.get(2)
        elif seg.tag == "REF" and seg.get(1) == "PP" and seg.get(2).isdigit():
            fields["revision"] = int(seg.get(2))
        elif seg.tag == "DTM" and seg.get(1) == "002" and not lines:
            fields["needed_by"] = ccyymmdd(seg.get(2))
        elif seg.tag == "CTT":
            fields["ctt"] = int(seg.get(1)) if seg.get(1).isdigit() else None
            fields["hash"] = _decimal(seg.get(2), "CTT02") if seg.get(2) else None
    return Parsed850(
        po_number=beg.get(3), purpose=beg.get(1), order_date=ccyymmdd(beg.get(5)) if beg.get(5) else None,
        currency=fields["currency"], revision=fields["revision"], needed_by=fields["needed_by"],
        lines=tuple(lines), line_count=fields["ctt"], quantity_total=fields["hash"],
        interchange_control_number=control,
    )


def ccyymmdd(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise X12Error(f"not a CCYYMMDD date: {value!r}") from None


def _decimal(value: str, where: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise X12Error(f"{where}: not a number: {value!r}") from None


def _amount(value: Decimal) -> str:
    return format(value, "f")


def check_850(text: str, doc: PurchaseOrderDocument) -> None:
    """Parse a written 850 back and compare it with the document it came from; X12Error on any difference."""
    (order,) = parse_850(text, strict=True)
    expected = [(str(ln.line), Decimal(ln.quantity), ln.unit_cost, clean(ln.sku, _SEP, 48)) for ln in doc.lines]
    found = [(ln.line, ln.quantity, ln.unit_price, ln.product_ids.get("BP")) for ln in order.lines]
    problems = [
        what for what, ok in [
            (f"BEG03 {order.po_number!r}", order.po_number == doc.po_number),
            (f"revision {order.revision}", order.revision == doc.revision),
            (f"purpose {order.purpose}", order.purpose == PURPOSE[doc.kind]),
            ("PO1 lines", found == expected),
            (f"CTT01 {order.line_count}", order.line_count == len(doc.lines)),
        ] if not ok
    ]
    if problems:
        raise X12Error(f"the 850 written for {doc.po_number} does not read back as written: {', '.join(problems)}")


class EdiDelivery:
    """Outbox handler `po.edi`: drop `<po_number>-r<revision>.x12` into the supplier's folder, atomically.

    The file appears complete or not at all (temp file, fsync, rename, fsync of the folder), and only after it
    was read back from disk and parsed to the same order. The temp name starts with a dot so a pickup job
    globbing `*.x12` never sees a half-written file.
    """

    def __init__(self, drop_dir: str | os.PathLike[str], *, usage: str = "P") -> None:
        self.drop_dir = Path(drop_dir)
        self.usage = usage

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> None:
        doc = PurchaseOrderDocument.from_payload(payload)
        self.deliver(doc)

    def deliver(self, doc: PurchaseOrderDocument) -> Path:
        content = write_850(doc, usage=self.usage).encode("ascii")
        folder = self._folder(doc)
        target = folder / f"{doc.file_stem}.x12"
        if target.exists():
            if target.read_bytes() == content:
                return target  # a redelivery of what is already there
            raise PermanentDeliveryError(f"{target} already exists with different content; not overwriting it")
        fd, temp_name = tempfile.mkstemp(prefix=f".{doc.file_stem}.", suffix=".tmp", dir=folder)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                check_850(temp.read_bytes().decode("ascii"), doc)
            except (X12Error, UnicodeDecodeError) as exc:
                raise PermanentDeliveryError(f"EDI self-check failed, nothing delivered: {exc}") from exc
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(folder)
        return target

    def _folder(self, doc: PurchaseOrderDocument) -> Path:
        if doc.supplier.edi_dir:
            # The supplier's own drop (often a mount or a synced folder): never created here, since writing into
            # an empty local folder where a share should be would lose the order silently.
            folder = Path(doc.supplier.edi_dir)
            if not folder.is_dir():
                raise TransientDeliveryError(f"EDI drop folder {folder} of {doc.supplier.code} is not there")
            return folder
        try:
            self.drop_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransientDeliveryError(f"cannot create the EDI drop folder {self.drop_dir}: {exc}") from exc
        return self.drop_dir


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
