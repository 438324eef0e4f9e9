"""Catalog-and-stock CSV files, parsed into normalised rows. Pure: bytes in, rows and errors out, no database.

Three layouts are told apart by their header line (names match case-insensitively, a UTF-8 BOM is dropped):

1. Stockpilot's own: ``sku`` (required), ``title``, ``barcode``, ``product`` (a product handle), ``options``
   ("Name:Value|Name:Value") and/or ``option1``..``option3`` (one "Name:Value" each), ``backorder_policy``
   (deny | allow | allow_notify), ``backorder_cap``, ``low_stock_threshold``, ``location``, ``on_hand``.
   A row with ``on_hand`` sets that count at ``location`` (or, without one, at the import's default location).
   Unknown columns are refused: in our own format a typo must not silently drop data.

2. Shopify's product CSV (help.shopify.com/manual/products/import-export/using-csv): Handle, Title, Vendor, Type,
   Option1..3 Name / Value, Variant SKU, Variant Barcode, Variant Inventory Tracker, Variant Inventory Qty,
   Variant Inventory Policy (deny | continue). Shopify's current export renames some of them (URL handle, SKU,
   Barcode, Inventory tracker, Inventory quantity, Continue selling when out of stock); both sets are read.
   Rows of one handle after the first leave the product columns empty and inherit them, option names included.
   Rows without a SKU (extra image rows, variants nobody gave a SKU) are skipped, not errors.

3. Shopify's inventory CSV (help.shopify.com/manual/products/inventory/getting-started-with-inventory/inventory-csv):
   Handle, Title, Option1..3 Name / Value, SKU, HS Code, COO, then either one row per SKU and location
   (Location, Incoming, Unavailable, Committed, Available, On hand; since 2024 "... (not editable)",
   "On hand (current)" and "On hand (new)", plus "Bin name") or, in older exports, one column per location name
   holding its quantity. Only the on-hand figure is read: committed and incoming are Stockpilot's own to derive.
   "not stocked" means the SKU is not kept at that location and sets nothing.

Shopify's "Title" / "Default Title" option is its way of saying "no options" and is dropped.
Every row carries its 1-based line number in the file (a quoted cell may span lines); every error names the line
and the column as written in the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stockpilot.adapters.db.tables import products, skus
from stockpilot.domain.model import BackorderPolicy

# Field lengths come from the schema, so a row that passes here never fails on a too-long value later.
_MAX_SKU = skus.c.sku.type.length
_MAX_SKU_TITLE = skus.c.title.type.length
_MAX_BARCODE = skus.c.barcode.type.length
_MAX_HANDLE = products.c.handle.type.length
_MAX_PRODUCT_TEXT = products.c.vendor.type.length

_WHOLE = re.compile(r"[+-]?\d+")
_NOT_STOCKED = "not stocked"
_NO_OPTION = ("title", "default title")  # Shopify's placeholder option of a product without variants


class CsvFormat(StrEnum):
    STOCKPILOT = "stockpilot"
    SHOPIFY_PRODUCTS = "shopify-products"
    SHOPIFY_INVENTORY = "shopify-inventory"


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f'line {self.line}, column "{self.column}"' if self.column else f"line {self.line}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ProductFields:
    """The product a SKU belongs to; None fields were not in the file and are left as they are."""

    handle: str
    title: str | None = None
    vendor: str | None = None
    product_type: str | None = None


@dataclass(frozen=True, slots=True)
class StockCount:
    """An on-hand count for one location, as named in the file (None: the import's default location)."""

    location: str | None
    on_hand: int
    column: str  # where the figure is; errors about a missing default location name it
    location_column: str | None  # where the location is named; errors about an unknown location name it

    @property
    def in_location_column(self) -> bool:
        """True in layouts with a column per location, where one line holds counts for several locations."""
        return self.column == self.location_column


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One SKU line of the file. None means "not in the file": the import leaves that field as it is."""

    line: int
    sku: str
    title: str | None = None
    barcode: str | None = None
    options: dict[str, str] | None = None
    backorder_policy: BackorderPolicy | None = None
    backorder_cap: int | None = None
    low_stock_threshold: int | None = None
    product: ProductFields | None = None
    counts: tuple[StockCount, ...] = ()

    def sku_fields(self) -> dict[str, Any]:
        """The SKU columns this row sets, in the shape of the `skus` table."""
        values: dict[str, Any] = {
            "title": self.title,
            "barcode": self.barcode,
            "options": self.options,
            "backorder_policy": self.backorder_policy.value if self.backorder_policy else None,
            "backorder_cap": self.backorder_cap,
            "low_stock_threshold": self.low_stock_threshold,
        }
        return {name: value for name, value in values.items() if value is not None}


@dataclass
class ParsedFile:
    format: CsvFormat | None
    rows: list[CatalogRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    skipped_lines: list[int] = field(default_factory=list)  # nothing to import there, e.g. Shopify image rows
    rows_read: int = 0
    fatal: bool = False  # the file as a whole is unreadable (encoding, header): no row can be trusted

    @property
    def invalid_lines(self) -> set[int]:
        return {error.line for error in self.errors}


def parse_catalog(data: bytes) -> ParsedFile:
    """Detect the layout of a CSV file and parse every row; never raises on bad content."""
    text, problem = _decode(data)
    if problem is not None:
        return _failed(problem)
    records = _records(text)
    try:
        first = next(records, None)
        if first is None:
            return _failed(RowError(1, None, "the file is empty"))
        header = [name.strip() for name in first[1]]
        fmt = detect_format(header)
        if fmt is None:
            return _failed(RowError(1, None, _UNKNOWN_LAYOUT))
        parser = _PARSERS[fmt](header)
        if parser.header_errors:
            return ParsedFile(fmt, errors=parser.header_errors, fatal=True)
        return _parse_rows(fmt, parser, records)
    except _CsvSyntaxError as exc:
        return _failed(exc.error)


def detect_format(header: list[str]) -> CsvFormat | None:
    names = {name.strip().casefold() for name in header}
    if "variant sku" in names or "url handle" in names:
        return CsvFormat.SHOPIFY_PRODUCTS
    if "handle" in names and "sku" in names:
        return CsvFormat.SHOPIFY_INVENTORY
    if "sku" in names:
        return CsvFormat.STOCKPILOT
    return None


_UNKNOWN_LAYOUT = (
    "not a catalog CSV this import knows: expected Stockpilot's columns (sku, title, ..., location, on_hand), "
    "a Shopify product export (Handle, Title, Variant SKU, ...) or a Shopify inventory export "
    "(Handle, Title, SKU, Location, On hand, ...)"
)


def _failed(error: RowError) -> ParsedFile:
    return ParsedFile(None, errors=[error], fatal=True)


def _parse_rows(fmt: CsvFormat, parser: _Parser, records: Iterator[tuple[int, list[str]]]) -> ParsedFile:
    parsed = ParsedFile(fmt)
    width = len(parser.header.names)
    for line, values in records:
        if not any(value.strip() for value in values):
            continue  # blank lines (spreadsheets love trailing ones) are not rows
        parsed.rows_read += 1
        cells = _Cells(line, values, parser.header)
        if any(value.strip() for value in values[width:]):
            cells.error(None, f"has {len(values)} cells but the header has {width}; is a quote missing?")
            parsed.errors.extend(cells.errors)
            continue
        row = parser.parse(cells)
        if cells.errors:
            parsed.errors.extend(cells.errors)
        elif row is None:
            parsed.skipped_lines.append(line)
        else:
            parsed.rows.append(row)
    return parsed


# --- reading the bytes -----------------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, RowError | None]:
    try:
        return data.decode("utf-8-sig"), None  # utf-8-sig drops the BOM Excel and Shopify put first
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return "", RowError(line, None, "the file is not UTF-8 text; save it as \"CSV UTF-8\" and try again")


class _CsvSyntaxError(Exception):
    def __init__(self, error: RowError) -> None:
        super().__init__(str(error))
        self.error = error


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (line where the record starts, cells); a quoted cell may hold line breaks."""
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line), strict=True)
    start = 1
    try:
        for values in reader:
            yield start, values
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _CsvSyntaxError(RowError(start, None, f"malformed CSV: {exc}")) from None


