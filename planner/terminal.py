"""Text for a terminal from names nobody vetted.

Names come from XAPI, where any pool administrator can set them: an ESC sequence in a
VM name could rewrite the operator's screen, and a name like ``[/x]`` is rich markup
that made rich raise (a traceback instead of a table). Every rich console the planner
prints through is a `SafeConsole`, and every error line goes through `printable`.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from rich.console import Console
from rich.errors import MarkupError
from rich.text import Text

MAX_LINE = 400  # characters of one error line: a hostile value is not echoed in full


def printable(text: str, *, keep: str = "", cap: int | None = None) -> str:
    """`text` with control characters (but those in `keep`) and lone surrogates shown
    escaped (``\\x1b``, ``\\n``, ``\\ud800``), cut to `cap` characters if given."""
    if any(unicodedata.category(c) in ("Cc", "Cs") and c not in keep for c in text):
        text = "".join(
            c if c in keep or unicodedata.category(c) not in ("Cc", "Cs") else repr(c)[1:-1]
            for c in text
        )
    if cap is not None and len(text) > cap:
        text = text[: cap - 20] + f"... ({len(text)} chars)"
    return text


class SafeConsole(Console):
    """A rich Console that shows control characters escaped and prints text whose
    markup does not parse (a name like ``[/x]``) as plain text instead of raising."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        text = printable(text, keep="\n\t")
        try:
            return super().render_str(text, **kwargs)
        except MarkupError:
            kwargs["markup"] = False
            return super().render_str(text, **kwargs)
