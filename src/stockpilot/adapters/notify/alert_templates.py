"""Alert text from Jinja2 templates (notify/templates/<name>.j2): the first line is the title, the rest the body.

Plain text, not HTML: the same words go to email, chat webhooks and a 160-character SMS (Apprise folds the title
into an SMS). StrictUndefined: a template naming a value the alert does not carry fails loudly in tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

_ENV = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")), undefined=StrictUndefined,
                   autoescape=False, keep_trailing_newline=False, trim_blocks=True)


def render(name: str, values: dict[str, Any]) -> tuple[str, str]:
    """(title, body) of template `name` with `values`."""
    text = _ENV.get_template(f"{name}.j2").render(**values).strip()
    title, _, body = text.partition("\n")
    return " ".join(title.split()), body.strip()