def _delimiter(first_line: str) -> str:
    # Spreadsheets in many locales save with ";" (or tabs); the header line tells which one this file uses.
    return max((",", ";", "\t"), key=first_line.count)


# --- the header and the cells of one row -----------------------------------------------------------------------


class _Header:
    """Column positions by field key, resolved from the header names through each key's accepted aliases."""

    def __init__(self, names: list[str], aliases: dict[str, tuple[str, ...]]) -> None:
        self.names = names
        self.aliases = aliases
        positions = {name.casefold(): i for i, name in enumerate(names) if name}
        self.index: dict[str, int] = {}
        for key, accepted in aliases.items():
            found = next((positions[a.casefold()] for a in accepted if a.casefold() in positions), None)
            if found is not None:
                self.index[key] = found

    def has(self, key: str) -> bool:
        return key in self.index

    def label(self, key: str) -> str:
        """The column's name as written in the file, for error messages."""
        if key in self.index:
            return self.names[self.index[key]]
        return self.aliases[key][0]

    def duplicates(self) -> list[str]:
        seen: set[str] = set()
        repeated: list[str] = []
        for name in filter(None, self.names):
            if name.casefold() in seen:
                repeated.append(name)
            seen.add(name.casefold())
        return repeated


class _Cells:
    """The cells of one record, read by field key, collecting every error of the row."""

    def __init__(self, line: int, values: list[str], header: _Header) -> None:
        self.line = line
        self.values = values
        self.header = header
        self.errors: list[RowError] = []

    def at(self, position: int) -> str | None:
        value = self.values[position].strip() if position < len(self.values) else ""
        return value or None

    def text(self, key: str, max_length: int | None = None) -> str | None:
        if not self.header.has(key):
            return None
        value = self.at(self.header.index[key])
        if value is not None and max_length is not None and len(value) > max_length:
            self.error(key, f"at most {max_length} characters, got {len(value)}")
            return None
        return value

    def whole(self, key: str) -> int | None:
        return self.whole_at(self.text(key), self.header.label(key))

    def whole_at(self, value: str | None, column: str) -> int | None:
        """A whole number of 0 or more: Stockpilot counts units physically present, never fewer than none."""
        if value is None:
            return None
        if not _WHOLE.fullmatch(value):
            self.error_at(column, f'expected a whole number, got "{value}"')
            return None
        number = int(value)
        if number < 0:
            self.error_at(column, f"expected a whole number of 0 or more, got {number}")
            return None
        return number

    def error(self, key: str | None, reason: str) -> None:
        self.error_at(self.header.label(key) if key else None, reason)

    def error_at(self, column: str | None, reason: str) -> None:
        self.errors.append(RowError(self.line, column, reason))


