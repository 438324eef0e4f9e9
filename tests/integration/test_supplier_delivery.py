"""Delivering purchase orders for real: SMTP to aiosmtpd on loopback, HTTP to a loopback supplier API, EDI files."""

from __future__ import annotations

import io
import os
import shutil
import socket
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader

from stockpilot.adapters.db.database import Database
from stockpilot.adapters.db.migrate import upgrade
from stockpilot.adapters.suppliers.document import (
    TOPIC_EDI,
    TOPIC_EMAIL,
    TOPIC_HTTP,
    PermanentDeliveryError,
    PurchaseOrderDocument,
    TransientDeliveryError,
)
from stockpilot.adapters.suppliers.edi import EdiDelivery, parse_850
from stockpilot.adapters.suppliers.email import KEY_HEADER, EmailDelivery, message_id
from stockpilot.adapters.suppliers.http_api import HttpApiDelivery, parse_ack_response, request_body
from stockpilot.adapters.suppliers.pdf import render_pdf
from stockpilot.runtime import outbox
from stockpilot.runtime.outbox import Backoff, Dispatcher
from tests.support.purchase_orders import po_payload
from tests.support.smtp_server import SmtpServer
from tests.support.supplier_api import SupplierApi

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

SENDER = "Northwind Purchasing <po@northwind.example>"
KEY = "po:PO-000123:r0:email"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_topics():
    assert (TOPIC_EMAIL, TOPIC_HTTP, TOPIC_EDI) == ("po.email", "po.http", "po.edi")


# --- email -------------------------------------------------------------------------------------------------------


def test_email_arrives_with_its_pdf_intact():
    with SmtpServer() as smtp:
        EmailDelivery(smtp.url, SENDER)(po_payload(), KEY)
        (message,) = smtp.wait_for(1)
    assert smtp.envelopes == [("po@northwind.example", ["orders@acme.example"])]
    assert message["Subject"] == "Purchase order PO-000123 (revision 0)"
    assert message[KEY_HEADER] == KEY and message["Message-ID"] == message_id(KEY, SENDER)
    body = message.get_body(("plain",)).get_content()
    assert "https://stock.northwind.example/ack/v1.token.signature" in body and "TEE-BLK-M" in body
    (attachment,) = message.iter_attachments()
    data = attachment.get_content()
    assert attachment.get_content_type() == "application/pdf"
    assert data == render_pdf(PurchaseOrderDocument.from_payload(po_payload()))  # byte for byte through SMTP
    assert "PO-000123" in PdfReader(io.BytesIO(data)).pages[0].extract_text()


def test_a_redelivery_carries_the_same_message_id():
    with SmtpServer() as smtp:
        handler = EmailDelivery(smtp.url, SENDER)
        handler(po_payload(), KEY)
        handler(po_payload(), KEY)
        first, second = smtp.wait_for(2)
    assert first["Message-ID"] == second["Message-ID"]
    assert first.as_bytes() == second.as_bytes()


def test_smtp_auth():
    with SmtpServer(auth=("buyer", "s3cret")) as smtp:
        EmailDelivery(smtp.url, SENDER)(po_payload(), KEY)
        assert len(smtp.wait_for(1)) == 1
        wrong = f"smtp://buyer:wrong@127.0.0.1:{smtp.port}"
        with pytest.raises(PermanentDeliveryError, match=r"permanent.*535"):
            EmailDelivery(wrong, SENDER)(po_payload(), KEY)
        with pytest.raises(PermanentDeliveryError, match=r"permanent.*530"):  # no credentials: AUTH required
            EmailDelivery(f"smtp://127.0.0.1:{smtp.port}", SENDER)(po_payload(), KEY)


def test_550_is_a_permanent_failure():
    with SmtpServer() as smtp:
        smtp.fail(550, stage="rcpt")
        with pytest.raises(PermanentDeliveryError, match=r"SMTP permanent failure.*550"):
            EmailDelivery(smtp.url, SENDER)(po_payload(), KEY)
        smtp.fail(554, stage="data")
        with pytest.raises(PermanentDeliveryError, match="554"):
            EmailDelivery(smtp.url, SENDER)(po_payload(), KEY)
        assert smtp.messages == []


def test_451_is_transient_and_the_retry_delivers():
    with SmtpServer() as smtp:
        smtp.fail(451, stage="data")
        handler = EmailDelivery(smtp.url, SENDER)
        with pytest.raises(TransientDeliveryError, match=r"SMTP transient failure.*451"):
            handler(po_payload(), KEY)
        handler(po_payload(), KEY)
        assert len(smtp.wait_for(1)) == 1


