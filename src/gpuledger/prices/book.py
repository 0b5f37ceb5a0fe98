"""GPU instance prices: the bundled, dated table, overlaid by prices refreshed from the providers.

The recommendations price their alternatives from here (spot, a smaller instance, a commitment).
``data/prices.csv`` works offline; ``gpuledger prices refresh`` asks the AWS Price List API, EC2
spot price history and the GCP Cloud Catalog (``prices/aws.py``, ``prices/gcp.py``) and writes
``<home>/prices/prices.csv``, whose rows win over the bundled ones for the same key. Every price
carries its source, its date and whether it is approximate, so a saving can say what it assumed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path

import polars as pl

from gpuledger.prices.catalog import gpu_catalog


class Price:
    """Columns of a price table."""

    provider = "provider"
    region = "region"
    instance_type = "instance_type"
    on_demand_hourly = "on_demand_hourly"
    spot_hourly = "spot_hourly"
    source = "source"
    as_of = "as_of"
    approximate = "approximate"


PRICE_SCHEMA = pl.Schema(
    {
        Price.provider: pl.String,
        Price.region: pl.String,
        Price.instance_type: pl.String,
        Price.on_demand_hourly: pl.String,  # decimal text: exact, parsed to Decimal on use
        Price.spot_hourly: pl.String,
        Price.source: pl.String,
        Price.as_of: pl.String,
        Price.approximate: pl.Boolean,
    }
)
KEY = (Price.provider, Price.region, Price.instance_type)


@dataclass(frozen=True)
class InstancePrice:
    """One instance type's hourly prices in one region, with where they came from."""

    provider: str
    region: str
    instance_type: str
    on_demand: Decimal | None
    spot: Decimal | None
    source: str
    as_of: str
    approximate: bool
    gpu_model: str | None = None
    gpu_count: int = 0
    gpu_memory_gib: float = 0.0
    machine: bool = True  # False for a GPU priced alone (GCP attachable GPUs): not an instance

    def evidence(self) -> dict[str, object]:
        """The price facts a recommendation cites."""
        return {
            "provider": self.provider,
            "region": self.region,
            "instance_type": self.instance_type,
            "on_demand_hourly": None if self.on_demand is None else str(self.on_demand),
            "spot_hourly": None if self.spot is None else str(self.spot),
            "source": self.source,
            "as_of": self.as_of,
            "approximate": self.approximate,
        }


def _read(data: bytes) -> pl.DataFrame:
    frame = pl.read_csv(data, schema_overrides=dict(PRICE_SCHEMA), infer_schema=False)
    return frame.with_columns(
        pl.col(Price.approximate).cast(pl.String).str.to_lowercase().eq("true")
    ).select(list(PRICE_SCHEMA))


@cache
def bundled_prices() -> pl.DataFrame:
    """The price table shipped with gpuledger (``data/prices.csv``)."""
    path = resources.files("gpuledger") / "data" / "prices.csv"
    with path.open("rb") as handle:
        return _read(handle.read())


def refreshed_path(home: str) -> Path:
    """Where ``prices refresh`` keeps what it fetched, inside a local ledger home."""
    return Path(home) / "prices" / "prices.csv"


def price_table(home: str | None) -> pl.DataFrame:
    """Bundled prices, with refreshed rows replacing bundled rows of the same key."""
    table = bundled_prices()
    if home is None or "://" in home or not refreshed_path(home).exists():
        return table
    fresh = _read(refreshed_path(home).read_bytes())
    return pl.concat([fresh, table.join(fresh.select(KEY), on=list(KEY), how="anti")])


def save_refreshed(home: str, rows: list[dict[str, object]]) -> Path:
    """Merge freshly fetched rows into the home's refreshed table (same key: newest wins)."""
    path = refreshed_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = pl.DataFrame(rows, schema=PRICE_SCHEMA) if rows else pl.DataFrame(schema=PRICE_SCHEMA)
    if path.exists():
        old = _read(path.read_bytes())
        fresh = pl.concat([fresh, old.join(fresh.select(KEY), on=list(KEY), how="anti")])
    buffer = io.StringIO()
    fresh.sort(list(KEY)).write_csv(buffer, quote_style="non_numeric")
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None or not text.strip() else Decimal(text.strip())


class PriceBook:
    """Prices by (provider, region, instance type), joined with the GPU catalog's facts."""

    def __init__(self, table: pl.DataFrame) -> None:
        facts = gpu_catalog().select(
            pl.col("provider").alias(Price.provider),
            pl.col("instance_type").alias(Price.instance_type),
            "gpu_model",
            "gpu_count",
            "gpu_memory_gib",
            pl.col("source").str.contains("per GPU").alias("per_gpu"),
        )
        joined = table.join(facts, on=[Price.provider, Price.instance_type], how="left")
        self._prices = [self._price(row) for row in joined.iter_rows(named=True)]
        self._by_key = {(p.provider, p.region, p.instance_type): p for p in self._prices}

    @staticmethod
    def _price(row: dict[str, object]) -> InstancePrice:
        return InstancePrice(
            provider=str(row[Price.provider]),
            region=str(row[Price.region]),
            instance_type=str(row[Price.instance_type]),
            on_demand=_decimal(row[Price.on_demand_hourly]),  # type: ignore[arg-type]
            spot=_decimal(row[Price.spot_hourly]),  # type: ignore[arg-type]
            source=str(row[Price.source] or ""),
            as_of=str(row[Price.as_of] or ""),
            approximate=bool(row[Price.approximate]),
            gpu_model=row["gpu_model"],  # type: ignore[arg-type]
            gpu_count=int(row["gpu_count"] or 0),  # type: ignore[call-overload]
            gpu_memory_gib=float(row["gpu_memory_gib"] or 0.0),  # type: ignore[arg-type]
            machine=not row["per_gpu"],
        )

    @classmethod
    def load(cls, home: str | None) -> PriceBook:
        return cls(price_table(home))

    def lookup(self, provider: str, region: str | None, instance_type: str) -> InstancePrice | None:
        """The price in this region; else the same type in another region of the provider.

        A price borrowed from another region is marked approximate and says so in its source.
        """
        exact = self._by_key.get((provider, region or "", instance_type))
        if exact is not None:
            return exact
        others = sorted(
            (p for p in self._prices if (p.provider, p.instance_type) == (provider, instance_type)),
            key=lambda p: p.region,
        )
        if not others:
            return None
        borrowed = others[0]
        return InstancePrice(
            **{
                **borrowed.__dict__,
                "region": region or borrowed.region,
                "source": f"{borrowed.source}; {borrowed.region} price used for {region}",
                "approximate": True,
            }
        )

    def in_region(self, provider: str, region: str | None) -> list[InstancePrice]:
        """Every GPU instance priced on demand in the region (the rightsizing candidates)."""
        return [
            p
            for p in self._prices
            if p.provider == provider
            and p.region == (region or "")
            and p.on_demand is not None
            and p.gpu_count > 0
            and p.machine
        ]


def csv_text(rows: list[dict[str, object]]) -> str:
    """Rows as CSV text in the table's column order (for printing what a refresh found)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(PRICE_SCHEMA))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
