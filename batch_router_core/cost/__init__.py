"""What a batch costs: price tables, an estimate before anything is spent, and actuals.

Prices live in each provider plugin's YAML (``prices``), overridable in ``batch-router.yaml``;
:mod:`.tokens` counts input tokens (a real tokenizer where installed), :mod:`.estimate` turns a
batch into token counts and money before upload, :mod:`.report` a job's estimate and actual cost;
the tables themselves are vocabulary (:mod:`batch_router_core.models.prices`).
"""

from batch_router_core.cost.estimate import CostEstimate, estimate_requests
from batch_router_core.cost.tokens import TokenCounter, token_counter
from batch_router_core.models.prices import ModelPrices, PriceTable, Rates, usage_cost

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