def test_connection_refused_is_transient():
    with pytest.raises(TransientDeliveryError, match=r"transient.*Connection ?Refused"):
        EmailDelivery(f"smtp://127.0.0.1:{closed_port()}?timeout=5", SENDER)(po_payload(), KEY)


def test_starttls_the_server_does_not_offer_is_permanent():
    with SmtpServer() as smtp, pytest.raises(PermanentDeliveryError, match="STARTTLS"):
        EmailDelivery(f"{smtp.url}?starttls=1", SENDER)(po_payload(), KEY)


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")


@needs_openssl
def test_smtps_implicit_tls_with_login():
    with SmtpServer(auth=("buyer", "s3cret"), tls="implicit") as smtp:
        assert smtp.url.startswith("smtps://buyer:s3cret@")
        EmailDelivery(smtp.url, SENDER, ssl_context=smtp.client_context)(po_payload(), KEY)
        assert len(smtp.wait_for(1)) == 1
        with pytest.raises(PermanentDeliveryError, match="certificate"):  # not trusted by the system store
            EmailDelivery(smtp.url, SENDER)(po_payload(), KEY)


@needs_openssl
def test_starttls_upgrade():
    with SmtpServer(tls="starttls") as smtp:
        assert smtp.url.endswith("?starttls=1")
        EmailDelivery(smtp.url, SENDER, ssl_context=smtp.client_context)(po_payload(), KEY)
        assert len(smtp.wait_for(1)) == 1


def test_through_the_outbox_a_451_is_retried_and_delivered_once(tmp_path, clock):
    db = Database(f"sqlite:///{tmp_path / 'outbox.db'}")
    upgrade(db)
    with SmtpServer() as smtp:
        smtp.fail(451)
        dispatcher = Dispatcher(db, clock, {TOPIC_EMAIL: EmailDelivery(smtp.url, SENDER)}, worker_id="w1",
                                backoff=Backoff(random=lambda: 1.0))
        db.write(lambda conn: outbox.enqueue(conn, TOPIC_EMAIL, po_payload(), KEY, clock.now()))
        assert dispatcher.run_once().retried == 1
        with db.read() as conn:
            assert "SMTP transient failure" in outbox.get(conn, KEY).last_error
        clock.advance(seconds=5)
        assert dispatcher.run_once().delivered == 1
        assert len(smtp.wait_for(1)) == 1
    db.dispose()


# --- HTTP API ----------------------------------------------------------------------------------------------------

HTTP_KEY = "po:PO-000123:r0:http"


def api_payload(api: SupplierApi, token: str | None = "t0ken") -> dict:
    return po_payload(supplier={"api_url": api.url, "api_token": token})


def test_http_delivery_posts_the_order_with_key_and_token():
    with SupplierApi(token="t0ken") as api:
        HttpApiDelivery(timeout=5)(api_payload(api), HTTP_KEY)
        orders = api.wait_for(1)
    assert orders[HTTP_KEY] == request_body(PurchaseOrderDocument.from_payload(api_payload(api)))
    assert [(r.key, r.authorization, r.status) for r in api.requests] == [(HTTP_KEY, "Bearer t0ken", 201)]


def test_http_503_is_retried_then_delivered():
    with SupplierApi(token="t0ken") as api:
        api.fail_next(2)
        handler = HttpApiDelivery(timeout=5)
        for _ in range(2):
            with pytest.raises(TransientDeliveryError, match=r"transient.*503"):
                handler(api_payload(api), HTTP_KEY)
        handler(api_payload(api), HTTP_KEY)
    assert [r.status for r in api.requests] == [503, 503, 201] and len(api.orders) == 1


def test_http_replay_of_the_same_key_is_one_order():
    with SupplierApi(token="t0ken") as api:
        handler = HttpApiDelivery(timeout=5)
        handler(api_payload(api), HTTP_KEY)
        handler(api_payload(api), HTTP_KEY)
    assert [r.status for r in api.requests] == [201, 200] and list(api.orders) == [HTTP_KEY]


def test_http_409_for_our_key_means_already_delivered():
    with SupplierApi(token="t0ken", conflict_on_replay=True) as api:
        handler = HttpApiDelivery(timeout=5)
        handler(api_payload(api), HTTP_KEY)
        handler(api_payload(api), HTTP_KEY)  # 409 naming our key: success
    assert [r.status for r in api.requests] == [201, 409] and len(api.orders) == 1


