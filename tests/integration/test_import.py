"""`stockpilot import`: catalog and counts from CSV files into the database, all or nothing, idempotent."""

from __future__ import annotations

import hashlib

import pytest
import typer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from stockpilot.adapters.db import ledger
from stockpilot.adapters.db.tables import movements, products, skus
from stockpilot.domain.errors import ValidationFailed
from stockpilot.entrypoints.cli.import_command import import_command
from stockpilot.services.importer import ImportService
from tests.integration.helpers import level, stock, totals
from tests.unit.test_csv_catalog import (
    SHOPIFY_INVENTORY_HEADER,
    SHOPIFY_PRODUCT_HEADER,
    tee_product_rows,
    write_csv,
)


def importer(sp, **kwargs) -> ImportService:
    return ImportService(sp.ctx, **kwargs)


def count_rows(sp, table) -> int:
    with sp.db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def import_movements(sp) -> list[dict]:
    return [m for m in sp.stock.movements(limit=100_000) if m["source"] == "import"]


def product_row(sp, handle: str) -> dict:
    with sp.db.read() as conn:
        return dict(conn.execute(select(products).where(products.c.handle == handle)).mappings().one())


def sku_stamps(sp) -> list[tuple]:
    with sp.db.read() as conn:
        return [tuple(r) for r in conn.execute(select(skus.c.sku, skus.c.updated_at).order_by(skus.c.sku))]


