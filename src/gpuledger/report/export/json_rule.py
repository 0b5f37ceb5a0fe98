"""The one rule for every command's ``--format json``: how money, counts and fractions are written.

- **Money** is a decimal string rounded to the currency's minor unit, halves away from zero:
  ``"1234.50"`` for USD (2 places; 0 for JPY, 3 for KWD). Never a float, so no JSON reader can
  turn ``0.10`` into ``0.1000000000000000055511151231257827``.
- **Unit prices** (per GPU-hour, per million tokens) are decimal strings with 4 places;
  exchange rates are decimal strings as configured.
- **Counts** (rows, GPUs, files, sources) are integers.
- **Quantities and fractions** (GPU-hours, GiB, shares, utilisation) are JSON numbers; a share is a
  fraction of 1 (``0.25``), never a percentage.
- Dates and instants are ISO 8601 text; a missing value is ``null``.

:func:`json_bytes` refuses a :class:`~decimal.Decimal` that reached it unconverted: every amount
must have gone through :func:`money` or :func:`unit_price` first.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from gpuledger.engine.chargeback.rounding import MONEY_CONTEXT, round_money

PRICE_PLACES: Final = Decimal("0.0001")


def money(value: Decimal | int | str | None, currency: str) -> str | None:
    """An amount as decimal text in ``currency``'s minor unit (``"1234.50"`` for USD)."""
    if value is None:
        return None
    return f"{round_money(Decimal(value), currency):f}"


def unit_price(value: Decimal | int | str | None) -> str | None:
    """A price per unit (GPU-hour, million tokens) as decimal text with 4 places."""
    if value is None:
        return None
    rounded = Decimal(value).quantize(PRICE_PLACES, rounding=ROUND_HALF_UP, context=MONEY_CONTEXT)
    return f"{rounded:f}"


def plain_row(
    row: Mapping[str, object], currency: str, prices: Collection[str] = ()
) -> dict[str, object]:
    """A frame row under the rule: each Decimal is money, or a unit price when its key is in
    ``prices``; other values stay as they are (ints, floats, text, null)."""
    return {
        key: (unit_price(value) if key in prices else money(value, currency))
        if isinstance(value, Decimal)
        else value
        for key, value in row.items()
    }


def _refuse(value: object) -> Any:
    if isinstance(value, date):  # dates and datetimes: ISO 8601
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON under the rule of json_rule")


def json_bytes(document: object) -> bytes:
    """The document as indented UTF-8 JSON with a final newline."""
    return (json.dumps(document, indent=2, default=_refuse) + "\n").encode("utf-8")
