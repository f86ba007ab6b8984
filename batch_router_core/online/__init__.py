"""Online micro-batching with latency budgets (seed 004): engine, queue and scheduler.

Live requests that can wait a little are grouped (``task:model``) and executed together; requests
that cannot wait are executed at once; nothing is made to exceed its latency budget because of
batching. See ``docs/online.md``.
"""

from .batcher import OnlineBatcher
from .config import BatchConfig
from .engine import BatchEligibility, BatchEngine, LatencyTracker
from .queue import QueuedRequest, RequestQueue
from .scheduler import BatchScheduler

__all__ = [
    "BatchConfig",
    "BatchEligibility",
    "BatchEngine",
    "BatchScheduler",
    "LatencyTracker",
    "OnlineBatcher",
    "QueuedRequest",
    "RequestQueue",
]
