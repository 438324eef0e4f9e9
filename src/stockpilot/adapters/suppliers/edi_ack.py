"""Readers of what suppliers send back over EDI: the 855 (PO acknowledgement) and the 997 (functional ack).

855 status, from BAK02 and the lines (real 855s say "AD, no change" and still reject lines, so both count):
- rejected: BAK02 is a rejection (RD, RF, RJ, RO), or every line is rejected (IR, ID, R1..R8);
- accepted_with_changes: BAK02 says changes or exceptions (AC, AE), or any line is not plainly accepted
  (IQ quantity changed, DR date rescheduled, IB backordered, IR rejected, ...) or confirms another quantity;
- accepted otherwise (AD, AK, AT).
A PO1 with several ACK segments (part now, part later) gives one line entry per ACK, with the same line number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

from stockpilot.adapters.suppliers.edi import ccyymmdd
from stockpilot.adapters.suppliers.x12 import Segment, X12Error, parse_interchange

AckStatus = Literal["accepted", "accepted_with_changes", "rejected"]

_BAK02: dict[str, AckStatus] = {
    "AD": "accepted", "AK": "accepted", "AT": "accepted",
    "AC": "accepted_with_changes", "AE": "accepted_with_changes",
    "RD": "rejected", "RF": "rejected", "RJ": "rejected", "RO": "rejected",
}
_LINE_ACCEPTED = {"IA", "AC", "AR"}  # accepted as ordered (and possibly shipped or released)
_LINE_REJECTED = {"IR", "ID", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"}
_SHIP_DATE_QUALIFIERS = {"067", "068", "069", "017", "002", "010", "011"}  # schedule/promised/estimated dates


@dataclass(frozen=True)
class AckLine:
    line: int  # PO101 of our order
    quantity: Decimal  # confirmed (ACK02), or ordered when the line has no ACK
    status: str | None  # ACK01 (IA, IR, IQ, DR, ...); None when the supplier only echoed the line
    ship_date: date | None
    ordered_quantity: Decimal  # PO102
    unit_price: Decimal | None  # PO104 as the supplier confirms it


@dataclass(frozen=True)
class PurchaseOrderAck:
    po_number: str  # BAK03
    status: AckStatus
    ack_type: str  # BAK02 as sent
    ack_date: date | None  # BAK04
    supplier_reference: str | None  # the supplier's order number: BAK08, else BAK06 (where some put it)
    lines: tuple[AckLine, ...]
    interchange_control_number: str


def parse_855(text: str, *, strict: bool = True) -> list[PurchaseOrderAck]:
    interchange = parse_interchange(text, strict=strict)
    acks = interchange.transactions("855")
    if not acks:
        raise X12Error("no 855 transaction set in the interchange")
    return [_ack(t.segments, interchange.control_number) for t in acks]


def _ack(segments: tuple[Segment, ...], control: str) -> PurchaseOrderAck:
    bak = next((seg for seg in segments if seg.tag == "BAK"), None)
    if bak is None or not bak.get(3):
        raise X12Error("855 without BAK03 (purchase order number)")
    ack_type = bak.get(2)
    if ack_type not in _BAK02:
        raise X12Error(f"BAK02 {ack_type!r} is not an acknowledgement type we read ({', '.join(sorted(_BAK02))})")
    lines = [line for loop in _po1_loops(segments) for line in _loop_lines(loop)]
    return PurchaseOrderAck(
        po_number=bak.get(3), status=_status(_BAK02[ack_type], lines), ack_type=ack_type,
        ack_date=ccyymmdd(bak.get(4)) if bak.get(4) else None, supplier_reference=bak.get(8) or bak.get(6) or None,
        lines=tuple(lines), interchange_control_number=control,
    )


def _status(header: AckStatus, lines: list[AckLine]) -> AckStatus:
    if header == "rejected":
        return "rejected"
    stated = [line.status for line in lines if line.status is not None]
    if stated and all(status in _LINE_REJECTED for status in stated):
        return "rejected"
    changed = any(
        (line.status is not None and line.status not in _LINE_ACCEPTED) or line.quantity != line.ordered_quantity
        for line in lines
    )
    return "accepted_with_changes" if header == "accepted_with_changes" or changed else "accepted"


def _po1_loops(segments: tuple[Segment, ...]) -> list[list[Segment]]:
    """The PO1 segment of each line with the segments that belong to it, up to the next PO1 or the CTT."""
    loops: list[list[Segment]] = []
    for seg in segments:
        if seg.tag == "PO1":
            loops.append([seg])
        elif seg.tag in ("CTT", "AMT") and loops:
            break
        elif loops:
            loops[-1].append(seg)
    return loops


def _loop_lines(loop: list[Segment]) -> list[AckLine]:
    po1 = loop[0]
    if not po1.get(1).isdigit():
        raise X12Error(f"PO101 {po1.get(1)!r} is not one of our line numbers")
    line, ordered = int(po1.get(1)), _number(po1.get(2), "PO102")
    price = _number(po1.get(4), "PO104") if po1.get(4) else None
    fallback_date = _loop_ship_date(loop)
    acks = [seg for seg in loop if seg.tag == "ACK"]
    if not acks:
        return [AckLine(line, ordered, None, fallback_date, ordered, price)]
    return [
        AckLine(
            line=line,
            quantity=_number(ack.get(2), "ACK02") if ack.get(2) else ordered,
            status=ack.get(1),
            ship_date=ccyymmdd(ack.get(5)) if ack.get(4) and ack.get(5) else fallback_date,
            ordered_quantity=ordered,
            unit_price=price,
        )
        for ack in acks
    ]


def _loop_ship_date(loop: list[Segment]) -> date | None:
    """A date for the line when its ACK has none: a DTM with a schedule qualifier, else the first SCH date."""
    for seg in loop:
        if seg.tag == "DTM" and seg.get(1) in _SHIP_DATE_QUALIFIERS and seg.get(2):
            return ccyymmdd(seg.get(2))
    for seg in loop:
        if seg.tag == "SCH" and seg.get(6):
            return ccyymmdd(seg.get(6))
    return None


def _number(value: str, where: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise X12Error(f"{where}: not a number: {value!r}") from None


# --- 997 functional acknowledgement -------------------------------------------------------------------------

GroupStatus = Literal["accepted", "accepted_with_errors", "partially_accepted", "rejected"]
_AK9: dict[str, GroupStatus] = {
    "A": "accepted", "E": "accepted_with_errors", "P": "partially_accepted",
    "R": "rejected", "M": "rejected", "W": "rejected", "X": "rejected",
}


@dataclass(frozen=True)
class TransactionAck:
    code: str  # AK201, e.g. 850
    control_number: str  # AK202 = our ST02
    accepted: bool  # AK501 A or E
    status_code: str  # AK501 as sent


@dataclass(frozen=True)
class FunctionalAck:
    functional_id: str  # AK101, e.g. PO
    group_control_number: str  # AK102 = our GS06
    status: GroupStatus  # AK901
    transactions: tuple[TransactionAck, ...]


def parse_997(text: str, *, strict: bool = True) -> list[FunctionalAck]:
    interchange = parse_interchange(text, strict=strict)
    found = interchange.transactions("997")
    if not found:
        raise X12Error("no 997 transaction set in the interchange")
    return [_functional_ack(t.segments) for t in found]


def _functional_ack(segments: tuple[Segment, ...]) -> FunctionalAck:
    ak1 = next((seg for seg in segments if seg.tag == "AK1"), None)
    ak9 = next((seg for seg in segments if seg.tag == "AK9"), None)
    if ak1 is None or ak9 is None or ak9.get(1) not in _AK9:
        raise X12Error("997 needs AK1 and an AK9 with status A, E, P, R, M, W or X")
    transactions: list[TransactionAck] = []
    current: Segment | None = None
    for seg in segments:
        if seg.tag == "AK2":
            current = seg
        elif seg.tag == "AK5" and current is not None:
            transactions.append(TransactionAck(current.get(1), current.get(2), seg.get(1) in ("A", "E"), seg.get(1)))
            current = None
    return FunctionalAck(ak1.get(1), ak1.get(2), _AK9[ak9.get(1)], tuple(transactions))
