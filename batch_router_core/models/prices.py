"""Price tables: USD per million tokens, batch and synchronous, per model pattern.

A plugin's YAML carries its provider's list prices with the date and the page they were taken
from::

    prices:
      as_of: "2026-11-15"
      source: https://platform.openai.com/docs/pricing
      batch_discount: 0.5            # batch rate = synchronous rate x this, unless a model says
      cache_read_ratio: 0.5          # cached input = input x this, unless a model says
      cache_write_ratio: 1.0         # cache writes = input x this, unless a model says
      models:
        "gpt-4o-mini*": {input: 0.15, output: 0.60, cached_input: 0.075, max_output: 16384}

A model takes the prices of its longest matching pattern. A model no pattern matches has no
known price: its cost is *unknown*, never zero.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

import attrs

from batch_router_core.errors import ConfigError
from batch_router_core.models.results import UsageInfo

__all__ = ["PRICE_FIELDS", "ModelPrices", "PriceTable", "Rates", "usage_cost"]

#: The per-model keys a price entry may have.
PRICE_FIELDS = (
    "input",
    "output",
    "cached_input",
    "cache_write",
    "per_request",
    "max_output",
    "batch",
)
_RATE_FIELDS = ("input", "output", "cached_input", "cache_write", "per_request")
MILLION = 1_000_000


@attrs.frozen(kw_only=True)
class Rates:
    """USD per million tokens of each kind, and per request where a provider bills so."""

    input: float
    output: float
    cached_input: float
    cache_write: float
    per_request: float = 0.0

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        cached: int = 0,
        written: int = 0,
        requests: int = 0,
    ) -> float:
        """The price of ``input_tokens`` (of which ``cached`` read from and ``written`` to the
        prompt cache) and ``output_tokens`` (reasoning included), in USD."""
        fresh = max(0, input_tokens - cached - written)
        return (
            fresh * self.input
            + cached * self.cached_input
            + written * self.cache_write
            + output_tokens * self.output
        ) / MILLION + requests * self.per_request

    def to_data(self) -> dict[str, float]:
        """The rates as a JSON-ready mapping."""
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class ModelPrices:
    """One model's prices: synchronous and batch rates, its most output tokens if known."""

    pattern: str
    sync: Rates
    batch: Rates
    max_output: int | None = None


@attrs.frozen(kw_only=True)
class PriceTable:
    """A provider's prices, and where they come from."""

    models: Mapping[str, ModelPrices] = attrs.field(factory=dict)
    as_of: str | None = None
    source: str | None = None

    def for_model(self, model: str) -> ModelPrices | None:
        """The prices of ``model`` (its longest matching pattern), or None when unknown."""
        found = self.models.get(model)
        if found is not None:
            return found
        matches = [p for p in self.models if fnmatch.fnmatchcase(model, p)]
        return self.models[max(matches, key=len)] if matches else None

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None, *, where: str = "prices") -> PriceTable:
        """Build the table from a provider's ``prices`` mapping (see the module docstring);
        raises :class:`ConfigError` naming the key for a malformed entry."""
        if not data:
            return cls()
        discount = _number(data.get("batch_discount", 0.5), f"{where}.batch_discount")
        read_ratio = _number(data.get("cache_read_ratio", 1.0), f"{where}.cache_read_ratio")
        write_ratio = _number(data.get("cache_write_ratio", 1.0), f"{where}.cache_write_ratio")
        models = {}
        for pattern, entry in (data.get("models") or {}).items():
            key = f"{where}.models.{pattern}"
            if not isinstance(entry, Mapping):
                raise ConfigError(f"expected a mapping of prices, got {entry!r}", key=key)
            unknown = set(entry) - set(PRICE_FIELDS)
            if unknown:
                raise ConfigError(
                    f"unknown price field(s) {sorted(unknown)}; expected {list(PRICE_FIELDS)}",
                    key=key,
                )
            if "input" not in entry or "output" not in entry:
                raise ConfigError("a model's prices need input and output", key=key)
            sync = _rates(entry, read_ratio, write_ratio, key)
            own = entry.get("batch") or {}
            if not isinstance(own, Mapping) or set(own) - set(_RATE_FIELDS):
                raise ConfigError(f"batch takes {list(_RATE_FIELDS)}", key=f"{key}.batch")
            batch = Rates(
                **{
                    name: _number(own[name], f"{key}.batch.{name}")
                    if name in own
                    else getattr(sync, name) * discount
                    for name in _RATE_FIELDS
                }
            )
            max_output = entry.get("max_output")
            if max_output is not None and (not isinstance(max_output, int) or max_output <= 0):
                raise ConfigError(f"expected a positive integer, got {max_output!r}", key=key)
            models[str(pattern)] = ModelPrices(
                pattern=str(pattern), sync=sync, batch=batch, max_output=max_output
            )
        as_of, source = data.get("as_of"), data.get("source")
        return cls(
            models=models,
            as_of=None if as_of is None else str(as_of),
            source=None if source is None else str(source),
        )


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"expected a non-negative number, got {value!r}", key=key)
    return float(value)


def _rates(entry: Mapping[str, Any], read_ratio: float, write_ratio: float, key: str) -> Rates:
    price = _number(entry["input"], f"{key}.input")
    return Rates(
        input=price,
        output=_number(entry["output"], f"{key}.output"),
        cached_input=_number(entry.get("cached_input", price * read_ratio), f"{key}.cached_input"),
        cache_write=_number(entry.get("cache_write", price * write_ratio), f"{key}.cache_write"),
        per_request=_number(entry.get("per_request", 0.0), f"{key}.per_request"),
    )


def usage_cost(usage: UsageInfo, rates: Rates, requests: int = 0) -> float:
    """What ``usage`` (one result's, or a job's sum) costs at ``rates``.

    Every provider's unified ``prompt_tokens`` include the cached and cache-written tokens, and
    ``completion_tokens`` include reasoning: each token is priced once, at its own rate.
    """
    return rates.cost(
        usage.prompt_tokens,
        usage.completion_tokens,
        cached=usage.cached_tokens or 0,
        written=usage.cache_creation_tokens or 0,
        requests=requests,
    )
