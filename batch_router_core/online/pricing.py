"""Online calls priced from the providers' price tables and the usage their answers report.

A group's cost is its answers' usage at the model's synchronous rates (per-request fees where a
provider bills them). Grouping changes how many API calls are made, not what the tokens cost: a
chat group of N requests is N calls at the same price as N requests sent alone, and an embeddings
group is one call for the same tokens. The money saving of the online path is the batch tier
(requests with hours of budget go to a batch job at batch rates), priced here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from batch_router_core.models.enums import ResultStatus
from batch_router_core.models.prices import ModelPrices, usage_cost
from batch_router_core.models.results import RequestResult
from batch_router_core.online.queue import QueuedRequest
from batch_router_core.online.scheduler import GroupCost
from batch_router_core.registry import BatchProviderRegistry

__all__ = ["TablePricing"]


class TablePricing:
    """Prices executions of the online batcher (a :data:`~.scheduler.Pricing`)."""

    def __init__(self, registry: BatchProviderRegistry) -> None:
        self._registry = registry

    def prices(self, provider: str, model: str) -> ModelPrices | None:
        """The model's prices, or None when its price is unknown."""
        return self._registry.info(provider).price_table.for_model(model)

    def __call__(
        self, batch: Sequence[QueuedRequest], results: Sequence[Any], calls: int
    ) -> GroupCost:
        provider, params, _ = batch[0].payload
        tokens, cost, _ = self.price(provider, str(params.model_id), results)
        # The same tokens at the same price, whatever the number of calls.
        return GroupCost(tokens=tokens, cost=cost, cost_if_individual=cost)

    def price(
        self, provider: str, model: str, results: Sequence[Any], *, batch_rates: bool = False
    ) -> tuple[int, float | None, float | None]:
        """``(tokens, cost, cost at synchronous rates)`` of ``results`` (USD; None when the
        model has no known price). ``batch_rates`` prices them as a batch job's."""
        answered = [r for r in results if isinstance(r, RequestResult)]
        usages = [r.usage for r in answered if r.usage is not None]
        tokens = sum(u.total_tokens for u in usages)
        prices = self.prices(provider, model)
        unreported = any(r.usage is None and r.status is ResultStatus.SUCCEEDED for r in answered)
        if prices is None or unreported:  # unknown, never zero
            return tokens, None, None
        sync = sum(usage_cost(u, prices.sync) for u in usages) + prices.sync.per_request * len(
            answered
        )
        if not batch_rates:
            return tokens, sync, sync
        rates = prices.batch
        cost = sum(usage_cost(u, rates) for u in usages) + rates.per_request * len(answered)
        return tokens, cost, sync
