"""X12: the 850 writer (envelope, widths, counts, control numbers), the strict reader, the 855 and 997 readers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from stockpilot.adapters.suppliers.document import InvalidPurchaseOrder, PurchaseOrderDocument
from stockpilot.adapters.suppliers.edi import check_850, control_number, parse_850, write_850
from stockpilot.adapters.suppliers.edi_ack import parse_855, parse_997
from stockpilot.adapters.suppliers.x12 import (
    Envelope,
    X12Error,
    parse_interchange,
    tokenize,
    write_interchange,
)
from tests.support.purchase_orders import po_payload

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "x12"


def fixture(name: str) -> str:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"shared fixture {path} not present")
    return path.read_text()


def doc(**changes):
    return PurchaseOrderDocument.from_payload(po_payload(**changes))


def segments_of(text: str) -> list[list[str]]:
    return [seg.split("*") for seg in text.replace("\n", "").split("~") if seg]


# --- writing the 850 ---------------------------------------------------------------------------------------------


def test_isa_is_fixed_width_and_names_the_delimiters():
    text = write_850(doc())
    isa = text[: text.index("~") + 1]
    assert len(isa) == 106
    assert isa[3] == "*" and isa[104] == ">" and isa[105] == "~"
    fields = isa[:-1].split("*")
    assert [len(f) for f in fields[1:]] == [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1]
    assert fields[6] == "NORTHWIND".ljust(15) and fields[8] == "ACMETEX".ljust(15)
    assert fields[9:11] == ["260302", "0915"] and fields[12] == "00401" and fields[13] == "000012300"


def test_850_segments_counts_and_control_numbers():
    text = write_850(doc(revision=2, kind="change"))
    segs = segments_of(text)
    tags = [s[0] for s in segs]
    assert tags == ["ISA", "GS", "ST", "BEG", "CUR", "REF", "REF", "DTM", "N1", "N3", "N3", "PER", "N1",
                    "PO1", "PID", "PO1", "PID", "PO1", "PID", "CTT", "AMT", "SE", "GE", "IEA"]
    gs, st, se, ge, iea = segs[1], segs[2], segs[-3], segs[-2], segs[-1]
    assert gs == ["GS", "PO", "NORTHWIND", "ACMETEX", "20260302", "0915", "12302", "X", "004010"]
    assert st == ["ST", "850", "000012302"]
    assert se == ["SE", str(tags.index("SE") - tags.index("ST") + 1), "000012302"]
    assert ge == ["GE", "1", "12302"] and iea == ["IEA", "1", "000012302"]
    assert segs[3] == ["BEG", "05", "SA", "PO-000123", "", "20260302"]
    assert ["REF", "PP", "2"] in segs and ["CUR", "BY", "USD"] in segs and ["DTM", "002", "20260320"] in segs
    assert segs[13] == ["PO1", "1", "48", "EA", "4.75", "PE", "BP", "TEE-BLK-M", "VP", "AC-1001"]
    assert segs[14] == ["PID", "F", "", "", "", "Organic cotton tee, black, M"]
    assert ["CTT", "3", "172"] in segs and ["AMT", "TT", "540.500"] in segs
    assert all(line.endswith("~") for line in text.splitlines())


def test_control_numbers_are_derived_from_po_number_and_revision():
    assert control_number("PO-000123", 0) == 12300
    assert control_number("PO-000123", 1) == 12301
    hashed = control_number("ACME-ORDER", 0)
    assert hashed == control_number("ACME-ORDER", 0) != control_number("ACME-ORDER", 1)
    assert 0 <= hashed < 1_000_000_000
    assert write_850(doc()) == write_850(doc())  # a redelivery writes the same interchange


@pytest.mark.parametrize(("kind", "purpose"), [("new", "00"), ("change", "05"), ("cancel", "01")])
def test_beg01_follows_the_kind(kind, purpose):
    assert parse_850(write_850(doc(kind=kind)))[0].purpose == purpose


def test_850_reads_back_as_written():
    d = doc(revision=1, kind="change")
    (order,) = parse_850(write_850(d))
    assert (order.po_number, order.revision, order.currency, order.needed_by) == (
        "PO-000123", 1, "USD", date(2026, 3, 20))
    assert order.order_date == date(2026, 3, 2) and order.line_count == 3 and order.quantity_total == 172
    assert [(ln.line, ln.quantity, ln.unit_price, ln.product_ids.get("BP")) for ln in order.lines] == [
        ("1", 48, Decimal("4.75"), "TEE-BLK-M"), ("2", 24, Decimal("12.50"), "TOTE-NAT"),
        ("3", 100, Decimal("0.125"), "MUG-350")]
    assert order.lines[0].product_ids["VP"] == "AC-1001" and order.lines[1].description == "Canvas tote bag, natural"
    check_850(write_850(d), d)
    with pytest.raises(X12Error, match="does not read back"):
        check_850(write_850(d), doc(revision=2))


def test_delimiters_and_non_ascii_in_free_text_are_neutralised():
    payload = po_payload()
    payload["lines"][0]["title"] = "Tee *special* ~50% off~ size>M, café"
    text = write_850(PurchaseOrderDocument.from_payload(payload))
    (order,) = parse_850(text)
    assert order.lines[0].description == "Tee special 50% off size M, cafe"
    assert len(order.lines) == 3


def test_850_needs_an_edi_sender_id_and_x12_units():
    with pytest.raises(InvalidPurchaseOrder, match="edi_sender_id"):
        write_850(doc(supplier={"edi_sender_id": None}))
    with pytest.raises(InvalidPurchaseOrder, match="15"):
        write_850(doc(supplier={"edi_sender_id": "A-SENDER-ID-LONGER-THAN-15"}))
    payload = po_payload()
    payload["lines"][0]["uom"] = "CASE"
    with pytest.raises(InvalidPurchaseOrder, match="unit of measure"):
        write_850(PurchaseOrderDocument.from_payload(payload))


def test_receiver_id_defaults_to_the_supplier_code():
    assert parse_interchange(write_850(doc(supplier={"edi_receiver_id": None}))).receiver_id == "ACME"


# --- the reader on real files ------------------------------------------------------------------------------------


def test_parse_node_x12_850():
    (order,) = parse_850(fixture("node-x12_850.x12"))
    assert order.po_number == "08292233294" and order.purpose == "00" and order.order_date == date(2010, 11, 27)
    assert order.needed_by == date(2010, 12, 14) and order.line_count == 6 and len(order.lines) == 6
    first = order.lines[0]
    assert (first.line, first.quantity, first.uom, first.unit_price) == ("1", 120, "EA", Decimal("9.25"))
    assert first.product_ids == {"CB": "065322-117", "PR": "RO", "VN": "AB3542"}
    assert first.description == "SMALL WIDGET" and order.lines[-1].description == "ORANGE WIDGET"
    interchange = parse_interchange(fixture("node-x12_850.x12"))
    assert interchange.version == "00400" and interchange.groups[0].version == "004010VICS"
    assert interchange.sender_id == "4405197800" and interchange.control_number == "000003438"


def test_edinet_850_has_a_wrong_iea02_strict_refuses_lenient_reads():
    text = fixture("edinet_850.x12")
    with pytest.raises(X12Error, match="IEA02 '000000001' does not match ISA13 '000000055'"):
        parse_850(text)
    interchange = parse_interchange(text, strict=False)
    assert interchange.problems == ("IEA02 '000000001' does not match ISA13 '000000055'",)
    (order,) = parse_850(text, strict=False)
    assert order.po_number == "1000012" and interchange.usage == "T"
    assert [(ln.line, ln.quantity, ln.unit_price, ln.product_ids) for ln in order.lines] == [
        ("1", 1, Decimal("19.95"), {"VN": "0054321"})]


def test_parse_node_x12_855():
    (ack,) = parse_855(fixture("node-x12_855.x12"))
    assert ack.po_number == "POTEST1112" and ack.ack_type == "AD" and ack.ack_date == date(2020, 10, 15)
    assert ack.supplier_reference == "60169126"
    # "AD: with detail, no change" in the header, yet two lines rejected: the lines count.
    assert ack.status == "accepted_with_changes"
    assert [(ln.line, ln.quantity, ln.status, ln.ordered_quantity) for ln in ack.lines] == [
        (1, 3, "IA", 3), (2, 0, "IR", 2), (3, 0, "IR", 1), (4, 2, "IA", 2)]
    assert ack.lines[0].ship_date == date(2004, 12, 31) and ack.lines[1].ship_date == date(2007, 10, 9)


# --- 855 and 997 built here ----------------------------------------------------------------------------------------

ENV = Envelope(sender_id="ACMETEX", receiver_id="NORTHWIND", functional_id="PR", date="20260303", time="1000",
               control_number=77)


def ack_855(bak02: str, *lines: list[list[str]]) -> str:
    body = [["BAK", "00", bak02, "PO-000123", "20260303", "", "", "", "SO-991"]]
    for segs in lines:
        body += segs
    body.append(["CTT", str(len(lines))])
    return write_interchange(ENV, "855", body)


def test_855_accepted_as_ordered():
    text = ack_855("AD", [["PO1", "1", "48", "EA", "4.75"], ["ACK", "IA", "48", "EA", "068", "20260318"]])
    (ack,) = parse_855(text)
    assert ack.status == "accepted" and ack.supplier_reference == "SO-991"
    assert ack.lines[0].ship_date == date(2026, 3, 18) and ack.lines[0].quantity == 48


def test_855_split_line_and_changed_quantity():
    text = ack_855("AC", [["PO1", "1", "48", "EA"], ["ACK", "IA", "30", "EA", "068", "20260318"],
                          ["ACK", "IB", "18", "EA", "068", "20260401"]],
                   [["PO1", "2", "24", "EA"], ["DTM", "068", "20260320"]])
    (ack,) = parse_855(text)
    assert ack.status == "accepted_with_changes"
    assert [(ln.line, ln.quantity, ln.status, ln.ship_date) for ln in ack.lines] == [
        (1, 30, "IA", date(2026, 3, 18)), (1, 18, "IB", date(2026, 4, 1)), (2, 24, None, date(2026, 3, 20))]


def test_855_rejections():
    assert parse_855(ack_855("RJ"))[0].status == "rejected"
    all_rejected = ack_855("AE", [["PO1", "1", "48", "EA"], ["ACK", "IR", "0", "EA"]])
    assert parse_855(all_rejected)[0].status == "rejected"
    with pytest.raises(X12Error, match="BAK02 'XX'"):
        parse_855(ack_855("XX"))
    with pytest.raises(X12Error, match="no 855"):
        parse_855(write_850(doc()))


def test_997():
    env = Envelope(sender_id="ACMETEX", receiver_id="NORTHWIND", functional_id="FA", date="20260303", time="1000",
                   control_number=5)
    body = [["AK1", "PO", "12300"], ["AK2", "850", "000012300"], ["AK5", "A"], ["AK9", "A", "1", "1", "1"]]
    (fa,) = parse_997(write_interchange(env, "997", body))
    assert (fa.functional_id, fa.group_control_number, fa.status) == ("PO", "12300", "accepted")
    assert [(t.code, t.control_number, t.accepted) for t in fa.transactions] == [("850", "000012300", True)]
    body = [["AK1", "PO", "12300"], ["AK2", "850", "000012300"], ["AK5", "R", "5"], ["AK9", "R", "1", "1", "0"]]
    (fa,) = parse_997(write_interchange(env, "997", body))
    assert fa.status == "rejected" and not fa.transactions[0].accepted


# --- strictness --------------------------------------------------------------------------------------------------


def test_wrong_counts_and_broken_envelopes_are_refused():
    text = write_850(doc())
    se = next(line for line in text.splitlines() if line.startswith("SE*"))
    with pytest.raises(X12Error, match="SE01"):
        parse_interchange(text.replace(se, "SE*99*000012300~"))
    with pytest.raises(X12Error, match="GE01"):
        parse_interchange(text.replace("GE*1*", "GE*2*"))
    with pytest.raises(X12Error, match="starts with an ISA"):
        parse_interchange("GS*PO*A*B~")
    with pytest.raises(X12Error, match="106 characters"):
        parse_interchange(text[:80])
    with pytest.raises(X12Error, match="has no SE"):
        parse_interchange(text.replace(se + "\n", ""))
    with pytest.raises(X12Error, match="ISA06 is 9 characters"):
        parse_interchange(text.replace("NORTHWIND      ", "NORTHWIND", 1).replace("*00401*", "*00401*      ", 1))


def test_tokenizer_takes_delimiters_from_the_isa():
    text = write_850(doc()).replace("*", "|").replace("~\n", "'")  # same interchange, other delimiters
    separators, segments = tokenize(text)
    assert (separators.element, separators.component, separators.segment) == ("|", ">", "'")
    assert parse_850(text)[0].po_number == "PO-000123" and segments[-1].tag == "IEA"
