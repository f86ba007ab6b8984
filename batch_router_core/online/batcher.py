"""``OnlineBatcher``: the online path end to end, on the provider plugins.

``await batcher.submit(prompt, task_type=..., provider=..., model=..., latency_budget_ms=...)``
returns a :class:`RequestResult`. Eligible requests wait in the queue and run grouped (the
provider's ``execute_now`` hook: one call for embeddings, concurrent calls otherwise); the others
run at once. Provider calls run on the batcher's own event loop thread, so callers on any loop (or
threads) share one set of SDK clients.

Costs come from the providers' price tables and the usage each answer reports
(:mod:`~batch_router_core.online.pricing`), with the calls each group really made; ``stats()``
reports the calls, the cost of everything answered and the saving of the batch tier.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import attrs

from batch_router_core.models.enums import ResultStatus
from batch_router_core.models.messages import InputMessage
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.requests import InputRequest
from batch_router_core.models.results import RequestResult
from batch_router_core.registry import BatchProviderRegistry
from batch_router_core.registry.handle import ProviderHandle

if TYPE_CHECKING:
    from batch_router_core.jobs.router import BatchRouter
from batch_router_core.online.config import BatchConfig
from batch_router_core.online.engine import BatchEngine, LatencyTracker, input_limit_from_registry
from batch_router_core.online.pricing import TablePricing
from batch_router_core.online.queue import QueuedRequest, RequestQueue
from batch_router_core.online.scheduler import BatchScheduler, CostModel

__all__ = ["OnlineBatcher"]


class _Rejected(Exception):
    """A request the group call rejected: the scheduler retries it alone."""

    def __init__(self, result: RequestResult) -> None:
        super().__init__(result.error.message if result.error else "rejected")
        self.result = result


class OnlineBatcher:
    """Micro-batching of live requests through the provider plugins, within latency budgets."""

    def __init__(
        self,
        registry: BatchProviderRegistry | None = None,
        *,
        config: BatchConfig | None = None,
        provider_options: Mapping[str, Mapping[str, Any]] | None = None,
        cost_model: CostModel | None = None,
        router: BatchRouter | None = None,
        batch_tier_after_ms: int = 3_600_000,
        batch_tier_window_s: float = 60.0,
        batch_tier_max_size: int = 10_000,
    ) -> None:
        self.registry = registry or BatchProviderRegistry()
        #: requests whose budget is at least this go to a provider batch job (the 50% tier)
        self.batch_tier_after_ms = batch_tier_after_ms
        self.batch_tier_window_s = batch_tier_window_s
        self.batch_tier_max_size = batch_tier_max_size
        self._router = router
        self._deferred: dict[
            tuple[str, str, bytes], list[tuple[InputRequest, float, Future[Any]]]
        ] = {}
        self._deferred_lock = threading.Lock()
        self.deferred = 0
        self.config = config or BatchConfig()
        self._options = {k: dict(v) for k, v in (provider_options or {}).items()}
        self._handles: dict[str, ProviderHandle] = {}
        self.latencies = LatencyTracker()
        self.engine = BatchEngine(
            self.config,
            input_limit=input_limit_from_registry(self.registry),
            latencies=self.latencies,
        )
        self.queue = RequestQueue()
        self.pricing = TablePricing(self.registry)
        self.scheduler = BatchScheduler(
            self.queue,
            self._run_group,
            self.config,
            individual=self._run_one,
            latencies=self.latencies,
            cost_model=cost_model,
            calls_of=self._calls_of,
            # A cost model given explicitly is used as given; else the price tables.
            pricing=None if cost_model is not None else self.pricing,
        )
        self._costs_lock = threading.Lock()
        #: USD of requests sent at once, and of the batch tier (at batch and at synchronous rates)
        self._costs = {
            "immediate_cost": 0.0,
            "batch_tier_cost": 0.0,
            "batch_tier_cost_if_sync": 0.0,
            "unpriced_requests": 0,
        }
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="online-provider-calls", daemon=True
        )
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

    def _call(
        self, provider: str, requests: Sequence[InputRequest], params: InferenceParams
    ) -> list[RequestResult]:
        coro = self._handle(provider).execute_now(requests, params)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _calls_of(self, batch: Sequence[QueuedRequest]) -> int:
        """API calls ``execute_now`` makes for this group: one where the provider declares it
        carries a whole group in one call in this mode (embeddings), else one per request."""
        provider, params, _ = batch[0].payload
        one_call = self.registry.info(provider).capabilities.one_call_modes
        return 1 if params.mode.value in one_call else len(batch)

    def _add_cost(self, key: str, amount: float | None, requests: int) -> None:
        with self._costs_lock:
            if amount is None:
                self._costs["unpriced_requests"] += requests
            else:
                self._costs[key] += amount

    def _run_group(self, batch: Sequence[QueuedRequest]) -> list[Any]:
        provider, params, _ = batch[0].payload
        results = self._call(provider, [r.payload[2] for r in batch], params)
        return [_Rejected(r) if r.status is ResultStatus.ERRORED else r for r in results]

    def _run_one(self, request: QueuedRequest) -> RequestResult:
        provider, params, input_request = request.payload
        return self._call(provider, [input_request], params)[0]

    async def submit(
        self,
        prompt: str,
        *,
        task_type: str,
        provider: str,
        model: str,
        latency_budget_ms: int,
        params: InferenceParams | None = None,
    ) -> RequestResult:
        """Answer one prompt within ``latency_budget_ms``, grouped with others when it can wait."""
        base = params or InferenceParams()
        eff = attrs.evolve(base, provider_id=provider, model_id=model)
        request_id = f"online-{next(self._ids)}"
        input_request = InputRequest(custom_id=request_id, messages=[InputMessage.user(prompt)])
        if latency_budget_ms >= self.batch_tier_after_ms:
            return await self._defer(provider, eff, input_request, latency_budget_ms)
        decision = self.engine.evaluate(prompt, task_type, model, latency_budget_ms)
        if not decision.eligible:
            self.immediate += 1
            future: Future[list[RequestResult]] = asyncio.run_coroutine_threadsafe(
                self._handle(provider).execute_now([input_request], eff), self._loop
            )
            answered = (await asyncio.wrap_future(future))[0]
            _, cost, _ = self.pricing.price(provider, model, [answered])
            self._add_cost("immediate_cost", cost, 1)
            return answered
        queued = QueuedRequest.create(
            request_id,
            prompt,
            model,
            f"{decision.batch_group}@{provider}",
            decision.max_wait_ms,
            task_type=task_type,
            latency_budget_ms=latency_budget_ms,
            payload=(provider, eff, input_request),
        )
        self.queue.enqueue(queued)
        result: RequestResult = await asyncio.wrap_future(queued.future)
        return result

    # -- the batch tier ------------------------------------------------------------------------

    @property
    def router(self) -> BatchRouter:
        """The router used for the batch tier (created on first use, sharing the registry)."""
        if self._router is None:
            from batch_router_core.jobs.router import BatchRouter

            self._router = BatchRouter(self.registry, provider_options=self._options)
        return self._router

    async def _defer(
        self, provider: str, params: InferenceParams, request: InputRequest, budget_ms: int
    ) -> RequestResult:
        """Collect the request into a provider batch job; resolve it when the job ends."""
        from batch_router_core.serialization import dumps

        key = (provider, str(params.model_id), dumps(params))
        future: Future[Any] = Future()
        deadline = time.monotonic() + budget_ms / 1000.0
        with self._deferred_lock:
            self.deferred += 1
            pending = self._deferred.setdefault(key, [])
            pending.append((request, deadline, future))
            first = len(pending) == 1
            full = len(pending) >= self.batch_tier_max_size
        if full:
            self._loop.call_soon_threadsafe(self._flush_deferred_soon, key)
        elif first:
            self._loop.call_soon_threadsafe(
                self._loop.call_later, self.batch_tier_window_s, self._flush_deferred_soon, key
            )
        result: RequestResult = await asyncio.wrap_future(future)
        return result

    def _flush_deferred_soon(self, key: tuple[str, str, bytes]) -> None:
        with self._deferred_lock:
            items = self._deferred.pop(key, [])
        if items:
            self._loop.create_task(self._run_deferred(key, items))

    async def _run_deferred(
        self, key: tuple[str, str, bytes], items: list[tuple[InputRequest, float, Future[Any]]]
    ) -> None:
        from batch_router_core.models.requests import InputBatch
        from batch_router_core.serialization import loads

        params = loads(InferenceParams, key[2])
        try:
            batch = InputBatch(requests=tuple(r for r, _, _ in items)).with_params(params)
            job_id = await self.router.submit_batch(batch)
            # Never past a request's budget: wait at most until the earliest deadline.
            timeout = max(0.0, min(d for _, d, _ in items) - time.monotonic())
            await self.router.wait_for_all(
                [job_id], timeout=timeout, poll_interval=min(60.0, max(0.05, timeout / 100))
            )
            by_id = {r.custom_id: f for r, _, f in items}
            got = []
            async for result in self.router.get_results(job_id):
                got.append(result)
                fut = by_id.pop(result.custom_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(result)
            for fut in by_id.values():
                if not fut.done():
                    fut.set_exception(
                        RuntimeError("the batch job returned no result for this request")
                    )
            _, cost, sync = self.pricing.price(key[0], key[1], got, batch_rates=True)
            self._add_cost("batch_tier_cost", cost, len(got))
            if cost is not None and sync is not None:
                self._add_cost("batch_tier_cost_if_sync", sync, 0)
        except Exception as exc:
            for _, _, fut in items:
                if not fut.done():
                    fut.set_exception(exc)

    def stats(self) -> dict[str, Any]:
        """The scheduler's counters (grouped requests: ``calls``, ``cost``...), requests sent at
        once (not eligible) and deferred to batch jobs, their costs, and the batch tier's saving
        (USD, from the price tables and the reported usage)."""
        with self._costs_lock:
            costs = dict(self._costs)
        grouped = self.scheduler.stats()
        unpriced = grouped.pop("unpriced_requests") + costs.pop("unpriced_requests")
        return {
            **grouped,
            "immediate_requests": self.immediate,
            "deferred_to_batch_tier": self.deferred,
            **costs,
            "batch_tier_savings": costs["batch_tier_cost_if_sync"] - costs["batch_tier_cost"],
            "unpriced_requests": unpriced,
        }
