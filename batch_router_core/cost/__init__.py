"""What a batch costs: price tables, an estimate before anything is spent, and actuals.

Prices live in each provider plugin's YAML (``prices``), overridable in ``batch-router.yaml``;
:mod:`.tokens` counts input tokens (a real tokenizer where installed), :mod:`.estimate` turns a
batch into token counts and money before upload, :mod:`.prices` prices what results report.
"""

from batch_router_core.cost.estimate import CostEstimate, estimate_requests
from batch_router_core.cost.prices import ModelPrices, PriceTable, Rates, usage_cost
from batch_router_core.cost.tokens import TokenCounter, token_counter

__all__ = [
    "CostEstimate",
    "ModelPrices",
    "PriceTable",
    "Rates",
    "TokenCounter",
    "estimate_requests",
    "token_counter",
    "usage_cost",
]
