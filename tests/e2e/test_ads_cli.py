"""`stockpilot ads` as a person runs it (each command a real `stockpilot` process)."""

from __future__ import annotations

import json

from tests.e2e.test_serve_process import _cli
from tests.integration.helpers import stock


def test_map_list_show_and_refusals_from_the_cli(sp, db_url):
    stock(sp, "TEE", {"WH": 3})
    stock(sp, "MUG", {"WH": 0})
    mapped = json.loads(_cli(db_url, "ads", "map", "google", "555", "TEE", "MUG", "--account", "123-456-7890").stdout)
    assert mapped["skus"] == ["MUG", "TEE"] and mapped["account"] == "1234567890" and mapped["state"] == "running"
    bad = _cli(db_url, "ads", "map", "meta", "777", "TEE", "NOPE", check=False)
    assert bad.returncode == 1 and "unknown SKU 'NOPE'" in bad.stderr
    no_account = _cli(db_url, "ads", "map", "google", "556", "TEE", check=False)
    assert no_account.returncode == 1 and "account: a Google ad group needs its customer id" in no_account.stderr
    listed = _cli(db_url, "ads", "list").stdout
    assert "555" in listed and "777" not in listed  # the refused mapping left nothing behind
    shown = json.loads(_cli(db_url, "ads", "show", "google", "555").stdout)
    assert shown["pauses"] == []
    unmapped = json.loads(_cli(db_url, "ads", "unmap", "google", "555", "MUG").stdout)
    assert unmapped["skus"] == ["TEE"]
