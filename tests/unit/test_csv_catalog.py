"""Parsing the catalog CSV layouts: Stockpilot's own, Shopify's product export and Shopify's inventory export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from stockpilot.adapters.csv_catalog import CsvFormat, ParsedFile, ProductFields, StockCount, parse_catalog
from stockpilot.domain.model import BackorderPolicy

# Shopify's product CSV as its sample file and older exports lay it out (help.shopify.com, "Using CSV files").
SHOPIFY_PRODUCT_HEADER = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
    "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Option3 Name", "Option3 Value",
    "Variant SKU", "Variant Grams", "Variant Inventory Tracker", "Variant Inventory Qty", "Variant Inventory Policy",
    "Variant Fulfillment Service", "Variant Price", "Variant Compare At Price", "Variant Requires Shipping",
    "Variant Taxable", "Variant Barcode", "Image Src", "Image Position", "Image Alt Text", "Gift Card",
    "SEO Title", "SEO Description", "Google Shopping / Google Product Category", "Google Shopping / Gender",
    "Google Shopping / Age Group", "Google Shopping / MPN", "Google Shopping / Condition",
    "Google Shopping / Custom Product", "Variant Image", "Variant Weight Unit", "Variant Tax Code",
    "Cost per item", "Status",
]
# The renamed columns of Shopify's current product export.
SHOPIFY_PRODUCT_HEADER_CURRENT = [
    "Title", "URL handle", "Description", "Vendor", "Product category", "Type", "Tags",
    "Published on online store", "Status", "SKU", "Barcode", "Option1 name", "Option1 value", "Option2 name",
    "Option2 value", "Option3 name", "Option3 value", "Price", "Compare-at price", "Cost per item", "Charge tax",
    "Inventory tracker", "Inventory quantity", "Continue selling when out of stock", "Weight value (grams)",
    "Weight unit for display", "Requires shipping", "Fulfillment service", "Product image URL", "Image position",
    "Image alt text", "Gift card", "SEO title", "SEO description",
]
_INVENTORY_IDENTITY = [
    "Handle", "Title", "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Option3 Name",
    "Option3 Value", "SKU", "HS Code", "COO",
]
# Shopify's inventory export, one row per SKU and location: the current layout and the 2023 one.
SHOPIFY_INVENTORY_HEADER = [
    *_INVENTORY_IDENTITY, "Location", "Bin name", "Incoming (not editable)", "Unavailable (not editable)",
    "Committed (not editable)", "Available (not editable)", "On hand (current)", "On hand (new)",
]
SHOPIFY_INVENTORY_HEADER_2023 = [
    *_INVENTORY_IDENTITY, "Location", "Incoming", "Unavailable", "Committed", "Available", "On hand",
]


def csv_text(header: list[str], rows: list[dict[str, object]], *, bom: bool = False) -> str:
    """A CSV file in the exact column layout `header`; cells a row does not mention are empty."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=header, restval="", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" if bom else "") + out.getvalue()


def write_csv(path: Path, header: list[str], rows: list[dict[str, object]], *, bom: bool = False) -> Path:
    path.write_bytes(csv_text(header, rows, bom=bom).encode("utf-8"))
    return path


