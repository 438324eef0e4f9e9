"""Render a purchase order as a PDF (fpdf2): header, parties, line table, total, acknowledge link.

The built-in PDF fonts are used so the output needs no font files on the machine; they cover Latin-1 only, so
other characters are transliterated (e.g. "Łódź" -> "Lodz"). The creation date is the PO's issue time, so the
same payload renders the same bytes: a redelivered email carries an identical attachment.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any

from fpdf import FPDF
from fpdf.enums import TableCellFillMode, XPos, YPos
from fpdf.fonts import FontFace

from stockpilot.adapters.suppliers.document import PurchaseOrderDocument

_INK = (33, 37, 41)
_MUTED = (108, 117, 125)
_ACCENT = (20, 66, 114)
_RULE = (206, 212, 218)
_STRIPE = (244, 246, 248)
_BANNER = {"change": ((255, 243, 205), (133, 100, 4)), "cancel": ((248, 215, 218), (114, 28, 36))}
_FONT = "Helvetica"
_MARGIN = 16.0
# Typographic characters the Latin-1 core fonts lack, mapped to their plain equivalents.
_PLAIN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                        "\u2026": "...", "\u2022": "-", "\u20ac": "EUR", "\u2122": "(TM)", "\u0141": "L", "\u0142": "l",
                        "\u0110": "D", "\u0111": "d", "\u0152": "OE", "\u0153": "oe", "\u0131": "i"})


def render_pdf(doc: PurchaseOrderDocument) -> bytes:
    pdf = _PurchaseOrderPdf(doc)
    pdf.add_page()
    pdf.header_block()
    pdf.banner()
    pdf.parties()
    pdf.line_table()
    pdf.totals()
    pdf.notes()
    pdf.acknowledge()
    return bytes(pdf.output())


def money(amount: Decimal) -> str:
    """Thousands separators, at least two decimals, never rounding away a sub-cent unit cost."""
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{amount:,.{places}f}"


def latin1(text: str) -> str:
    return "".join(_latin1_char(c) for c in text.translate(_PLAIN))


def _latin1_char(c: str) -> str:
    if ord(c) < 256:
        return c
    base = "".join(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d))
    return base if base and all(ord(d) < 256 for d in base) else "?"


class _PurchaseOrderPdf(FPDF):
    def __init__(self, doc: PurchaseOrderDocument) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.po = doc
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(auto=True, margin=20)
        self.set_creation_date(doc.issued_at)
        self.set_title(latin1(f"{doc.title} {doc.po_number} (revision {doc.revision})"))
        self.set_author(latin1(doc.buyer.name))
        self.set_creator("Stockpilot")
        self.alias_nb_pages()

    # --- page furniture ---

    def footer(self) -> None:
        self.set_y(-13)
        self.set_draw_color(*_RULE)
        self.line(_MARGIN, self.get_y(), self.w - _MARGIN, self.get_y())
        self.set_font(_FONT, size=8)
        self.set_text_color(*_MUTED)
        left = latin1(f"{self.po.buyer.name}  |  {self.po.po_number}  |  revision {self.po.revision}")
        self.cell(self.epw / 2, 8, left)
        self.cell(self.epw / 2, 8, f"Page {self.page_no()} of {{nb}}", align="R")

    def header(self) -> None:
        if self.page_no() > 1:  # continuation pages: say which order they belong to
            self.set_font(_FONT, "B", 9)
            self.set_text_color(*_MUTED)
            self.cell(0, 6, latin1(f"{self.po.title} {self.po.po_number} (revision {self.po.revision}), continued"),
                      new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.ln(2)

    # --- blocks ---

    def header_block(self) -> None:
        doc = self.po
        top = self.get_y()
        self.set_text_color(*_INK)
        self.set_font(_FONT, "B", 15)
        self.cell(self.epw * 0.55, 8, latin1(doc.buyer.name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(_FONT, size=9)
        self.set_text_color(*_MUTED)
        for text in (*doc.buyer.address_lines, doc.buyer.email):
            self.cell(self.epw * 0.55, 4.6, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        left_bottom = self.get_y()

        right = self.l_margin + self.epw * 0.55
        width = self.epw * 0.45
        self.set_xy(right, top)
        self.set_font(_FONT, "B", 20)
        self.set_text_color(*_ACCENT)
        self.cell(width, 9, doc.title.upper(), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.ln(1.5)
        facts = [
            ("PO number", doc.po_number),
            ("Revision", str(doc.revision)),
            ("Issued", doc.issued_at.strftime("%d %b %Y")),
            ("Needed by", doc.needed_by.strftime("%d %b %Y") if doc.needed_by else "As soon as possible"),
            ("Currency", doc.supplier.currency),
        ]
        for label, value in facts:
            self.set_x(right)
            self.set_font(_FONT, size=9)
            self.set_text_color(*_MUTED)
            self.cell(width * 0.45, 5.2, label, align="R")
            self.set_font(_FONT, "B", 9.5)
            self.set_text_color(*_INK)
            self.cell(width * 0.55, 5.2, latin1(value), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_y(max(left_bottom, self.get_y()) + 4)
        self.set_draw_color(*_ACCENT)
        self.set_line_width(0.6)
        self.line(_MARGIN, self.get_y(), self.w - _MARGIN, self.get_y())
        self.set_line_width(0.2)
        self.ln(5)

    def banner(self) -> None:
        if self.po.kind not in _BANNER:
            return
        fill, ink = _BANNER[self.po.kind]
        text = (
            f"PLEASE DO NOT SHIP: purchase order {self.po.po_number} is cancelled, with every earlier revision."
            if self.po.kind == "cancel"
            else f"CHANGE ORDER: revision {self.po.revision} replaces every earlier revision of {self.po.po_number}."
        )
        self.set_fill_color(*fill)
        self.set_text_color(*ink)
        self.set_font(_FONT, "B", 9.5)
        self._paragraph(0, 6, latin1(text), fill=True, padding=(2, 3), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(4)

    def parties(self) -> None:
        doc, s = self.po, self.po.supplier
        gap = 6.0
        width = (self.epw - gap) / 2
        blocks = [
            ("SUPPLIER", [s.name, f"Supplier code {s.code}", *([s.email] if s.email else [])]),
            ("DELIVER TO", [doc.buyer.name, *doc.buyer.address_lines]),
        ]
        top = self.get_y()
        bottoms = []
        for index, (label, lines) in enumerate(blocks):
            x = self.l_margin + index * (width + gap)
            self.set_xy(x, top)
            self.set_font(_FONT, "B", 8)
            self.set_text_color(*_MUTED)
            self.cell(width, 5, label, new_x=XPos.LEFT, new_y=YPos.NEXT)
            self.set_draw_color(*_RULE)
            self.line(x, self.get_y(), x + width, self.get_y())
            self.ln(1.5)
            for number, text in enumerate(lines):
                self.set_x(x)
                self.set_font(_FONT, "B" if number == 0 else "", 10 if number == 0 else 9)
                self.set_text_color(*_INK)
                self._paragraph(width, 5, latin1(text), new_x=XPos.LEFT, new_y=YPos.NEXT)
            bottoms.append(self.get_y())
        self.set_xy(self.l_margin, max(bottoms) + 7)

    def line_table(self) -> None:
        doc = self.po
        self.set_font(_FONT, size=9)
        self.set_text_color(*_INK)
        self.set_draw_color(*_RULE)
        headings = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=_ACCENT)
        self.set_fill_color(255, 255, 255)  # unstriped rows are painted in the current fill colour
        with self.table(
            col_widths=(8, 30, 68, 16, 12, 22, 24),
            text_align=("RIGHT", "LEFT", "LEFT", "RIGHT", "CENTER", "RIGHT", "RIGHT"),
            headings_style=headings,
            borders_layout="HORIZONTAL_LINES",
            cell_fill_color=_STRIPE,
            cell_fill_mode=TableCellFillMode.ROWS,
            line_height=5,
            padding=1.6,
            first_row_as_headings=True,
        ) as table:
            table.row(["#", "SKU", "Description", "Qty", "Unit", "Unit cost", "Line total"])
            for line in doc.lines:
                description = line.title + (f"\nYour item: {line.supplier_sku}" if line.supplier_sku else "")
                table.row([
                    str(line.line), latin1(line.sku), latin1(description), f"{line.quantity:,}", latin1(line.uom),
                    money(line.unit_cost), money(line.total),
                ])
        self.ln(2)

    def totals(self) -> None:
        doc = self.po
        label_w, value_w = 45.0, 40.0
        x = self.w - _MARGIN - label_w - value_w
        units = sum(line.quantity for line in doc.lines)
        self.set_x(x)
        self.set_font(_FONT, size=9)
        self.set_text_color(*_MUTED)
        self.cell(label_w, 6, f"{len(doc.lines)} lines, {units:,} units", align="R")
        self.cell(value_w, 6, "", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_x(x)
        self.set_fill_color(*_STRIPE)
        self.set_font(_FONT, "B", 11)
        self.set_text_color(*_INK)
        self.cell(label_w, 9, f"Total ({doc.supplier.currency})", align="R", fill=True)
        self.cell(value_w, 9, money(doc.total), align="R", fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(6)

    def notes(self) -> None:
        if not self.po.notes.strip():
            return
        self._section("NOTES")
        self.set_font(_FONT, size=9.5)
        self.set_text_color(*_INK)
        self._paragraph(0, 5, latin1(self.po.notes), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(5)

    def acknowledge(self) -> None:
        doc = self.po
        if doc.kind == "cancel":
            ask = "Please confirm that this order is cancelled"
        else:
            ask = "Please confirm quantities and ship dates"
        self._section("ACKNOWLEDGE THIS ORDER")
        self.set_font(_FONT, size=9.5)
        self.set_text_color(*_INK)
        if doc.ack_url:
            self._paragraph(0, 5, f"{ask} by opening this link:", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_font(_FONT, "U", 9)
            self.set_text_color(*_ACCENT)
            self._paragraph(0, 5, doc.ack_url, link=doc.ack_url, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_font(_FONT, size=9.5)
            self.set_text_color(*_INK)
            self._paragraph(0, 5, latin1(f"or by replying to {doc.buyer.email}."), new_x=XPos.LMARGIN,
                            new_y=YPos.NEXT)
        else:
            self._paragraph(0, 5, latin1(f"{ask} by replying to {doc.buyer.email}."), new_x=XPos.LMARGIN,
                            new_y=YPos.NEXT)
        self.ln(1)
        self.set_font(_FONT, size=8.5)
        self.set_text_color(*_MUTED)
        self._paragraph(0, 4.5, latin1(f"Please quote {doc.po_number} on your acknowledgement, delivery note and "
                                       "invoice."), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _paragraph(self, width: float, height: float, text: str, **options: Any) -> None:
        """A left-aligned multi-line cell (fpdf2 justifies by default, which spreads short lines oddly)."""
        self.multi_cell(width, height, text, align="L", **options)

    def _section(self, label: str) -> None:
        if self.will_page_break(22):  # keep a heading with at least a few lines of its text
            self.add_page()
        self.set_font(_FONT, "B", 8)
        self.set_text_color(*_MUTED)
        self.cell(0, 5, label, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(*_RULE)
        self.line(_MARGIN, self.get_y(), self.w - _MARGIN, self.get_y())
        self.ln(2)
