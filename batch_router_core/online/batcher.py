"""``OnlineBatcher``: the online path end to end, on the provider plugins.

``await batcher.submit(prompt, task_type=..., provider=..., model=..., latency_budget_ms=...)`` returns
a :class:`RequestResult`. Eligible requests wait in the queue and run grouped (the provider's
``execute_now`` hook: one call for embeddings, concurrent calls otherwise); the others run at once.
Provider calls run on the batcher's own event loop thread, so callers on any loop (or threads) share
one set of SDK clients.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import attrs

from ..handle import ProviderHandle
from ..models.enums import ResultStatus
from ..models.messages import InputMessage
from ..models.params import InferenceParams
from ..models.requests import InputRequest
from ..models.results import RequestResult
from ..registry import BatchProviderRegistry
from .config import BatchConfig
from .engine import BatchEngine, LatencyTracker, input_limit_from_registry
from .queue import QueuedRequest, RequestQueue
from .scheduler import BatchScheduler, CostModel

__all__ = ["OnlineBatcher"]


class _Rejected(Exception):
    """A request the group call rejected: the scheduler retries it alone."""

    def __init__(self, result: RequestResult) -> None:
        super().__init__(result.error.message if result.error else "rejected")
        self.result = result


class OnlineBatcher:
    """Micro-batching of live requests through the provider plugins, within latency budgets."""

    def __init__(self, registry: BatchProviderRegistry | None = None, *, config: BatchConfig | None = None,
                 provider_options: Mapping[str, Mapping[str, Any]] | None = None,
                 cost_model: CostModel | None = None) -> None:
        self.registry = registry or BatchProviderRegistry()
        self.config = config or BatchConfig()
        self._options = {k: dict(v) for k, v in (provider_options or {}).items()}
        self._handles: dict[str, ProviderHandle] = {}
        self.latencies = LatencyTracker()
        self.engine = BatchEngine(self.config, input_limit=input_limit_from_registry(self.registry),
                                  latencies=self.latencies)
        self.queue = RequestQueue()
        self.scheduler = BatchScheduler(self.queue, self._run_group, self.config, individual=self._run_one,
                                        latencies=self.latencies, cost_model=cost_model)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="online-provider-calls", daemon=True)
        self._ids = itertools.count()
        self.immediate = 0

    def start(self) -> OnlineBatcher:
        """Start the provider-call loop and the scheduler."""
        if not self._thread.is_alive():
            self._thread.start()
        self.scheduler.start()
        return self

    def stop(self) -> None:
        """Stop the scheduler (running what waits) and the loop."""
        self.scheduler.stop(drain=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _handle(self, provider: str) -> ProviderHandle:
        if provider not in self._handles:
            self._handles[provider] = self.registry.get(provider, **self._options.get(provider, {}))
        return self._handles[provider]

    def _call(self, provider: str, requests: Sequence[InputRequest], params: InferenceParams) -> list[RequestResult]:
        coro = self._handle(provider).execute_now(requests, params)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _run_group(self, batch: Sequence[QueuedRequest]) -> list[Any]:
        provider, params, _ = batch[0].payload
        results = self._call(provider, [r.payload[2] for r in batch], params)
        return [_Rejected(r) if r.status is ResultStatus.ERRORED else r for r in results]

    def _run_one(self, request: QueuedRequest) -> RequestResult:
        provider, params, input_request = request.payload
        return self._call(provider, [input_request], params)[0]

    async def submit(self, prompt: str, *, task_type: str, provider: str, model: str, latency_budget_ms: int,
                     params: InferenceParams | None = None) -> RequestResult:
        """Answer one prompt within ``latency_budget_ms``, grouped with others when it can wait."""
        base = params or InferenceParams()
        eff = attrs.evolve(base, provider_id=provider, model_id=model)
        request_id = f"online-{next(self._ids)}"
        input_request = InputRequest(custom_id=request_id, messages=[InputMessage.user(prompt)])
        decision = self.engine.evaluate(prompt, task_type, model, latency_budget_ms)
        if not decision.eligible:
            self.immediate += 1
            future: Future[list[RequestResult]] = asyncio.run_coroutine_threadsafe(
                self._handle(provider).execute_now([input_request], eff), self._loop)
            return (await asyncio.wrap_future(future))[0]
        queued = QueuedRequest.create(request_id, prompt, model, f"{decision.batch_group}@{provider}",
                                      decision.max_wait_ms, task_type=task_type,
                                      latency_budget_ms=latency_budget_ms, payload=(provider, eff, input_request))
        self.queue.enqueue(queued)
        result: RequestResult = await asyncio.wrap_future(queued.future)
        return result

    def stats(self) -> dict[str, Any]:
        """The scheduler's counters plus requests sent at once (not eligible)."""
        return {**self.scheduler.stats(), "immediate_requests": self.immediate}
