"""Online micro-batching with latency budgets: engine, queue and scheduler.

Live requests that can wait a little are grouped (``task:model``) and executed together; requests
that cannot wait are executed at once; nothing is made to exceed its latency budget because of
batching. See ``docs/online.md``.
"""

from batch_router_core.online.batcher import OnlineBatcher
from batch_router_core.online.config import BatchConfig
from batch_router_core.online.engine import BatchEligibility, BatchEngine, LatencyTracker
from batch_router_core.online.pricing import TablePricing
from batch_router_core.online.queue import QueuedRequest, RequestQueue
from batch_router_core.online.scheduler import BatchScheduler, CostModel, GroupCost

__all__ = [
    "BatchConfig",
    "BatchEligibility",
    "BatchEngine",
    "BatchScheduler",
    "CostModel",
    "GroupCost",
    "LatencyTracker",
    "OnlineBatcher",
    "QueuedRequest",
    "RequestQueue",
    "TablePricing",
]
