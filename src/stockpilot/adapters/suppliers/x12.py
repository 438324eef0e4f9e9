"""A small, strict ANSI X12 tokenizer and envelope writer (ISA/GS/ST ... SE/GE/IEA).

Why not a library: the X12 packages on PyPI do not fit. pyx12 is a HIPAA validator driven by per-transaction
maps (none for 850/855) and refuses ISA12 versions other than 00401/00501 (real 850s carry 00400); badx12 pins
click 7.0 (our CLI needs a newer one) and targets Python 3.6/3.7. The envelope itself is simple and fully
specified, so a strict reader of it is shorter than either integration.

Reading: the ISA segment is fixed width (106 characters), so it names the delimiters: element separator at index
3, component separator at 104, segment terminator at 105. Line breaks after a terminator are tolerated (common in
files). Envelope checks: ISA field widths, SE01 segment count, SE02 = ST02, GE01 = number of ST, GE02 = GS06,
IEA01 = number of GS, IEA02 = ISA13. With strict=True any problem raises X12Error; with strict=False problems are
listed in `Interchange.problems` (some real files carry a wrong IEA02).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

ISA_LENGTH = 106
# Element widths of ISA01..ISA16: the segment is fixed width, every field padded.
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}")


class X12Error(ValueError):
    """The text is not a well-formed X12 interchange (or not the transaction set expected)."""


@dataclass(frozen=True)
class Separators:
    element: str = "*"
    component: str = ">"
    segment: str = "~"

    def __post_init__(self) -> None:
        chars = (self.element, self.component, self.segment)
        if any(len(c) != 1 or c.isalnum() or c.isspace() for c in chars) or len(set(chars)) != 3:
            raise X12Error(f"separators must be three distinct punctuation characters, got {chars}")


@dataclass(frozen=True)
class Segment:
    tag: str
    elements: tuple[str, ...]  # elements[0] is the first data element (XX01)

    def get(self, position: int) -> str:
        """Element XXnn by its 1-based position, "" when absent (trailing empty elements are often omitted)."""
        return self.elements[position - 1] if 0 < position <= len(self.elements) else ""


@dataclass(frozen=True)
class TransactionSet:
    code: str  # ST01: 850, 855, 997...
    control_number: str  # ST02
    segments: tuple[Segment, ...]  # between ST and SE, both excluded


@dataclass(frozen=True)
class FunctionalGroup:
    functional_id: str  # GS01: PO, PR, FA...
    sender_id: str
    receiver_id: str
    control_number: str  # GS06
    version: str  # GS08
    transactions: tuple[TransactionSet, ...]


@dataclass(frozen=True)
class Interchange:
    sender_qualifier: str
    sender_id: str  # ISA06, unpadded
    receiver_qualifier: str
    receiver_id: str  # ISA08, unpadded
    date: str  # ISA09 YYMMDD
    time: str  # ISA10 HHMM
    version: str  # ISA12
    control_number: str  # ISA13
    usage: str  # ISA15: P production, T test
    separators: Separators
    groups: tuple[FunctionalGroup, ...]
    problems: tuple[str, ...] = field(default=())  # envelope problems found with strict=False

    def transactions(self, code: str | None = None) -> list[TransactionSet]:
        return [t for g in self.groups for t in g.transactions if code is None or t.code == code]


def tokenize(text: str) -> tuple[Separators, list[Segment]]:
    """Split an interchange into segments, taking the delimiters from its fixed-width ISA segment."""
    text = text.lstrip("\ufeff \r\n\t")
    if not text.startswith("ISA"):
        raise X12Error("an X12 interchange starts with an ISA segment")
    if len(text) < ISA_LENGTH:
        raise X12Error(f"the ISA segment is {ISA_LENGTH} characters; the text has only {len(text)}")
    separators = Separators(element=text[3], component=text[104], segment=text[105])
    segments: list[Segment] = []
    for number, raw in enumerate(text.split(separators.segment), start=1):
        raw = raw.strip("\r\n")
        if not raw.strip():
            continue
        tag, *elements = raw.split(separators.element)
        if not _TAG.fullmatch(tag):
            raise X12Error(f"segment {number}: {raw[:20]!r} does not start with a segment tag")
        segments.append(Segment(tag, tuple(elements)))
    return separators, segments


def parse_interchange(text: str, *, strict: bool = True) -> Interchange:
    """Parse one interchange and check its envelope (see the module docstring)."""
    separators, segments = tokenize(text)
    problems: list[str] = []
    isa = segments[0]
    if len(isa.elements) != len(ISA_WIDTHS):
        raise X12Error(f"ISA has {len(isa.elements)} elements, expected {len(ISA_WIDTHS)}")
    for position, (value, width) in enumerate(zip(isa.elements, ISA_WIDTHS, strict=True), start=1):
        if len(value) != width:
            problems.append(f"ISA{position:02d} is {len(value)} characters wide, expected {width}")
    groups: list[FunctionalGroup] = []
    index = 1
    while index < len(segments) and segments[index].tag == "GS":
        group, index = _group(segments, index, problems)
        groups.append(group)
    if index >= len(segments) or segments[index].tag != "IEA":
        found = segments[index].tag if index < len(segments) else "the end"
        raise X12Error(f"expected GS or IEA, found {found}")
    iea = segments[index]
    if iea.get(1) != str(len(groups)):
        problems.append(f"IEA01 says {iea.get(1)} functional groups, found {len(groups)}")
    if iea.get(2) != isa.get(13):
        problems.append(f"IEA02 {iea.get(2)!r} does not match ISA13 {isa.get(13)!r}")
    if index != len(segments) - 1:
        problems.append(f"{len(segments) - 1 - index} segments after IEA (only one interchange is read)")
    if strict and problems:
        raise X12Error("; ".join(problems))
    return Interchange(
        sender_qualifier=isa.get(5), sender_id=isa.get(6).strip(), receiver_qualifier=isa.get(7),
        receiver_id=isa.get(8).strip(), date=isa.get(9), time=isa.get(10), version=isa.get(12),
        control_number=isa.get(13), usage=isa.get(15), separators=separators, groups=tuple(groups),
        problems=tuple(problems),
    )


def _group(segments: list[Segment], index: int, problems: list[str]) -> tuple[FunctionalGroup, int]:
    gs = segments[index]
    index += 1
    transactions: list[TransactionSet] = []
    while index < len(segments) and segments[index].tag == "ST":
        st = segments[index]
        end = next((i for i in range(index + 1, len(segments)) if segments[i].tag in ("SE", "ST", "GE")), None)
        if end is None or segments[end].tag != "SE":
            raise X12Error(f"transaction set {st.get(1)} {st.get(2)} has no SE")
        se = segments[end]
        count = end - index + 1
        if se.get(1) != str(count):
            problems.append(f"SE01 of {st.get(1)} {st.get(2)} says {se.get(1)} segments, counted {count}")
        if se.get(2) != st.get(2):
            problems.append(f"SE02 {se.get(2)!r} does not match ST02 {st.get(2)!r}")
        transactions.append(TransactionSet(st.get(1), st.get(2), tuple(segments[index + 1 : end])))
        index = end + 1
    if index >= len(segments) or segments[index].tag != "GE":
        raise X12Error(f"functional group {gs.get(6)} has no GE")
    ge = segments[index]
    if ge.get(1) != str(len(transactions)):
        problems.append(f"GE01 says {ge.get(1)} transaction sets, found {len(transactions)}")
    if ge.get(2) != gs.get(6):
        problems.append(f"GE02 {ge.get(2)!r} does not match GS06 {gs.get(6)!r}")
    group = FunctionalGroup(gs.get(1), gs.get(2), gs.get(3), gs.get(6), gs.get(8), tuple(transactions))
    return group, index + 1


# --- Writing -----------------------------------------------------------------------------------------------


def clean(value: str, separators: Separators, max_length: int | None = None) -> str:
    """Make free text safe for an element: ASCII only, no delimiters or control characters, trimmed."""
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    banned = {separators.element, separators.component, separators.segment}
    text = "".join(" " if (c in banned or not c.isprintable()) else c for c in ascii_text)
    text = " ".join(text.split())
    return text[:max_length].rstrip() if max_length else text


@dataclass(frozen=True)
class Envelope:
    """What the ISA/GS headers need; control numbers are digits only (ISA13 is exactly 9)."""

    sender_id: str
    receiver_id: str
    functional_id: str  # GS01
    date: str  # CCYYMMDD
    time: str  # HHMM
    control_number: int
    version: str = "004010"  # GS08; ISA12 is its first five digits (00401)
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    usage: str = "P"


def write_interchange(
    envelope: Envelope, code: str, body: Iterable[Iterable[str]], separators: Separators = Separators()
) -> str:
    """One interchange with one group and one transaction set. `body` is the segments between ST and SE."""
    for name in ("sender_id", "receiver_id"):
        value = getattr(envelope, name)
        if not value or len(value) > 15 or clean(value, separators) != value:
            raise ValueError(f"EDI {name} {value!r}: 1-15 plain ASCII characters, no delimiters")
    if not 0 <= envelope.control_number <= 999_999_999:
        raise ValueError("control number must fit in 9 digits")
    if envelope.usage not in ("P", "T"):
        raise ValueError("usage indicator is P (production) or T (test)")
    control = f"{envelope.control_number:09d}"
    e, s = separators.element, separators.segment
    isa = e.join([
        "ISA", "00", " " * 10, "00", " " * 10,
        envelope.sender_qualifier, envelope.sender_id.ljust(15),
        envelope.receiver_qualifier, envelope.receiver_id.ljust(15),
        envelope.date[2:], envelope.time, "U", envelope.version[:5], control, "0", envelope.usage,
        separators.component,
    ])
    if len(isa) + 1 != ISA_LENGTH:  # a date, time or qualifier of the wrong width
        raise ValueError(f"ISA would be {len(isa) + 1} characters, not {ISA_LENGTH}")
    transaction = [["ST", code, control], *[list(seg) for seg in body]]
    transaction.append(["SE", str(len(transaction) + 1), control])
    segments = [
        ["GS", envelope.functional_id, envelope.sender_id, envelope.receiver_id, envelope.date, envelope.time,
         str(envelope.control_number), "X", envelope.version],
        *transaction,
        ["GE", "1", str(envelope.control_number)],
        ["IEA", "1", control],
    ]
    # Trailing empty elements are dropped, as X12 requires; one segment per line for people reading the file.
    lines = [isa] + [e.join(_trim(seg)) for seg in segments]
    return "".join(f"{line}{s}\n" for line in lines)


def _trim(elements: list[str]) -> list[str]:
    while elements and elements[-1] == "":
        elements = elements[:-1]
    return elements
