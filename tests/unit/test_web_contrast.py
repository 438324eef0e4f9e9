"""The dashboard's text colours against the backgrounds they are drawn on meet WCAG AA (4.5:1 for normal text),
read from app.css itself: changing a colour there re-runs this check on the new value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "src/stockpilot/entrypoints/web/static/app.css").read_text()
VARS = dict(re.findall(r"--([a-z0-9-]+):\s*(#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?)\b", CSS))

# (text, background, where): every text colour the sheet sets, on each background it appears on.
PAIRS = [
    ("ink", "bg", "page text"), ("ink", "panel", "panel text"), ("ink-2", "panel", "secondary text, labels"),
    ("muted", "panel", "muted text"), ("muted", "bg", "muted text on the page"),
    ("muted", "#fafbfc", "table headings"), ("muted", "#f7f9fe", "muted text in an ATS column"),
    ("brand", "panel", "links"), ("brand", "bg", "links on the page"), ("brand", "#f8fafc", "links, row hover"),
    ("brand-ink", "brand", "primary button"), ("#fff", "#1e40af", "primary button, hover"),
    ("ok", "ok-bg", "ok badge"), ("warn", "warn-bg", "warning badge"), ("bad", "bad-bg", "bad badge"),
    ("info", "info-bg", "info badge"), ("neutral", "neutral-bg", "neutral badge, tags, counts"),
    ("ok", "panel", "positive figures"), ("bad", "panel", "negative figures"), ("warn", "panel", "zero figures"),
    ("#11491f", "ok-bg", "done notice"), ("#7a1114", "bad-bg", "error notice"), ("#663700", "warn-bg", "warn notice"),
    ("#cbd5e1", "#111827", "top bar links"), ("#e5e7eb", "#111827", "top bar text"), ("#fff", "#1f2937", "hover"),
    ("#fff", "#111827", "current tab"), ("#fff", "#374151", "current tab count"),
    ("ink-2", "#f3f5f8", "sign-in switch"), ("info", "#eef3fd", "ATS column heading"),
    ("#5f6b7c", "#ffffff", "chart ticks"), ("#3f4a59", "#ffffff", "chart rule labels"),
    ("bad", "#ffffff", "danger button"),
]


def _rgb(colour: str) -> tuple[float, float, float]:
    value = VARS.get(colour, colour).lstrip("#")
    value = "".join(c * 2 for c in value) if len(value) == 3 else value
    assert len(value) == 6, f"unknown colour {colour!r}"
    return tuple(int(value[i:i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def _luminance(colour: str) -> float:
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in _rgb(colour)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_formula_matches_known_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the classic AA grey


@pytest.mark.parametrize(("text", "background", "where"), PAIRS, ids=[p[2] for p in PAIRS])
def test_text_meets_aa_contrast(text, background, where):
    assert contrast(text, background) >= 4.5, f"{where}: {text} on {background} is {contrast(text, background):.2f}:1"


def test_focus_is_always_visible():
    assert re.search(r":focus-visible\s*\{[^}]*outline:\s*3px solid", CSS)
    assert "outline: none" not in CSS.replace("main:focus { outline: none; }", "")  # only the skip target
