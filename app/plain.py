"""Data-derived text made inert before it reaches anything Streamlit renders as Markdown.

Streamlit renders GitHub-flavoured Markdown (plus its own directives, emoji, icons and LaTeX) in
``st.markdown``, ``st.caption``, alerts, titles, metric labels and ``st.table`` cells. A team,
model, job or instance name comes from tags and telemetry that anyone with a cluster account
writes, so a job called ``![pixel](http://evil.example/t.png)`` must show as those characters,
never as an image or a link. :func:`plain` backslash-escapes every character that can open a
Markdown construct; the text renders exactly as it was written.
"""

from __future__ import annotations

import re

# Characters that open emphasis, code, links and images, HTML and entities, tables, headings and
# quotes; ``@`` also breaks GFM's e-mail autolinks (``user@host``). ``$`` (LaTeX) is escaped apart.
_ACTIVE = re.compile(r"([\\`*_{}\[\]<>!#|~@&^])")
# A colon that touches the next character: scheme autolinks (``http://``), Streamlit's directives
# and icons (``:red[…]``, ``:material/…:``) and emoji; "source: the bill" reads unchanged.
_COLON = re.compile(r":(?=\S)")
_WWW = re.compile(r"(?i)\b(www)\.")  # GFM links a bare ``www.host`` too
_LIST_START = re.compile(r"^(\s*\d*)([-+=.)])")  # a list item or setext underline at its start
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")


def plain(text: object) -> str:
    """``text`` as Markdown that renders as exactly its characters, on one line."""
    return _plain(text).replace("$", "\\$")


def plain_cell(text: object) -> str:
    """:func:`plain` for a cell of ``st.table``, which renders each cell on its own: a lone
    dollar there opens no formula, so "over by $5.00" stays as it is; a pair is escaped."""
    escaped = _plain(text)
    return escaped.replace("$", "\\$") if escaped.count("$") > 1 else escaped


def _plain(text: object) -> str:
    escaped = _COLON.sub(r"\:", _ACTIVE.sub(r"\\\1", _LINE_BREAKS.sub(" ", str(text))))
    return _LIST_START.sub(r"\1\\\2", _WWW.sub(r"\1\\.", escaped))
