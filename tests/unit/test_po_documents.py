"""The PO payload, its PDF and email renderings, the SMTP URL, signed acknowledge links, API acknowledgements."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader

from stockpilot.adapters.suppliers.ack import AckTokenExpired, AckTokenInvalid, sign_ack, verify_ack
from stockpilot.adapters.suppliers.document import (
    InvalidPurchaseOrder,
    PermanentDeliveryError,
    PurchaseOrderDocument,
)
from stockpilot.adapters.suppliers.email import KEY_HEADER, build_message, message_id, parse_smtp_url
from stockpilot.adapters.suppliers.http_api import ConfirmedLine, parse_ack_response, request_body
from stockpilot.adapters.suppliers.pdf import latin1, money, render_pdf
from tests.support.purchase_orders import many_lines, po_payload

SENDER = "Northwind Purchasing <po@northwind.example>"


def doc(**changes):
    return PurchaseOrderDocument.from_payload(po_payload(**changes))


def pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


# --- payload ---------------------------------------------------------------------------------------------------


def test_payload_reads_into_a_document_and_back():
    d = doc()
    assert d.po_number == "PO-000123" and d.kind == "new" and d.revision == 0
    assert d.issued_at == datetime(2026, 3, 2, 9, 15, tzinfo=UTC) and d.needed_by == date(2026, 3, 20)
    assert [ln.total for ln in d.lines] == [Decimal("228.00"), Decimal("300.00"), Decimal("12.500")]
    assert d.total == Decimal("540.500")
    assert d.lines[2].supplier_sku is None and d.supplier.api_token is None
    assert PurchaseOrderDocument.from_payload(d.to_payload()) == d


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "amend"}, "kind 'amend'"),
        ({"po_number": "../etc/passwd"}, "po_number"),
        ({"revision": -1}, "revision: must be at least 0"),
        ({"issued_at": "2026-03-02T09:15:00"}, "issued_at: needs a UTC offset"),
        ({"needed_by": "20/03/2026"}, "needed_by: not an ISO date"),
        ({"supplier": {"currency": "usd"}}, "supplier.currency"),
        ({"lines": []}, "at least one line"),
        ({"buyer": "Northwind"}, "buyer: expected an object"),
    ],
)
def test_invalid_payloads_name_the_field(change, message):
    with pytest.raises(InvalidPurchaseOrder, match=message):
        PurchaseOrderDocument.from_payload(po_payload(**change))


def test_money_must_not_travel_as_a_float_and_lines_are_checked_by_path():
    payload = po_payload()
    payload["lines"][1]["unit_cost"] = 12.5
    with pytest.raises(InvalidPurchaseOrder, match=r"lines\[1\]\.unit_cost"):
        PurchaseOrderDocument.from_payload(payload)
    payload = po_payload()
    payload["lines"][1]["line"] = 1
    with pytest.raises(InvalidPurchaseOrder, match="unique"):
        PurchaseOrderDocument.from_payload(payload)


def test_an_invalid_payload_is_a_permanent_failure():
    assert issubclass(InvalidPurchaseOrder, PermanentDeliveryError)
    assert issubclass(InvalidPurchaseOrder, ValueError)


def test_a_cancellation_may_list_no_lines():
    assert doc(kind="cancel", lines=[]).total == 0


# --- PDF -------------------------------------------------------------------------------------------------------


def test_pdf_carries_the_order():
    data = render_pdf(doc())
    assert data.startswith(b"%PDF-")
    (text,) = pdf_text(data)
    for expected in ("PURCHASE ORDER", "PO-000123", "Acme Textiles Ltd", "Northwind Goods", "TEE-BLK-M", "AC-1001",
                     "Organic cotton tee, black, M", "0.125", "228.00", "540.50", "Total (USD)", "20 Mar 2026"):
        assert expected in text, expected
    reader = PdfReader(io.BytesIO(data))
    links = [a.get_object()["/A"]["/URI"] for a in reader.pages[0].get("/Annots", [])]
    assert "https://stock.northwind.example/ack/v1.token.signature" in links
    assert reader.metadata.title == "Purchase order PO-000123 (revision 0)"


def test_pdf_is_the_same_bytes_for_the_same_payload():
    assert render_pdf(doc()) == render_pdf(doc())


def test_a_long_order_flows_over_pages_and_every_page_names_the_order():
    pages = pdf_text(render_pdf(doc(lines=many_lines(80))))
    assert len(pages) >= 2
    assert all("PO-000123" in page for page in pages)
    assert "SKU-0080" in pages[-1] and "Page 1 of" in pages[0]


def test_change_and_cancellation_say_so():
    (change,) = pdf_text(render_pdf(doc(kind="change", revision=2)))
    assert "CHANGE ORDER" in change and "revision 2 replaces every earlier revision" in change
    (cancel,) = pdf_text(render_pdf(doc(kind="cancel", revision=3, ack_url=None)))
    assert "CANCELLATION" in cancel and "PLEASE DO NOT SHIP" in cancel


def test_text_outside_latin1_is_transliterated_not_fatal():
    payload = po_payload(buyer={"name": "Łódź Trading — Spółka", "email": "a@b.example", "address_lines": ["東京"]})
    (text,) = pdf_text(render_pdf(PurchaseOrderDocument.from_payload(payload)))
    assert "Lódz Trading - Spólka" in text  # ó is Latin-1; Ł and ź are not
    assert latin1("Café") == "Café"
    assert latin1("東京 Łódź") == "?? Lódz"


def test_money_keeps_sub_cent_prices():
    assert money(Decimal("1234.5")) == "1,234.50"
    assert money(Decimal("0.125")) == "0.125"
    assert money(Decimal("12.500")) == "12.50"


# --- email message ---------------------------------------------------------------------------------------------


def test_email_message_has_subject_headers_body_and_pdf():
    message = build_message(doc(), SENDER, "po:PO-000123:r0:email")
    assert message["Subject"] == "Purchase order PO-000123 (revision 0)"
    assert message["To"] == "Acme Textiles Ltd <orders@acme.example>"
    assert message["Reply-To"] == "Northwind Goods <purchasing@northwind.example>"
    assert message[KEY_HEADER] == "po:PO-000123:r0:email"
    assert message["Message-ID"] == message_id("po:PO-000123:r0:email", SENDER)
    assert message["Message-ID"].endswith("@northwind.example>")
    body = message.get_body(("plain",)).get_content()
    assert "TEE-BLK-M" in body and "AC-1001" in body and "Total (USD): 540.50" in body
    assert "https://stock.northwind.example/ack/v1.token.signature" in body
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "PO-000123-r0.pdf"
    assert attachment.get_content() == render_pdf(doc())


def test_message_id_follows_the_key():
    assert message_id("k1", SENDER) == message_id("k1", SENDER) != message_id("k2", SENDER)


@pytest.mark.parametrize(
    ("kind", "subject"),
    [("change", "Change order PO-000123 (revision 2)"),
     ("cancel", "Cancellation of purchase order PO-000123 (revision 2)")],
)
def test_email_subject_per_kind(kind, subject):
    assert build_message(doc(kind=kind, revision=2), SENDER, "k")["Subject"] == subject


def test_a_supplier_name_cannot_inject_headers():
    message = build_message(doc(supplier={"name": "Acme\r\nBcc: spy@evil.example"}), SENDER, "k")
    assert "Bcc" not in message and "\n" not in message["To"]


def test_email_needs_the_supplier_address():
    with pytest.raises(InvalidPurchaseOrder, match=r"supplier.email"):
        build_message(doc(supplier={"email": None}), SENDER, "k")


# --- SMTP URL --------------------------------------------------------------------------------------------------


def test_smtp_urls():
    plain = parse_smtp_url("smtp://127.0.0.1:2525")
    assert (plain.host, plain.port, plain.starttls, plain.implicit_tls, plain.username) == (
        "127.0.0.1", 2525, False, False, None)
    upgrade = parse_smtp_url("smtp://mail.example:587?starttls=1&timeout=5")
    assert upgrade.starttls and upgrade.timeout == 5
    login = parse_smtp_url("smtp://user%40example.com:p%3Ass@mail.example:587")
    assert (login.username, login.password) == ("user@example.com", "p:ss")
    tls = parse_smtp_url("smtps://user:pass@mail.example")
    assert tls.implicit_tls and tls.port == 465 and not tls.starttls
    assert parse_smtp_url("smtp://mail.example").port == 25


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example", "smtp:// or smtps://"),
        ("smtp://:25", "no host"),
        ("smtp://mail.example:notaport", "invalid port"),
        ("smtp://mail.example:25?tls=1", "unknown option"),
        ("smtp://mail.example:25?starttls=maybe", "starttls must be"),
        ("smtps://mail.example?starttls=1", "TLS from the start"),
        ("smtp://mail.example/inbox", "no path"),
        ("smtp://mail.example?timeout=-1", "timeout must be positive"),
    ],
)
def test_bad_smtp_urls_are_refused_clearly(url, message):
    with pytest.raises(ValueError, match=message):
        parse_smtp_url(url)


# --- signed acknowledge links ----------------------------------------------------------------------------------

SECRET = "a-secret-of-at-least-16-bytes"
NOW = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


def test_ack_token_round_trip():
    token = sign_ack("PO-000123", 2, SECRET, NOW + timedelta(days=7))
    assert "/" not in token and "+" not in token and "=" not in token  # fits in a URL path as is
    assert verify_ack(token, SECRET, NOW) == ("PO-000123", 2)


def test_ack_token_tampered_or_foreign_is_refused():
    token = sign_ack("PO-000123", 2, SECRET, NOW + timedelta(days=7))
    other = sign_ack("PO-000999", 2, SECRET, NOW + timedelta(days=7))
    version, payload, mac = token.split(".")
    forged = ".".join([version, other.split(".")[1], mac])  # another order's payload under this signature
    for bad in (forged, token[:-2], token + "A", f"v2.{payload}.{mac}", "garbage", "", "a.b.c"):
        with pytest.raises(AckTokenInvalid):
            verify_ack(bad, SECRET, NOW)
    with pytest.raises(AckTokenInvalid, match="signature"):
        verify_ack(token, "another-secret-of-16-bytes", NOW)


def test_ack_token_expires():
    expires = NOW + timedelta(hours=48)
    token = sign_ack("PO-000123", 0, SECRET, expires)
    assert verify_ack(token, SECRET, expires - timedelta(seconds=1)) == ("PO-000123", 0)
    with pytest.raises(AckTokenExpired, match="expired") as caught:
        verify_ack(token, SECRET, expires)
    assert (caught.value.po_number, caught.value.revision, caught.value.expired_at) == ("PO-000123", 0, expires)


def test_ack_token_arguments_are_checked():
    with pytest.raises(ValueError, match="16 bytes"):
        sign_ack("PO-1", 0, "short", NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_ack("PO-1", 0, SECRET, datetime(2026, 3, 2))
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_ack(sign_ack("PO-1", 0, SECRET, NOW), SECRET, datetime(2026, 3, 2))


# --- supplier API body and acknowledgement ---------------------------------------------------------------------


def test_api_body_leaves_our_delivery_settings_out():
    body = request_body(doc(supplier={"api_token": "t0ken", "edi_dir": "/srv/edi"}))
    assert body["supplier"] == {"code": "ACME", "name": "Acme Textiles Ltd"}
    assert "t0ken" not in str(body) and "/srv/edi" not in str(body)
    assert body["lines"][0] == {"line": 1, "sku": "TEE-BLK-M", "supplier_sku": "AC-1001",
                                "title": "Organic cotton tee, black, M", "quantity": 48, "uom": "EA",
                                "unit_cost": "4.75", "line_total": "228.00"}
    assert body["total"] == "540.500"


def test_parse_ack_response():
    ack = parse_ack_response(b'{"status": "acknowledged", "supplier_reference": "SO-1", "lines": '
                             b'[{"line": 1, "quantity_confirmed": 40, "ship_date": "2026-03-18"}]}')
    assert ack is not None and ack.supplier_reference == "SO-1"
    assert ack.lines == (ConfirmedLine(1, 40, date(2026, 3, 18)),)
    assert parse_ack_response({"status": "received"}) is None
    assert parse_ack_response("not json") is None
    assert parse_ack_response(b"") is None
    with pytest.raises(ValueError, match=r"lines\[0\]\.quantity_confirmed"):
        parse_ack_response({"status": "acknowledged", "lines": [{"line": 1, "quantity_confirmed": "40"}]})
    with pytest.raises(ValueError, match="ship_date"):
        parse_ack_response({"status": "acknowledged", "lines": [{"line": 1, "quantity_confirmed": 1,
                                                                 "ship_date": "soon"}]})