class _Parser:
    """One layout: checks its header once, then turns each record into a CatalogRow (None: nothing to import)."""

    ALIASES: dict[str, tuple[str, ...]] = {}

    def __init__(self, names: list[str]) -> None:
        self.header = _Header(names, self.ALIASES)
        self.header_errors = [
            RowError(1, name, "appears twice in the header") for name in self.header.duplicates()
        ]

    def header_error(self, column: str | None, reason: str) -> None:
        self.header_errors.append(RowError(1, column, reason))

    def parse(self, cells: _Cells) -> CatalogRow | None:
        raise NotImplementedError


def _required_sku(cells: _Cells) -> str | None:
    return cells.text("sku", _MAX_SKU)


def _option_pair(text: str, cells: _Cells, column: str) -> tuple[str, str] | None:
    name, colon, value = text.partition(":")
    if not colon or not name.strip() or not value.strip():
        cells.error_at(column, f'expected "Name:Value", got "{text}"')
        return None
    return name.strip(), value.strip()


def _add_option(options: dict[str, str], name: str, value: str, cells: _Cells, column: str) -> None:
    if name in options:
        cells.error_at(column, f'option "{name}" is given twice')
    else:
        options[name] = value


# --- 1. Stockpilot's own layout --------------------------------------------------------------------------------