def tee_product_rows() -> list[dict[str, object]]:
    """A T-shirt in two colours and two sizes, an image-only row, and a hat without variants."""
    return [
        {"Handle": "classic-tee", "Title": "Classic Tee", "Body (HTML)": "<p>Soft cotton,\nmade to last.</p>",
         "Vendor": "Acme", "Type": "Shirts", "Tags": "cotton, basics", "Published": "TRUE",
         "Option1 Name": "Color", "Option1 Value": "Black", "Option2 Name": "Size", "Option2 Value": "S",
         "Variant SKU": "TEE-BLK-S", "Variant Grams": "200", "Variant Inventory Tracker": "shopify",
         "Variant Inventory Qty": "12", "Variant Inventory Policy": "deny", "Variant Fulfillment Service": "manual",
         "Variant Price": "19.99", "Variant Barcode": "0123456789012", "Image Src": "https://cdn.test/tee-1.jpg",
         "Image Position": "1", "Status": "active"},
        {"Handle": "classic-tee", "Option1 Value": "Black", "Option2 Value": "M", "Variant SKU": "TEE-BLK-M",
         "Variant Inventory Tracker": "shopify", "Variant Inventory Qty": "7", "Variant Inventory Policy": "continue",
         "Variant Price": "19.99"},
        {"Handle": "classic-tee", "Image Src": "https://cdn.test/tee-2.jpg", "Image Position": "2"},
        {"Handle": "classic-tee", "Option1 Value": "White", "Option2 Value": "S", "Variant SKU": "TEE-WHT-S",
         "Variant Inventory Tracker": "shopify", "Variant Inventory Qty": "0", "Variant Inventory Policy": "deny"},
        {"Handle": "wool-hat", "Title": "Wool Hat", "Vendor": "Acme", "Type": "Hats",
         "Option1 Name": "Title", "Option1 Value": "Default Title", "Variant SKU": "HAT-1",
         "Variant Inventory Qty": "", "Variant Inventory Policy": "deny", "Status": "active"},
    ]


def parse(path: Path) -> ParsedFile:
    return parse_catalog(path.read_bytes())


def messages(parsed: ParsedFile) -> list[str]:
    return [str(error) for error in parsed.errors]


# --- Stockpilot's own layout ------------------------------------------------------------------------------------


