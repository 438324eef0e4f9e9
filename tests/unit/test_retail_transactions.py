"""The transaction-file loader: demand per day, cancellations netted, returns and fees not demand, bad lines named."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from stockpilot.adapters.retail_transactions import TransactionFileError, is_product_code, load_transactions

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"  # the repo's parent holds shared/
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = [
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
    "536366,85123A,WHITE HANGING HEART,4,2010-12-01 09:00:00,2.65,13047.0,United Kingdom",
    "536367,71053,\"LANTERN, WHITE METAL\",10,2010-12-02 10:00:00,3.39,17850.0,France",
    # the same customer cancels 5 of the 6 from Dec 1st: demand of Dec 1st drops by 5
    "C536400,85123A,WHITE HANGING HEART,-5,2010-12-03 11:00:00,2.55,17850.0,United Kingdom",
    # a cancellation matching no earlier sale (its sale predates the file): not negative demand
    "C536401,71053,LANTERN,-3,2010-12-03 12:00:00,3.39,99999.0,France",
    # a negative quantity outside a C invoice: a stock adjustment, not demand
    "536402,71053,damaged,-2,2010-12-03 12:30:00,0,,United Kingdom",
    "536403,POST,POSTAGE,1,2010-12-03 13:00:00,18.0,12583.0,France",
    "536404,BANK CHARGES,Bank Charges,1,2010-12-03 13:00:00,15.0,,United Kingdom",
    "536405,71053,LANTERN,2,2010-12-04 10:00:00,0.0,17850.0,United Kingdom",
    "536406,71053,LANTERN,3,2010-12-05 10:00:00,3.39,,United Kingdom",
]


def write(tmp_path, rows, name="tx.csv", header=HEADER):
    path = tmp_path / name
    text = header + "\n".join(rows) + "\n"
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_daily_demand_nets_cancellations_and_ignores_returns_and_fees(tmp_path):
    d = load_transactions(write(tmp_path, ROWS))
    assert d.codes == ["71053", "85123A"] and d.start == date(2010, 12, 1) and d.days == 5
    heart, lantern = d.demand[1], d.demand[0]
    assert heart.tolist() == [10 - 5, 0, 0, 0, 0]  # 6 + 4 on Dec 1st, 5 cancelled by the customer who bought 6
    assert lantern.tolist() == [0, 10, 0, 0, 3]  # the unmatched cancel, the adjustment and the free line change nothing
    assert d.counts["cancelled_units_netted"] == 5 and d.counts["cancelled_units_unmatched"] == 3
    assert d.counts["negative_adjustment_lines"] == 1 and d.counts["non_product_lines"] == 2
    assert d.counts["zero_quantity_or_price_lines"] == 1
    assert d.unit_price.tolist() == pytest.approx([3.39, 2.6])  # median selling price
    assert d.description[0] == "LANTERN, WHITE METAL"


def test_a_cancellation_spans_several_earlier_sales_latest_first_and_never_below_zero(tmp_path):
    rows = [
        "1,22000,A,3,2011-01-03 09:00:00,1.0,1.0,UK",
        "2,22000,A,2,2011-01-04 09:00:00,1.0,1.0,UK",
        "C3,22000,A,-4,2011-01-05 09:00:00,1.0,1.0,UK",
        "C4,22000,A,-9,2011-01-06 09:00:00,1.0,1.0,UK",
    ]
    d = load_transactions(write(tmp_path, rows, "tx.csv.gz"))
    assert d.demand[0].tolist() == [0, 0]  # 2 from the 4th, 2 of the 3rd's 3, then the last 1 of 9
    assert d.counts["cancelled_units_netted"] == 5 and d.counts["cancelled_units_unmatched"] == 8


def test_a_cancel_does_not_reach_a_later_sale_and_uci_original_dates_parse(tmp_path):
    rows = ["C1,22000,A,-4,1/3/2011 9:00,1.0,1.0,UK", "2,22000,A,2,1/4/2011 10:15,1.0,1.0,UK"]
    d = load_transactions(write(tmp_path, rows))
    assert d.start == date(2011, 1, 4) and d.demand[0].tolist() == [2]  # days run from the first sale


@pytest.mark.parametrize(("row", "field"), [
    ("9,22000,A,lots,2011-01-03 09:00:00,1.0,1.0,UK", "Quantity"),
    ("9,22000,A,1,yesterday,1.0,1.0,UK", "InvoiceDate"),
    ("9,22000,A,1,2011-01-03 09:00:00,cheap,1.0,UK", "UnitPrice"),
])
def test_a_bad_line_names_its_line_and_field(tmp_path, row, field):
    path = write(tmp_path, [ROWS[0], ROWS[1], row])
    with pytest.raises(TransactionFileError, match=rf"line 4: field {field}"):
        load_transactions(path)


def test_missing_columns_and_short_lines_are_named(tmp_path):
    with pytest.raises(TransactionFileError, match=r"line 1: missing column.*UnitPrice"):
        load_transactions(write(tmp_path, ["1,22000,1"], header="InvoiceNo,StockCode,Quantity,InvoiceDate,"
                                                                 "CustomerID\n"))
    with pytest.raises(TransactionFileError, match="line 2: 3 fields"):
        load_transactions(write(tmp_path, ["1,22000,1"]))
    with pytest.raises(TransactionFileError, match="no such file"):
        load_transactions(tmp_path / "nope.csv")


def test_non_product_codes():
    assert not any(map(is_product_code, ["POST", "DOT", "M", "BANK CHARGES", "C2", "gift_0001_20", "DCGS0070", ""]))
    assert all(map(is_product_code, ["85123A", "71053", "84029G"]))


def test_the_real_file_loads():
    path = SHARED_DATA / "online_retail.csv.gz"
    if not path.is_file():
        pytest.skip(f"shared data {path} not present")
    d = load_transactions(path)
    assert d.days == 374 and d.start == date(2010, 12, 1)
    assert "POST" not in d.codes and len(d.codes) > 3000
    assert np.all(d.demand >= 0) and d.counts["cancellation_lines"] > 8000