def write_text(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


# --- each layout ------------------------------------------------------------------------------------------------


def test_stockpilot_file_creates_skus_products_and_counts(sp, tmp_path):
    sp.catalog.create_location("WH", "Main Warehouse", priority=10)
    sp.catalog.create_location("ST", "Shop", priority=20)
    path = write_text(tmp_path / "catalog.csv", (
        "sku,title,barcode,product,options,backorder_policy,backorder_cap,low_stock_threshold,location,on_hand\n"
        "TEE-M,Tee M,0123,classic-tee,Color:Black|Size:M,allow,10,3,WH,40\n"
        "TEE-M,Tee M,0123,classic-tee,Color:Black|Size:M,allow,10,3,ST,5\n"
        "MUG,Mug,,,,,,,,\n"
    ))
    report = importer(sp).import_file(path)
    assert report.ok and report.format == "stockpilot"
    assert (report.rows_read, report.rows_imported, report.skus_created, report.stock_levels_set) == (3, 3, 2, 2)
    tee = sp.catalog.get_sku("TEE-M")
    assert tee["product"] == "classic-tee" and tee["options"] == {"Color": "Black", "Size": "M"}
    assert (tee["backorder_policy"], tee["backorder_cap"], tee["low_stock_threshold"]) == ("allow", 10, 3)
    assert level(sp, "TEE-M", "WH")["on_hand"] == 40 and level(sp, "TEE-M", "ST")["on_hand"] == 5
    assert totals(sp, "MUG")["on_hand"] == 0
    assert product_row(sp, "classic-tee")["title"] == "Tee M"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    moved = import_movements(sp)
    assert [(m["kind"], m["idempotency_key"], m["delta"]["on_hand"]) for m in moved] == [
        ("set", f"import:{digest}:2", 40),
        ("set", f"import:{digest}:3", 5),
    ]
    assert sp.checker.run().ok


def test_shopify_product_export_goes_to_the_only_location(sp, tmp_path):
    sp.catalog.create_location("WH", "Main Warehouse")
    stock(sp, "TEE-BLK-S", {"WH": 3}, backorder_policy="allow_notify")
    path = write_csv(tmp_path / "products_export_1.csv", SHOPIFY_PRODUCT_HEADER, tee_product_rows())
    report = importer(sp).import_file(path)
    assert report.ok and report.format == "shopify-products"
    assert (report.rows_read, report.rows_imported, report.rows_skipped) == (5, 4, 1)
    assert (report.skus_created, report.skus_updated, report.stock_levels_set) == (3, 1, 3)
    black_s = sp.catalog.get_sku("TEE-BLK-S")
    assert black_s["title"] == "Classic Tee - Black / S" and black_s["barcode"] == "0123456789012"
    assert black_s["backorder_policy"] == "deny" and black_s["product"] == "classic-tee"
    assert sp.catalog.get_sku("TEE-BLK-M")["backorder_policy"] == "allow"
    assert level(sp, "TEE-BLK-S", "WH")["on_hand"] == 12 and level(sp, "TEE-BLK-M", "WH")["on_hand"] == 7
    assert totals(sp, "HAT-1")["on_hand"] == 0  # untracked in Shopify: no count
    tee = product_row(sp, "classic-tee")
    assert (tee["title"], tee["vendor"], tee["product_type"]) == ("Classic Tee", "Acme", "Shirts")


def test_shopify_product_quantities_need_a_location_when_there_are_several(sp, tmp_path):
    sp.catalog.create_location("WH", "Main Warehouse")
    sp.catalog.create_location("ST", "Shop")
    path = write_csv(tmp_path / "products.csv", SHOPIFY_PRODUCT_HEADER, tee_product_rows())
    report = importer(sp).import_file(path)
    assert [(e.line, e.column) for e in report.errors] == [(2, "Variant Inventory Qty"), (4, "Variant Inventory Qty"),
                                                            (6, "Variant Inventory Qty")]
    assert "choose one with --location" in report.errors[0].reason
    assert count_rows(sp, skus) == 0
    with pytest.raises(ValidationFailed):
        importer(sp).import_file(path, location="NOWHERE")
    report = importer(sp).import_file(path, location="Shop")  # a name works as well as a code
    assert report.ok and level(sp, "TEE-BLK-S", "ST")["on_hand"] == 12
    assert level(sp, "TEE-BLK-S", "WH")["on_hand"] == 0


def test_shopify_inventory_export_matches_locations_by_name(sp, tmp_path):
    sp.catalog.create_location("WH", "Main Warehouse")
    sp.catalog.create_location("BER", "Shop Berlin")
    stock(sp, "TEE-BLK-M", {"WH": 1}, title="old title")
    tee = {"Handle": "classic-tee", "Title": "Classic Tee", "Option1 Name": "Color", "Option1 Value": "Black",
           "Option2 Name": "Size", "Option2 Value": "M", "SKU": "TEE-BLK-M"}
    rows = [
        {**tee, "Location": "Main Warehouse", "Available (not editable)": "12", "On hand (current)": "12"},
        {**tee, "Location": "BER", "On hand (current)": "3", "On hand (new)": "5"},
    ]
    path = write_csv(tmp_path / "inventory_export_1.csv", SHOPIFY_INVENTORY_HEADER, rows, bom=True)
    report = importer(sp).import_file(path)
    assert report.ok and report.format == "shopify-inventory"
    assert (report.skus_created, report.skus_updated, report.stock_levels_set) == (0, 1, 2)
    assert sp.catalog.get_sku("TEE-BLK-M")["title"] == "Classic Tee - Black / M"
    assert level(sp, "TEE-BLK-M", "WH")["on_hand"] == 12 and level(sp, "TEE-BLK-M", "BER")["on_hand"] == 5


def test_older_inventory_layout_sets_every_location_column(sp, tmp_path):
    sp.catalog.create_location("WH", "Main Warehouse")
    sp.catalog.create_location("QC", "Blainville, Quebec")
    path = write_text(tmp_path / "inventory.csv", (
        "Handle,Title,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,SKU,"
        "Main Warehouse,\"Blainville, Quebec\"\n"
        "mug,Mug,Title,Default Title,,,,,MUG,6,2\n"
        "plate,Plate,Title,Default Title,,,,,PLATE,4,not stocked\n"
    ))
    report = importer(sp).import_file(path)
    assert report.ok and report.stock_levels_set == 3
    assert level(sp, "MUG", "WH")["on_hand"] == 6 and level(sp, "MUG", "QC")["on_hand"] == 2
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert {m["idempotency_key"] for m in import_movements(sp)} == {
        f"import:{digest}:2:WH", f"import:{digest}:2:QC", f"import:{digest}:3:WH",
    }


def test_an_unknown_location_is_a_row_error_naming_the_column(sp, tmp_path):
    sp.catalog.create_location("WH", "Main Warehouse")
    path = write_text(tmp_path / "catalog.csv", "sku,location,on_hand\nA,WH,1\nB,Attic,2\n")
    report = importer(sp).import_file(path)
    assert [str(e) for e in report.errors] == [
        'line 3, column "location": unknown location "Attic"; create it first (known: WH)'
    ]


# --- all or nothing, and skipping ----------------------------------------------------------------------------


BAD_FILE = (
    "sku,title,backorder_policy,location,on_hand\n"
    "A,Alpha,deny,WH,5\n"
    "B,Beta,sometimes,WH,5\n"
    "C,Gamma,deny,WH,abc\n"
    "D,Delta,allow,WH,9\n"
)


def test_one_bad_row_means_nothing_is_imported(sp, tmp_path):
    sp.catalog.create_location("WH")
    report = importer(sp).import_file(write_text(tmp_path / "bad.csv", BAD_FILE))
    assert [(e.line, e.column) for e in report.errors] == [(3, "backorder_policy"), (4, "on_hand")]
    assert (report.rows_read, report.rows_invalid, report.rows_imported) == (4, 2, 0)
    assert count_rows(sp, skus) == 0 and count_rows(sp, movements) == 0


def test_skip_invalid_imports_the_good_rows_and_reports_the_rest(sp, tmp_path):
    sp.catalog.create_location("WH")
    report = importer(sp).import_file(write_text(tmp_path / "bad.csv", BAD_FILE), skip_invalid=True)
    assert [(e.line, e.column) for e in report.errors] == [(3, "backorder_policy"), (4, "on_hand")]
    assert (report.rows_imported, report.rows_invalid, report.skus_created) == (2, 2, 2)
    assert [s["sku"] for s in sp.catalog.list_skus()] == ["A", "D"]
    assert level(sp, "D", "WH")["on_hand"] == 9


def test_a_row_that_fails_to_write_is_rolled_back_whole(sp, tmp_path, monkeypatch):
    sp.catalog.create_location("WH")
    path = write_text(tmp_path / "catalog.csv", "sku,product,location,on_hand\nA,pa,WH,1\nB,pb,WH,2\nC,pc,WH,3\n")
    real_apply = ledger.apply

    def failing_apply(conn, **kwargs):
        if kwargs["sku"].sku == "B":
            raise IntegrityError("INSERT INTO movements", {}, Exception("simulated clash"))
        return real_apply(conn, **kwargs)

    monkeypatch.setattr(ledger, "apply", failing_apply)
    report = importer(sp).import_file(path, skip_invalid=True)
    assert [str(e) for e in report.errors] == ["line 3: could not be written: simulated clash"]
    # B's product and SKU were written before its count failed; the savepoint took them back with it.
    assert [s["sku"] for s in sp.catalog.list_skus()] == ["A", "C"]
    assert count_rows(sp, products) == 2


def test_a_write_failure_stops_the_import_and_a_second_run_resumes(sp, tmp_path, monkeypatch):
    sp.catalog.create_location("WH")
    path = write_text(tmp_path / "catalog.csv", "sku,on_hand\n" + "".join(f"S{i:02},{i}\n" for i in range(10)))
    real_apply = ledger.apply

    def failing_apply(conn, **kwargs):
        if kwargs["sku"].sku == "S07":
            raise IntegrityError("INSERT INTO movements", {}, Exception("simulated clash"))
        return real_apply(conn, **kwargs)

    monkeypatch.setattr(ledger, "apply", failing_apply)
    report = importer(sp, batch_rows=4).import_file(path)
    assert report.rows_imported == 4 and [e.line for e in report.errors] == [9]
    assert "rows before line 6 are imported" in report.errors[0].reason
    assert count_rows(sp, skus) == 4  # the batch of lines 6-9 was rolled back whole
    monkeypatch.setattr(ledger, "apply", real_apply)
    report = importer(sp, batch_rows=4).import_file(path)
    assert report.ok and report.stock_levels_already_imported == 4 and report.stock_levels_set == 6
    assert totals(sp, "S09")["on_hand"] == 9 and sp.checker.run().ok


# --- idempotency --------------------------------------------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing(sp, tmp_path):
    sp.catalog.create_location("WH", "Main Warehouse")
    path = write_csv(tmp_path / "products.csv", SHOPIFY_PRODUCT_HEADER, tee_product_rows(), bom=True)
    first = importer(sp).import_file(path)
    assert first.ok and first.stock_levels_set == 3
    # Stock moves after the import: a sale is fulfilled.
    sp.stock.adjust(sku="TEE-BLK-S", location="WH", delta=-2, idempotency_key="sale-1")
    moved_before = count_rows(sp, movements)
    stamps = sku_stamps(sp)
    second = importer(sp).import_file(path)
    assert second.ok
    assert (second.skus_created, second.skus_updated, second.skus_unchanged) == (0, 0, 4)
    assert (second.stock_levels_set, second.stock_levels_already_imported) == (0, 3)
    assert count_rows(sp, movements) == moved_before
    assert level(sp, "TEE-BLK-S", "WH")["on_hand"] == 10  # the sale is not undone by the old file
    assert sku_stamps(sp) == stamps  # not even touched


def test_an_edited_file_is_a_new_import(sp, tmp_path):
    sp.catalog.create_location("WH")
    path = write_text(tmp_path / "counts.csv", "sku,on_hand\nA,5\n")
    importer(sp).import_file(path)
    write_text(path, "sku,on_hand\nA,8\n")
    report = importer(sp).import_file(path)
    assert report.stock_levels_set == 1 and level(sp, "A", "WH")["on_hand"] == 8


# --- size -------------------------------------------------------------------------------------------------------


def test_a_large_file_is_written_in_batches(sp, tmp_path):
    sp.catalog.create_location("WH", "Main Warehouse")
    sp.catalog.create_location("ST", "Shop")
    lines = ["sku,title,product,options,location,on_hand"]
    lines += [f"SKU-{i:05},Item {i},p{i // 10},Size:{i % 10},{'WH' if i % 2 else 'ST'},{i % 50}"
              for i in range(5000)]
    path = write_text(tmp_path / "big.csv", "\n".join(lines) + "\n")
    calls: list[tuple[int, int]] = []
    report = importer(sp).import_file(path, progress=lambda done, total: calls.append((done, total)))
    assert report.ok and (report.rows_imported, report.skus_created, report.stock_levels_set) == (5000, 5000, 5000)
    assert calls == [(done, 5000) for done in range(0, 5001, 500)]
    assert count_rows(sp, products) == 500
    assert totals(sp, "SKU-04999")["on_hand"] == 4999 % 50
    assert sp.checker.run().ok
    again = importer(sp).import_file(path)
    assert again.stock_levels_already_imported == 5000 and again.skus_unchanged == 5000


# --- the command line -------------------------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("import")(import_command)

    @app.callback()
    def main() -> None:
        """Stand-in for the stockpilot app the command is registered on."""

    return app


def test_cli_prints_each_error_as_file_line_column_and_exits_1(sp, db_url, tmp_path, monkeypatch):
    sp.catalog.create_location("WH")
    monkeypatch.setenv("STOCKPILOT_DATABASE_URL", db_url)
    path = write_text(tmp_path / "bad.csv", BAD_FILE)
    result = CliRunner().invoke(cli(), ["import", str(path)])
    assert result.exit_code == 1
    assert f'{path}:3: column "backorder_policy": expected one of deny, allow, allow_notify, got "sometimes"' \
        in result.stderr
    assert f'{path}:4: column "on_hand": expected a whole number, got "abc"' in result.stderr
    assert "nothing imported: 2 error(s)" in result.stdout
    assert count_rows(sp, skus) == 0

    result = CliRunner().invoke(cli(), ["import", str(path), "--skip-invalid"])
    assert result.exit_code == 1 and "2 imported" in result.stdout and "SKUs: 2 created" in result.stdout

    good = write_text(tmp_path / "good.csv", "sku,on_hand\nA,1\n")
    result = CliRunner().invoke(cli(), ["import", str(good)])
    assert result.exit_code == 0 and "stock levels: 1 set" in result.stdout and not result.stderr.strip()