_POLICIES = ", ".join(policy.value for policy in BackorderPolicy)


class _StockpilotParser(_Parser):
    ALIASES = {
        name: (name,)
        for name in (
            "sku", "title", "barcode", "product", "options", "option1", "option2", "option3",
            "backorder_policy", "backorder_cap", "low_stock_threshold", "location", "on_hand",
        )
    }

    def __init__(self, names: list[str]) -> None:
        super().__init__(names)
        for name in names:
            if name and name.casefold() not in self.ALIASES:
                self.header_error(name, f"unknown column; the columns are {', '.join(self.ALIASES)}")

    def parse(self, cells: _Cells) -> CatalogRow | None:
        sku = _required_sku(cells)
        if sku is None and not cells.errors:
            cells.error("sku", "required")  # unlike Shopify's files, every row of ours is about a SKU
        handle = cells.text("product", _MAX_HANDLE)
        return CatalogRow(
            line=cells.line,
            sku=sku or "",
            title=cells.text("title", _MAX_SKU_TITLE),
            barcode=cells.text("barcode", _MAX_BARCODE),
            options=self._options(cells),
            backorder_policy=self._policy(cells),
            backorder_cap=cells.whole("backorder_cap"),
            low_stock_threshold=cells.whole("low_stock_threshold"),
            product=ProductFields(handle) if handle else None,
            counts=self._counts(cells),
        )

    @staticmethod
    def _options(cells: _Cells) -> dict[str, str] | None:
        options: dict[str, str] = {}
        given = False
        packed = cells.text("options")
        if packed is not None:
            given = True
            column = cells.header.label("options")
            for part in packed.split("|"):
                pair = _option_pair(part, cells, column)
                if pair:
                    _add_option(options, *pair, cells, column)
        for key in ("option1", "option2", "option3"):
            text = cells.text(key)
            if text is not None:
                given = True
                pair = _option_pair(text, cells, cells.header.label(key))
                if pair:
                    _add_option(options, *pair, cells, cells.header.label(key))
        return options if given else None

    @staticmethod
    def _policy(cells: _Cells) -> BackorderPolicy | None:
        text = cells.text("backorder_policy")
        if text is None:
            return None
        try:
            return BackorderPolicy(text.casefold())
        except ValueError:
            cells.error("backorder_policy", f'expected one of {_POLICIES}, got "{text}"')
            return None

    @staticmethod
    def _counts(cells: _Cells) -> tuple[StockCount, ...]:
        location = cells.text("location")
        on_hand_text = cells.text("on_hand")
        on_hand = cells.whole("on_hand")
        if location is not None and on_hand_text is None:
            cells.error("on_hand", f'location "{location}" is given but no on_hand count')
        if on_hand is None:
            return ()
        location_column = cells.header.label("location") if cells.header.has("location") else None
        return (StockCount(location, on_hand, cells.header.label("on_hand"), location_column),)


# --- 2. and 3. Shopify's layouts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ShopifyProduct:
    """What the first row of a handle says for the rows after it."""

    handle: str | None
    title: str | None
    vendor: str | None
    product_type: str | None
    option_names: tuple[str | None, ...]


def _option_aliases() -> dict[str, tuple[str, ...]]:
    aliases: dict[str, tuple[str, ...]] = {}
    for n in (1, 2, 3):
        aliases[f"option{n}_name"] = (f"Option{n} Name",)
        aliases[f"option{n}_value"] = (f"Option{n} Value",)
    return aliases