def test_http_bad_token_is_permanent():
    with SupplierApi(token="t0ken") as api:
        with pytest.raises(PermanentDeliveryError, match=r"permanent.*401"):
            HttpApiDelivery(timeout=5)(api_payload(api, token="wrong"), HTTP_KEY)
        with pytest.raises(PermanentDeliveryError, match="401"):
            HttpApiDelivery(timeout=5)(api_payload(api, token=None), HTTP_KEY)
        api.fail_next(1, status=422)
        with pytest.raises(PermanentDeliveryError, match="422"):
            HttpApiDelivery(timeout=5)(api_payload(api), HTTP_KEY)
        for status in (408, 429):
            api.fail_next(1, status=status)
            with pytest.raises(TransientDeliveryError, match=str(status)):
                HttpApiDelivery(timeout=5)(api_payload(api), HTTP_KEY)
    assert api.orders == {}


def test_http_timeout_and_refused_connection_are_transient():
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/po"
        with pytest.raises(TransientDeliveryError, match="timed out"):
            HttpApiDelivery(timeout=0.3)(po_payload(supplier={"api_url": url}), HTTP_KEY)
    url = f"http://127.0.0.1:{closed_port()}/po"
    with pytest.raises(TransientDeliveryError, match="ConnectError"):
        HttpApiDelivery(timeout=2)(po_payload(supplier={"api_url": url}), HTTP_KEY)


def test_the_fakes_answer_parses_as_an_acknowledgement():
    with SupplierApi() as api:
        body = request_body(PurchaseOrderDocument.from_payload(po_payload()))
        answer = httpx.post(api.url, json=body, headers={"Idempotency-Key": "k"}).content
        quiet = SupplierApi(acknowledge=False)
    ack = parse_ack_response(answer)
    assert ack is not None and ack.supplier_reference == "SO-00001"
    assert [(ln.line, ln.quantity_confirmed, str(ln.ship_date)) for ln in ack.lines] == [
        (1, 48, "2026-03-20"), (2, 24, "2026-03-20"), (3, 100, "2026-03-20")]
    with quiet:
        answer = httpx.post(quiet.url, json=body, headers={"Idempotency-Key": "k"})
    assert answer.status_code == 202 and parse_ack_response(answer.content) is None


# --- EDI file drop -----------------------------------------------------------------------------------------------


def test_edi_drop_is_written_atomically_and_parses_back(tmp_path):
    drop = tmp_path / "outgoing"
    EdiDelivery(drop)(po_payload(), "po:PO-000123:r0:edi")
    assert sorted(p.name for p in drop.iterdir()) == ["PO-000123-r0.x12"]  # no temp file left behind
    (order,) = parse_850((drop / "PO-000123-r0.x12").read_text())
    assert order.po_number == "PO-000123" and order.revision == 0 and len(order.lines) == 3


def test_edi_redelivery_is_a_no_op_and_a_revision_is_a_new_file(tmp_path):
    handler = EdiDelivery(tmp_path)
    handler(po_payload(), "k0")
    target = tmp_path / "PO-000123-r0.x12"
    before = target.stat().st_mtime_ns
    handler(po_payload(), "k0")
    assert target.stat().st_mtime_ns == before
    handler(po_payload(revision=1, kind="change"), "k1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["PO-000123-r0.x12", "PO-000123-r1.x12"]
    assert parse_850((tmp_path / "PO-000123-r1.x12").read_text())[0].purpose == "05"


def test_edi_uses_the_suppliers_own_folder_and_never_creates_it(tmp_path):
    theirs = tmp_path / "acme-share"
    theirs.mkdir()
    EdiDelivery(tmp_path / "default")(po_payload(supplier={"edi_dir": str(theirs)}), "k")
    assert (theirs / "PO-000123-r0.x12").exists() and not (tmp_path / "default").exists()
    with pytest.raises(TransientDeliveryError, match="not there"):
        EdiDelivery(tmp_path)(po_payload(supplier={"edi_dir": str(tmp_path / "unmounted")}), "k")


def test_edi_does_not_overwrite_a_different_file(tmp_path):
    (tmp_path / "PO-000123-r0.x12").write_text("someone else's file")
    with pytest.raises(PermanentDeliveryError, match="different content"):
        EdiDelivery(tmp_path)(po_payload(), "k")
    assert (tmp_path / "PO-000123-r0.x12").read_text() == "someone else's file"


def test_edi_invalid_payload_is_permanent_and_writes_nothing(tmp_path):
    with pytest.raises(PermanentDeliveryError, match="edi_sender_id"):
        EdiDelivery(tmp_path)(po_payload(supplier={"edi_sender_id": None}), "k")
    assert list(tmp_path.iterdir()) == []


def test_edi_unwritable_folder_is_transient(tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("")
        drop: Path = blocker / "sub"  # a folder below a file cannot exist, even for root
    else:
        drop = Path("/proc/forbidden")
    with pytest.raises(TransientDeliveryError, match="cannot create"):
        EdiDelivery(drop)(po_payload(), "k")

