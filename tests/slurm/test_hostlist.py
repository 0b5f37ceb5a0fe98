"""Slurm host lists expand as ``scontrol show hostnames`` does; bad syntax is refused."""

from __future__ import annotations

import re

import pytest

from gpuledger.collect.slurm.hostlist import HostlistError, expand_hostlist

CASES = {
    "one host": ("dgx01", ["dgx01"]),
    "range keeps padding": ("gpu[01-03]", ["gpu01", "gpu02", "gpu03"]),
    "set and range": ("gpu[1,3-4]", ["gpu1", "gpu3", "gpu4"]),
    "several items": ("gpu[01-02],login1", ["gpu01", "gpu02", "login1"]),
    "suffix": ("n[1-2]-ib", ["n1-ib", "n2-ib"]),
    "two brackets": ("r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]),
    "repeats once": ("a[1-2],a2", ["a1", "a2"]),
}


@pytest.mark.parametrize(("text", "hosts"), CASES.values(), ids=CASES.keys())
def test_expands(text: str, hosts: list[str]) -> None:
    assert expand_hostlist(text) == hosts


BAD = {
    "unclosed": ("gpu[01-02", "'[' without ']'"),
    "unopened": ("gpu01-02]", "']' without '['"),
    "nested": ("gpu[0[1-2]]", "nested brackets"),
    "letters": ("gpu[a-c]", "not a number or a range"),
    "backwards": ("gpu[04-01]", "runs backwards"),
    "empty item": ("gpu01,,gpu02", "empty host name"),
}


@pytest.mark.parametrize(("text", "message"), BAD.values(), ids=BAD.keys())
def test_refuses_unknown_syntax(text: str, message: str) -> None:
    with pytest.raises(HostlistError, match=re.escape(message)):
        expand_hostlist(text)
