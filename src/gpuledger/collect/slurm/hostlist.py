"""Slurm host lists (``gpu[01-04,07],login1``) → host names, as ``scontrol show hostnames`` does.

A list is comma-separated names; each name may hold bracketed sets of numbers or ranges
(``[01-04,07]``), zero padding kept from the range's first bound, several brackets multiplied
out (``r[1-2]n[1-2]`` → ``r1n1 r1n2 r2n1 r2n2``). Anything else — unbalanced or nested brackets, a
range whose bounds are not numbers or run backwards — is refused with :class:`HostlistError`.
"""

from __future__ import annotations

import itertools
import re
from typing import Final

_RANGE: Final = re.compile(r"^(\d+)(?:-(\d+))?$")


class HostlistError(ValueError):
    """A host list that is not in Slurm's syntax; the message says what part is wrong."""


def expand_hostlist(hostlist: str) -> list[str]:
    """The host names of a Slurm host list, in order, without repeats."""
    names: list[str] = []
    for item in _top_level_items(hostlist):
        for name in _expand_item(item):
            if name not in names:
                names.append(name)
    return names


def _top_level_items(hostlist: str) -> list[str]:
    """Split on the commas outside brackets."""
    items, depth, current = [], 0, ""
    for char in hostlist.strip():
        if char == "[":
            depth += 1
            if depth > 1:
                raise HostlistError(f"nested brackets in {hostlist!r}")
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise HostlistError(f"']' without '[' in {hostlist!r}")
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise HostlistError(f"'[' without ']' in {hostlist!r}")
    items.append(current)
    if any(not item.strip() for item in items):
        raise HostlistError(f"empty host name in {hostlist!r}")
    return [item.strip() for item in items]


def _expand_item(item: str) -> list[str]:
    """One name with brackets → its names (the brackets' sets multiplied out, left to right)."""
    parts = re.split(r"\[([^\]]*)\]", item)
    literals, sets = parts[0::2], [_numbers(inner, item) for inner in parts[1::2]]
    names = []
    for combination in itertools.product(*sets):
        pieces = [literals[0]]
        for number, literal in zip(combination, literals[1:], strict=True):
            pieces.extend([number, literal])
        names.append("".join(pieces))
    return names


def _numbers(inner: str, item: str) -> list[str]:
    """``01-03,07`` → ``["01", "02", "03", "07"]`` (width of each range's first bound)."""
    numbers: list[str] = []
    for piece in inner.split(","):
        found = _RANGE.match(piece.strip())
        if found is None:
            raise HostlistError(f"{piece!r} in {item!r} is not a number or a range like 01-04")
        first, last = found.group(1), found.group(2) or found.group(1)
        if int(last) < int(first):
            raise HostlistError(f"range {piece!r} in {item!r} runs backwards")
        width = len(first)
        numbers.extend(str(n).zfill(width) for n in range(int(first), int(last) + 1))
    return numbers
