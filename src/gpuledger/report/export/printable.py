"""Text from cloud tags made safe to show: no control characters on a terminal or in a workbook.

Team, model and job names come from tags anyone can set. An ESC sequence in one recolours or
rewrites the reader's terminal, a C0 character makes a workbook that XML readers refuse, and a
bidirectional override reorders what the reader sees. Each such character is shown as its
Python escape (``\\x1b``, ``\\u202e``): visible, and enough to find the tag that carries it.
"""

from __future__ import annotations

import re
from typing import Final

from rich.markup import escape

# C0, DEL and C1 controls (C1 0x9b is a one-byte CSI on some terminals) and the bidirectional
# embeddings, overrides and isolates.
_TERMINAL_UNSAFE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What XML 1.0 forbids in a cell: C0 controls other than tab, line feed and carriage return.
_XML_UNSAFE: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _visible(match: re.Match[str]) -> str:
    return ascii(match.group())[1:-1]


def printable(text: str) -> str:
    """``text`` with every control or bidi-override character written as its escape."""
    return _TERMINAL_UNSAFE.sub(_visible, text)


def markup_text(text: str) -> str:
    """``text`` for a rich string that is read as markup: printable, with ``[`` escaped."""
    return escape(printable(text))


def cell_safe(text: str) -> str:
    """``text`` for a workbook cell or sheet name: the characters XML forbids as escapes."""
    return _XML_UNSAFE.sub(_visible, text)
