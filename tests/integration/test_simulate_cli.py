"""`stockpilot simulate` end to end on the real data: a tiny retail run through the CLI, its files and its last
JSON line, and bad input named by line and field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stockpilot.entrypoints.cli.main import app
from stockpilot.simulation.model import POLICIES

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "online_retail.csv.gz"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    if not DATA.is_file():
        pytest.skip(f"shared data {DATA} not present")
    out = tmp_path_factory.mktemp("sim")
    result = CliRunner().invoke(app, ["simulate", "retail", "--data", str(DATA), "--skus", "20", "--days", "120",
                                      "--seed", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_the_files_and_the_last_json_line(tiny_run):
    out, output = tiny_run
    last = json.loads(output.strip().splitlines()[-1])
    assert last["skus"] == 20 and last["measured_days"] == 120 - 14 and last["seed"] == 4
    assert set(last["policies"]) == set(POLICIES)
    for figures in last["policies"].values():
        assert 0 <= figures["fill_rate"] <= 1 and figures["avg_inventory_value"] > 0
        assert 0 <= figures["fill_rate_p10"] <= 1
    doc = json.loads((out / "results.json").read_text())
    assert doc["summary"]["policies"] == last["policies"] and doc["summary"]["goals"] == last["goals"]
    assert sum(doc["classes"].values()) == 20
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    classes = 1 + sum(1 for n in doc["classes"].values() if n)
    assert len(rows) == len(doc["rows"]) == classes * sum(len(v) for v in doc["scenario"]["sweeps"].values())
    default = {r["policy"]: r for r in doc["rows"] if r["default"] and r["demand_class"] == "all"}
    for name, figures in last["policies"].items():  # the summary is the default knob's row, rounded
        assert figures["fill_rate"] == pytest.approx(default[name]["fill_rate"], abs=1e-4)
        assert figures["total_cost_per_year"] == pytest.approx(default[name]["total_cost_per_year"], rel=1e-6)
    assert (out / "fill_rate_vs_inventory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ops = last["operations"]
    assert ops["duplicate_pos"] == 0 and ops["check_problems"] == 0 and ops["committed_mismatch_skus"] == []
    assert ops["oversells_resolved_without_person"] + len(ops["oversells_for_a_person"]) == ops["oversell_events"]
    table = output.split("wrote ")[0]  # the Rich table, before the file list and the JSON line
    assert "unit fill rate" in table and "stockpilot eoq" in table and "average inventory (cost)" in table


def test_the_same_seed_gives_the_same_figures(tiny_run, tmp_path):
    _, output = tiny_run
    again = CliRunner().invoke(app, ["simulate", str(_no_ops(tmp_path)), "--skus", "20", "--days", "120", "--seed",
                                     "4", "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    first = json.loads(output.strip().splitlines()[-1])["policies"]
    assert json.loads(again.output.strip().splitlines()[-1])["policies"] == first


def _no_ops(tmp_path: Path) -> Path:
    path = tmp_path / "retail-no-ops.toml"
    path.write_text(f'source = "retail"\ndata = "{DATA}"\n[operations]\nenabled = false\n')
    return path


def test_a_bad_line_is_named_and_nothing_is_written(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
                   "1,22000,A,2,2011-01-03 09:00:00,1.0,1.0,UK\n1,22000,A,two,2011-01-03 09:00:00,1.0,1.0,UK\n")
    result = CliRunner().invoke(app, ["simulate", "retail", "--data", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "line 3: field Quantity: 'two' is not a number" in result.output
    assert not (tmp_path / "o").exists()


def test_unknown_scenarios_and_keys_are_refused(tmp_path):
    result = CliRunner().invoke(app, ["simulate", "nope"])
    assert result.exit_code == 2 and "neither a built-in scenario" in result.output
    toml = tmp_path / "s.toml"
    toml.write_text('source = "generated"\n[simulation]\nwarmup = 3\n')
    result = CliRunner().invoke(app, ["simulate", str(toml)])
    assert result.exit_code == 2 and "[simulation]: unknown key(s) warmup" in result.output