class _ShopifyParser(_Parser):
    """What both Shopify layouts share: handles, inherited product columns, options and the SKU title."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(names)
        self.products: dict[str, _ShopifyProduct] = {}
        if not self.header.has("sku"):
            self.header_error(None, f'no "{self.header.label("sku")}" column: rows cannot be matched to SKUs')

    def product(self, cells: _Cells) -> _ShopifyProduct:
        handle = cells.text("handle", _MAX_HANDLE)
        known = self.products.get(handle) if handle else None
        if known is None:
            known = _ShopifyProduct(
                handle=handle,
                title=cells.text("title", _MAX_SKU_TITLE),
                vendor=cells.text("vendor", _MAX_PRODUCT_TEXT),
                product_type=cells.text("product_type", _MAX_PRODUCT_TEXT),
                option_names=tuple(cells.text(f"option{n}_name") for n in (1, 2, 3)),
            )
            if handle:
                self.products[handle] = known
        return known

    def variant(self, cells: _Cells, sku: str, counts: tuple[StockCount, ...],
                policy: BackorderPolicy | None = None, barcode: str | None = None) -> CatalogRow:
        product = self.product(cells)
        if product.title is None and self.header.has("title"):
            where = f'on the first row of handle "{product.handle}"' if product.handle else "on this row"
            cells.error("title", f"required {where}")
        options = self.options(cells, product)
        return CatalogRow(
            line=cells.line,
            sku=sku,
            title=self.sku_title(cells, product.title, options),
            barcode=barcode,
            options=options,
            backorder_policy=policy,
            product=(ProductFields(product.handle, product.title, product.vendor, product.product_type)
                     if product.handle else None),
            counts=counts,
        )

    @staticmethod
    def options(cells: _Cells, product: _ShopifyProduct) -> dict[str, str]:
        options: dict[str, str] = {}
        for n in (1, 2, 3):
            value = cells.text(f"option{n}_value")
            if value is None:
                continue
            name = cells.text(f"option{n}_name") or product.option_names[n - 1]
            if name is None:
                cells.error(f"option{n}_name", f'option value "{value}" has no name, neither on this row nor '
                                                f"on the first row of its handle")
            elif (name.casefold(), value.casefold()) != _NO_OPTION:
                _add_option(options, name, value, cells, cells.header.label(f"option{n}_value"))
        return options

    @staticmethod
    def sku_title(cells: _Cells, title: str | None, options: dict[str, str]) -> str | None:
        if title is None:
            return None
        full = f"{title} - {' / '.join(options.values())}" if options else title
        if len(full) > _MAX_SKU_TITLE:
            cells.error("title", f"the SKU title would be {len(full)} characters, at most {_MAX_SKU_TITLE}")
            return None
        return full


class _ShopifyProductsParser(_ShopifyParser):
    ALIASES = {
        "handle": ("Handle", "URL handle"),
        "title": ("Title",),
        "vendor": ("Vendor",),
        "product_type": ("Type",),
        **_option_aliases(),
        "sku": ("Variant SKU", "SKU"),
        "barcode": ("Variant Barcode", "Barcode"),
        "tracker": ("Variant Inventory Tracker", "Inventory tracker"),
        "quantity": ("Variant Inventory Qty", "Inventory quantity"),
        "policy": ("Variant Inventory Policy", "Continue selling when out of stock"),
    }
    _POLICIES = {"deny": BackorderPolicy.DENY, "continue": BackorderPolicy.ALLOW}

    def parse(self, cells: _Cells) -> CatalogRow | None:
        sku = _required_sku(cells)
        if sku is None:
            self.product(cells)  # an image row may still be the first row of its handle
            return None
        return self.variant(cells, sku, self._counts(cells), self._policy(cells),
                            cells.text("barcode", _MAX_BARCODE))

    def _policy(self, cells: _Cells) -> BackorderPolicy | None:
        text = cells.text("policy")
        if text is None:
            return None
        policy = self._POLICIES.get(text.casefold())
        if policy is None:
            cells.error("policy", f'expected deny or continue, got "{text}"')
        return policy

    @staticmethod
    def _counts(cells: _Cells) -> tuple[StockCount, ...]:
        # A blank tracker means Shopify does not track this variant: its quantity is not a count.
        if cells.header.has("tracker") and cells.text("tracker") is None:
            return ()
        on_hand = cells.whole("quantity")
        if on_hand is None:
            return ()
        # The product CSV is single-location by Shopify's design, so the count goes to the default location.
        return (StockCount(None, on_hand, cells.header.label("quantity"), None),)


# Shopify's inventory export columns that are not locations (in the older layout, every other column is one).
_INVENTORY_NOT_LOCATIONS = (
    "Handle", "Title", "SKU", "HS Code", "COO", "Location", "Bin name",
    *(f"Option{n} {part}" for n in (1, 2, 3) for part in ("Name", "Value")),
    *(f"{name}{suffix}" for name in ("Incoming", "Unavailable", "Committed", "Available", "On hand")
      for suffix in ("", " (not editable)")),
    "On hand (current)", "On hand (new)",
)


class _ShopifyInventoryParser(_ShopifyParser):
    ALIASES = {
        "handle": ("Handle",),
        "title": ("Title",),
        **_option_aliases(),
        "sku": ("SKU",),
        "location": ("Location",),
        "on_hand_new": ("On hand (new)",),
        "on_hand": ("On hand (current)", "On hand"),
    }

    def __init__(self, names: list[str]) -> None:
        super().__init__(names)
        known = {name.casefold() for name in _INVENTORY_NOT_LOCATIONS}
        self.location_columns = [
            (i, name) for i, name in enumerate(names) if name and name.casefold() not in known
        ]
        if self.header.has("location"):
            if not (self.header.has("on_hand") or self.header.has("on_hand_new")):
                self.header_error("Location", 'needs an "On hand" column beside it')
            self.location_columns = []
        elif not self.location_columns:
            self.header_error(None, 'no "Location" column and no column per location: no quantities to import')

    def parse(self, cells: _Cells) -> CatalogRow | None:
        sku = _required_sku(cells)
        if sku is None:
            self.product(cells)
            return None
        counts = self._row_count(cells) if self.header.has("location") else self._column_counts(cells)
        return self.variant(cells, sku, counts)

    def _row_count(self, cells: _Cells) -> tuple[StockCount, ...]:
        # "On hand (new)" is what a person typed in to change the count; blank means "keep the current one".
        key = "on_hand_new" if cells.text("on_hand_new") is not None else "on_hand"
        text = cells.text(key)
        if text is None or text.casefold() == _NOT_STOCKED:
            return ()
        on_hand = cells.whole(key)
        location = cells.text("location")
        if location is None:
            cells.error("location", "required beside a quantity")
        if on_hand is None or location is None:
            return ()
        return (StockCount(location, on_hand, cells.header.label(key), cells.header.label("location")),)

    def _column_counts(self, cells: _Cells) -> tuple[StockCount, ...]:
        counts: list[StockCount] = []
        for position, name in self.location_columns:
            text = cells.at(position)
            if text is None or text.casefold() == _NOT_STOCKED:
                continue
            on_hand = cells.whole_at(text, name)
            if on_hand is not None:
                counts.append(StockCount(name, on_hand, name, name))
        return tuple(counts)


_PARSERS: dict[CsvFormat, Callable[[list[str]], _Parser]] = {
    CsvFormat.STOCKPILOT: _StockpilotParser,
    CsvFormat.SHOPIFY_PRODUCTS: _ShopifyProductsParser,
    CsvFormat.SHOPIFY_INVENTORY: _ShopifyInventoryParser,
}