def test_stockpilot_layout_reads_every_column(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text(
        "sku,title,barcode,product,options,backorder_policy,backorder_cap,low_stock_threshold,location,on_hand\n"
        "TEE-BLK-M,Tee black M,0123,classic-tee,Color:Black|Size:M,allow_notify,20,5,WH,40\n"
        "MUG,Mug,,,,,,,,\n",
        encoding="utf-8",
    )
    parsed = parse(path)
    assert parsed.format is CsvFormat.STOCKPILOT and not parsed.errors and parsed.rows_read == 2
    tee, mug = parsed.rows
    assert tee.line == 2 and tee.sku == "TEE-BLK-M" and tee.title == "Tee black M" and tee.barcode == "0123"
    assert tee.options == {"Color": "Black", "Size": "M"}
    assert tee.backorder_policy is BackorderPolicy.ALLOW_NOTIFY
    assert (tee.backorder_cap, tee.low_stock_threshold) == (20, 5)
    assert tee.product == ProductFields("classic-tee")
    assert tee.counts == (StockCount("WH", 40, "on_hand", "location"),)
    # Empty cells mean "leave as it is", so an update never blanks what the file does not carry.
    assert mug.line == 3 and mug.sku_fields() == {"title": "Mug"} and mug.counts == () and mug.product is None


def test_stockpilot_options_as_separate_columns(tmp_path):
    path = tmp_path / "options.csv"
    path.write_text("sku,option1,option2,option3\nA,Color:Red,Size: L ,\nB,,,\n", encoding="utf-8")
    a, b = parse(path).rows
    assert a.options == {"Color": "Red", "Size": "L"}
    assert b.options is None  # no option given: the SKU's options stay as they are


def test_stockpilot_errors_name_line_and_column_and_collect_every_problem(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "sku,options,backorder_policy,backorder_cap,location,on_hand\n"
        "A,Color:Red,deny,,WH,5\n"
        "B,Color,maybe,-1,WH,abc\n"
        ",,,,,\n"
        ",Color:Red,,,,\n"
        "C,Color:Red|Color:Blue,,,WH,\n",
        encoding="utf-8",
    )
    parsed = parse(path)
    assert [row.sku for row in parsed.rows] == ["A"]
    assert messages(parsed) == [
        'line 3, column "options": expected "Name:Value", got "Color"',
        'line 3, column "backorder_policy": expected one of deny, allow, allow_notify, got "maybe"',
        'line 3, column "backorder_cap": expected a whole number of 0 or more, got -1',
        'line 3, column "on_hand": expected a whole number, got "abc"',
        'line 5, column "sku": required',
        'line 6, column "options": option "Color" is given twice',
        'line 6, column "on_hand": location "WH" is given but no on_hand count',
    ]
    assert parsed.rows_read == 4  # the empty line 4 is no row at all
    assert parsed.invalid_lines == {3, 5, 6}


def test_stockpilot_count_without_location_goes_to_the_default(tmp_path):
    path = tmp_path / "counts.csv"
    path.write_text("sku,on_hand\nA,3\n", encoding="utf-8")
    (row,) = parse(path).rows
    assert row.counts == (StockCount(None, 3, "on_hand", None),)


def test_stockpilot_unknown_column_is_refused_before_any_row(tmp_path):
    path = tmp_path / "typo.csv"
    path.write_text("sku,titel\nA,Alpha\n", encoding="utf-8")
    parsed = parse(path)
    assert parsed.fatal and not parsed.rows
    assert messages(parsed)[0].startswith('line 1, column "titel": unknown column; the columns are sku, title')


def test_values_longer_than_the_schema_allows_are_row_errors(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(f"sku,barcode\n{'S' * 129},\nB,{'9' * 65}\n", encoding="utf-8")
    assert messages(parse(path)) == [
        'line 2, column "sku": at most 128 characters, got 129',
        'line 3, column "barcode": at most 64 characters, got 65',
    ]


# --- Shopify's product CSV ---------------------------------------------------------------------------------------


def test_shopify_product_export(tmp_path):
    path = write_csv(tmp_path / "products_export_1.csv", SHOPIFY_PRODUCT_HEADER, tee_product_rows())
    parsed = parse(path)
    assert parsed.format is CsvFormat.SHOPIFY_PRODUCTS and not parsed.errors
    assert parsed.rows_read == 5
    # The first record spans lines 2-3 (a line break inside "Body (HTML)"), so the image-only row is line 5.
    assert parsed.skipped_lines == [5]
    black_s, black_m, white_s, hat = parsed.rows
    assert [r.line for r in parsed.rows] == [2, 4, 6, 7]
    assert black_s.title == "Classic Tee - Black / S" and black_s.barcode == "0123456789012"
    assert black_s.options == {"Color": "Black", "Size": "S"}
    assert black_s.product == ProductFields("classic-tee", "Classic Tee", "Acme", "Shirts")
    assert black_s.counts == (StockCount(None, 12, "Variant Inventory Qty", None),)
    # Continuation rows inherit the title and the option names of the handle's first row.
    assert black_m.title == "Classic Tee - Black / M" and black_m.options == {"Color": "Black", "Size": "M"}
    assert black_m.product == black_s.product
    assert black_m.backorder_policy is BackorderPolicy.ALLOW  # Shopify's "continue"
    assert white_s.counts == (StockCount(None, 0, "Variant Inventory Qty", None),)
    # "Title: Default Title" is Shopify's "no options"; a blank tracker means untracked, so no count.
    assert hat.options == {} and hat.title == "Wool Hat" and hat.counts == ()
    assert hat.backorder_policy is BackorderPolicy.DENY


def test_shopify_product_error_names_line_and_column(tmp_path):
    rows = tee_product_rows()[:2]
    rows += [{"Handle": "classic-tee", "Option1 Value": "Black", "Option2 Value": f"S{i}",
              "Variant SKU": f"TEE-{i}", "Variant Inventory Tracker": "shopify", "Variant Inventory Qty": "1"}
             for i in range(9)]  # lines 5-13, after the tee rows on lines 2-4
    rows.append({"Handle": "classic-tee", "Option1 Value": "Red", "Option2 Value": "XL", "Variant SKU": "TEE-RED-XL",
                 "Variant Inventory Tracker": "shopify", "Variant Inventory Qty": "abc",
                 "Variant Inventory Policy": "sometimes"})
    parsed = parse(write_csv(tmp_path / "products.csv", SHOPIFY_PRODUCT_HEADER, rows))
    assert messages(parsed) == [
        'line 14, column "Variant Inventory Qty": expected a whole number, got "abc"',
        'line 14, column "Variant Inventory Policy": expected deny or continue, got "sometimes"',
    ]
    assert len(parsed.rows) == 11


def test_shopify_product_option_value_without_a_name_and_missing_title(tmp_path):
    rows = [
        {"Handle": "mug", "Title": "", "Option1 Name": "Size", "Option1 Value": "S", "Variant SKU": "MUG-S"},
        {"Handle": "mug", "Option1 Value": "L", "Option2 Value": "Blue", "Variant SKU": "MUG-L-BLUE"},
    ]
    parsed = parse(write_csv(tmp_path / "products.csv", SHOPIFY_PRODUCT_HEADER, rows))
    assert messages(parsed) == [
        'line 2, column "Title": required on the first row of handle "mug"',
        'line 3, column "Title": required on the first row of handle "mug"',
        'line 3, column "Option2 Name": option value "Blue" has no name, neither on this row nor on the first '
        "row of its handle",
    ]


def test_shopify_product_export_with_current_column_names(tmp_path):
    rows = [
        {"Title": "Blue Vase", "URL handle": "blue-vase", "Vendor": "Clayworks", "Type": "Ceramics",
         "SKU": "VASE-S", "Barcode": "4006381333931", "Option1 name": "Size", "Option1 value": "Small",
         "Inventory tracker": "shopify", "Inventory quantity": "4", "Continue selling when out of stock": "CONTINUE"},
        {"URL handle": "blue-vase", "SKU": "VASE-L", "Option1 value": "Large", "Inventory tracker": "shopify",
         "Inventory quantity": "-2", "Continue selling when out of stock": "DENY"},
    ]
    parsed = parse(write_csv(tmp_path / "products_export.csv", SHOPIFY_PRODUCT_HEADER_CURRENT, rows))
    assert parsed.format is CsvFormat.SHOPIFY_PRODUCTS
    (small,) = parsed.rows
    assert small.title == "Blue Vase - Small" and small.barcode == "4006381333931"
    assert small.backorder_policy is BackorderPolicy.ALLOW
    assert small.product == ProductFields("blue-vase", "Blue Vase", "Clayworks", "Ceramics")
    assert small.counts == (StockCount(None, 4, "Inventory quantity", None),)
    # Shopify lets an oversold count go negative; Stockpilot's on_hand counts units that are there.
    assert messages(parsed) == ['line 3, column "Inventory quantity": expected a whole number of 0 or more, got -2']


# --- Shopify's inventory CSV -------------------------------------------------------------------------------------


def test_shopify_inventory_export_one_row_per_location(tmp_path):
    tee = {"Handle": "classic-tee", "Title": "Classic Tee", "Option1 Name": "Color", "Option1 Value": "Black",
           "Option2 Name": "Size", "Option2 Value": "M", "SKU": "TEE-BLK-M"}
    rows = [
        {**tee, "Location": "Main Warehouse", "Incoming (not editable)": "0", "Unavailable (not editable)": "1",
         "Committed (not editable)": "2", "Available (not editable)": "9", "On hand (current)": "12",
         "On hand (new)": ""},
        {**tee, "Location": "Shop Berlin", "Available (not editable)": "3", "On hand (current)": "3",
         "On hand (new)": "5"},
        {**tee, "Location": "Pop-up", "Available (not editable)": "not stocked", "On hand (current)": "not stocked"},
        {"Handle": "classic-tee", "Title": "Classic Tee", "Option1 Name": "Color", "Option1 Value": "Red",
         "Location": "Main Warehouse", "On hand (current)": "4"},
    ]
    parsed = parse(write_csv(tmp_path / "inventory_export_1.csv", SHOPIFY_INVENTORY_HEADER, rows, bom=True))
    assert parsed.format is CsvFormat.SHOPIFY_INVENTORY and not parsed.errors
    main, berlin, popup = parsed.rows
    assert main.sku == "TEE-BLK-M" and main.title == "Classic Tee - Black / M"
    assert main.product == ProductFields("classic-tee", "Classic Tee")
    assert main.counts == (StockCount("Main Warehouse", 12, "On hand (current)", "Location"),)
    assert berlin.counts == (StockCount("Shop Berlin", 5, "On hand (new)", "Location"),)  # the typed-in figure
    assert popup.counts == ()  # "not stocked" sets nothing
    assert parsed.skipped_lines == [5]  # no SKU: nothing to match it to


def test_shopify_inventory_export_2023_layout(tmp_path):
    rows = [{"Handle": "mug", "Title": "Mug", "Option1 Name": "Title", "Option1 Value": "Default Title",
             "SKU": "MUG", "Location": "Main Warehouse", "Committed": "1", "Available": "4", "On hand": "5"}]
    parsed = parse(write_csv(tmp_path / "inventory.csv", SHOPIFY_INVENTORY_HEADER_2023, rows))
    (mug,) = parsed.rows
    assert mug.options == {} and mug.counts == (StockCount("Main Warehouse", 5, "On hand", "Location"),)


def test_shopify_inventory_export_older_layout_with_a_column_per_location(tmp_path):
    header = [*_INVENTORY_IDENTITY[:9], "Main Warehouse", "Blainville, Quebec"]
    rows = [
        {"Handle": "mug", "Title": "Mug", "Option1 Name": "Title", "Option1 Value": "Default Title", "SKU": "MUG",
         "Main Warehouse": "6", "Blainville, Quebec": "not stocked"},
        {"Handle": "plate", "Title": "Plate", "Option1 Name": "Title", "Option1 Value": "Default Title",
         "SKU": "PLATE", "Main Warehouse": "2", "Blainville, Quebec": "x1"},
    ]
    parsed = parse(write_csv(tmp_path / "inventory.csv", header, rows))
    assert parsed.rows[0].counts == (StockCount("Main Warehouse", 6, "Main Warehouse", "Main Warehouse"),)
    assert messages(parsed) == ['line 3, column "Blainville, Quebec": expected a whole number, got "x1"']


def test_shopify_inventory_location_column_needs_an_on_hand_column(tmp_path):
    path = tmp_path / "inventory.csv"
    path.write_text("Handle,Title,SKU,Location,Available\nmug,Mug,MUG,Main,3\n", encoding="utf-8")
    parsed = parse(path)
    assert parsed.fatal and messages(parsed) == ['line 1, column "Location": needs an "On hand" column beside it']


# --- reading the file --------------------------------------------------------------------------------------------


def test_bom_and_semicolon_separated_files(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffsku;title;on_hand\r\nÄPFEL-1;Äpfel, rot;4\r\n".encode())
    parsed = parse(path)
    assert parsed.format is CsvFormat.STOCKPILOT and not parsed.errors
    (row,) = parsed.rows
    assert (row.sku, row.title, row.counts[0].on_hand) == ("ÄPFEL-1", "Äpfel, rot", 4)


def test_a_file_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("sku,title\nA,Alpha\nB,Caf\xe9\n".encode("latin-1"))
    parsed = parse(path)
    assert parsed.fatal and messages(parsed) == [
        'line 3: the file is not UTF-8 text; save it as "CSV UTF-8" and try again'
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "line 1: the file is empty"),
        ("Name,Qty\nfoo,1\n", "line 1: not a catalog CSV this import knows"),
        ("sku,title,Title\nA,x,y\n", 'line 1, column "Title": appears twice in the header'),
        ("sku,title\nA,Alpha\nB,\"Beta\n", "line 3: malformed CSV"),
        ("URL handle,Title\nmug,Mug\n", 'line 1: no "Variant SKU" column'),
    ],
)
def test_unreadable_files_are_refused_whole(tmp_path, content, message):
    path = tmp_path / "file.csv"
    path.write_text(content, encoding="utf-8")
    parsed = parse(path)
    assert parsed.fatal and not parsed.rows
    assert messages(parsed)[0].startswith(message)


def test_a_row_with_more_cells_than_the_header_is_an_error(tmp_path):
    path = tmp_path / "shifted.csv"
    path.write_text("sku,title\nA,Alpha\nB,Beta,extra\nC,Gamma,\n", encoding="utf-8")
    parsed = parse(path)
    assert [row.sku for row in parsed.rows] == ["A", "C"]  # an empty trailing cell is harmless
    assert messages(parsed) == ["line 3: has 3 cells but the header has 2; is a quote missing?"]
