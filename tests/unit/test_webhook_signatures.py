"""The signing schemes against the platforms' published test vectors (shared/fixtures), and what must fail."""

from __future__ import annotations

from stockpilot.domain import webhook_signatures as sig
from tests.support.channel_signing import fixture


def test_shopify_vector_verifies_and_any_change_fails():
    vector = fixture("shopify/hmac_test_vector.json")
    body = vector["body"].encode()
    assert sig.hmac_sha256_base64(vector["secret"].encode(), body) == vector["expected_header"]
    assert sig.shopify_valid(vector["secret"], body, vector["expected_header"])
    assert not sig.shopify_valid(vector["secret"], body.replace(b"123.45", b"123.46"), vector["expected_header"])
    assert not sig.shopify_valid("other-secret", body, vector["expected_header"])
    assert not sig.shopify_valid(vector["secret"], body, None)
    assert not sig.shopify_valid(vector["secret"], body, "")


def test_woocommerce_vector_verifies():
    vector = fixture("woocommerce/signature_test_vector.json")
    assert sig.woocommerce_valid(vector["secret"], vector["body"].encode(), vector["expected_header"])
    assert not sig.woocommerce_valid("x", vector["body"].encode(), vector["expected_header"])


def test_standard_webhooks_vector_verifies_within_the_tolerance_only():
    vector = fixture("bigcommerce/standard_webhooks_test_vector.json")
    body, msg_id, ts = vector["body"].encode(), vector["webhook-id"], vector["webhook-timestamp"]
    assert sig.standard_signature(vector["secret"], msg_id, ts, body) == vector["expected_header"]
    now = float(ts)
    assert sig.standard_valid(vector["secret"], msg_id, ts, body, vector["expected_header"], now_epoch=now)
    # Rotation: several space-separated signatures, any one valid is enough.
    rotated = f"v1,Zm9v {vector['expected_header']}"
    assert sig.standard_valid(vector["secret"], msg_id, ts, body, rotated, now_epoch=now + 299)
    assert not sig.standard_valid(vector["secret"], msg_id, ts, body, vector["expected_header"], now_epoch=now + 301)
    assert not sig.standard_valid(vector["secret"], "msg_other", ts, body, vector["expected_header"], now_epoch=now)
    assert not sig.standard_valid(vector["secret"], msg_id, ts, body + b" ", vector["expected_header"],
                                  now_epoch=now)
    assert not sig.standard_valid(vector["secret"], msg_id, "not-a-number", body, vector["expected_header"],
                                  now_epoch=now)
    assert not sig.standard_valid(vector["secret"], msg_id, ts, body, "v2," + vector["expected_header"][3:],
                                  now_epoch=now)
