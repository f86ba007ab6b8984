"""``BatchScheduler``: watches the queue, forms groups, executes them, resolves each request's
future.

Flush rules, checked every ``tick_ms``: a group reaching ``max_batch_size``; a group whose earliest
deadline falls before the next tick (so no request waits past its deadline); a group of at least
``min_batch_size`` whose oldest request has waited 70% of ``max_wait_ms``.

Error handling: a failed group call falls back to one call per request, run in parallel (a
fallback that ends after its request's latency budget counts as a deadline miss); a request the
group call reports as failed is retried alone while the others resolve normally; if a scheduler
iteration crashes, the queue is drained through individual calls and the loop goes on (counted in
``stats()["restarts"]``).

Cost: each executed group is priced by ``pricing`` (the online batcher's prices them from the
providers' price tables and the usage the answers report) or else by a :class:`CostModel`, with
the number of API calls the group really made (``calls_of``: one for a provider that takes many
inputs at once, one per request otherwise), and logged as an ``online_group`` event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from batch_router_core.logging import get_logger
from batch_router_core.online.config import BatchConfig
from batch_router_core.online.engine import LatencyTracker
from batch_router_core.online.queue import QueuedRequest, RequestQueue

__all__ = ["BatchScheduler", "CostModel"]

#: Executes a group: returns one item per request, in order; an item that is an Exception is that
#: request's failure (it is retried alone).
GroupExecutor = Callable[[Sequence[QueuedRequest]], Sequence[Any]]
#: Executes one request alone.
SingleExecutor = Callable[[QueuedRequest], Any]
#: How many API calls executing a group makes.
CallCounter = Callable[[Sequence[QueuedRequest]], int]


@attrs.frozen
class GroupCost:
    """What one execution cost: tokens, USD, and USD had each request been its own call (None
    where no price is known)."""

    tokens: int
    cost: float | None
    cost_if_individual: float | None


#: Prices an execution: ``(requests, their results, API calls made) -> GroupCost``.
Pricing = Callable[[Sequence[QueuedRequest], Sequence[Any], int], GroupCost]


@attrs.frozen(kw_only=True)
class CostModel:
    """What a call costs: a fixed part per API call plus per-token prices (USD)."""

    per_call: float = 0.0002
    per_1k_input_tokens: float = 0.00015
    chars_per_token: float = 4.0

    def call_cost(self, prompts: Sequence[str], calls: int = 1) -> float:
        """The cost of carrying these prompts in ``calls`` API calls."""
        tokens = sum(len(p) for p in prompts) / self.chars_per_token
        return self.per_call * calls + tokens / 1000.0 * self.per_1k_input_tokens

    def price(
        self, batch: Sequence[QueuedRequest], results: Sequence[Any], calls: int
    ) -> GroupCost:
        """A :data:`Pricing` from this model (prompt lengths; the results are not read)."""
        prompts = [r.prompt for r in batch]
        return GroupCost(
            tokens=int(sum(len(p) for p in prompts) / self.chars_per_token),
            cost=self.call_cost(prompts, calls),
            cost_if_individual=sum(self.call_cost([p]) for p in prompts),
        )


class BatchScheduler:
    """Runs the flush loop in a background thread and executions in a small thread pool.

    :param executor: runs a group in one go (one API call where the provider takes many inputs).
    :param individual: runs one request (defaults to ``executor([request])[0]``).
    :param calls_of: how many API calls ``executor`` makes for a group (default: one).
    :param pricing: prices each execution (default: ``cost_model``).
    """

    def __init__(
        self,
        queue: RequestQueue,
        executor: GroupExecutor,
        config: BatchConfig | None = None,
        *,
        individual: SingleExecutor | None = None,
        latencies: LatencyTracker | None = None,
        cost_model: CostModel | None = None,
        workers: int = 8,
        calls_of: CallCounter | None = None,
        pricing: Pricing | None = None,
    ) -> None:
        self.queue = queue
        self.executor = executor
        self.config = config or BatchConfig()
        self.individual = individual or (lambda r: self.executor([r])[0])
        self.latencies = latencies or LatencyTracker()
        self.cost_model = cost_model or CostModel()
        self.calls_of: CallCounter = calls_of or (lambda batch: 1)
        self.pricing: Pricing = pricing or self.cost_model.price
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch-exec")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stats: dict[str, Any] = {
            "batches": 0,
            "batched_requests": 0,
            "individual_requests": 0,
            "fallbacks": 0,
            "isolated_retries": 0,
            "deadline_misses": 0,
            "restarts": 0,
            "wait_ms_total": 0.0,
            "wait_ms_max": 0.0,
            "tokens": 0,
            "calls": 0,
            "unpriced_requests": 0,
            "cost": 0.0,
            "cost_if_individual": 0.0,
            "iterations": 0,
            "iteration_ms_max": 0.0,
        }
        self._log = get_logger("online.scheduler")
        #: test hook: raise this from the next loop iteration (simulates a scheduler crash)
        self.crash_next: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the flush loop (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="batch-scheduler", daemon=True)
        self._thread.start()

    def stop(self, *, drain: bool = True, timeout: float = 10.0) -> None:
        """Stop the loop; with ``drain`` every waiting request is still executed (grouped)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if drain:
            for group in [g for g, *_ in self.queue.snapshot()]:
                self.flush_group(group)
        self._pool.shutdown(wait=True)

    @property
    def running(self) -> bool:
        """True while the loop runs."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        tick = self.config.tick_ms / 1000.0
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                if self.crash_next is not None:
                    exc, self.crash_next = self.crash_next, None
                    raise exc
                self.tick()
            except Exception as exc:  # a crashed iteration must not strand queued requests
                with self._lock:
                    self._stats["restarts"] += 1
                self._log.error("scheduler_crashed", error=repr(exc))
                for request in self.queue.drain():
                    self._pool.submit(self._run_alone, request)
            elapsed = time.perf_counter() - started
            with self._lock:
                self._stats["iterations"] += 1
                self._stats["iteration_ms_max"] = max(
                    self._stats["iteration_ms_max"], elapsed * 1000
                )
            self._stop.wait(max(0.0, tick - elapsed))

    # -- flushing --------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> int:
        """One pass of the flush rules; returns how many groups were dispatched."""
        cfg = self.config
        t = time.monotonic() if now is None else now
        horizon = t + cfg.tick_ms / 1000.0  # a deadline before the next look is due now
        near = cfg.max_wait_ms * 0.7 / 1000.0
        dispatched = 0
        for group, size, oldest, earliest in self.queue.snapshot():
            if (
                size >= cfg.max_batch_size
                or earliest <= horizon
                or (size >= cfg.min_batch_size and t - oldest >= near)
            ):
                self.flush_group(group, now=t)
                dispatched += 1
        return dispatched

    def flush_group(self, group: str, *, now: float | None = None) -> None:
        """Dispatch up to ``max_batch_size`` requests of ``group`` now (repeat for larger
        groups)."""
        t = time.monotonic() if now is None else now
        while True:
            batch = self.queue.get_batch(group, self.config.max_batch_size)
            if not batch:
                return
            with self._lock:
                for r in batch:
                    waited = (t - r.enqueued_at) * 1000
                    self._stats["wait_ms_total"] += waited
                    self._stats["wait_ms_max"] = max(self._stats["wait_ms_max"], waited)
                    if t > r.deadline + self.config.tick_ms / 1000.0:
                        self._stats["deadline_misses"] += 1
            self._pool.submit(self._execute, group, batch)
            if self.queue.size(group) < self.config.min_batch_size:
                return

    # -- execution -------------------------------------------------------------------------------

    def _execute(self, group: str, batch: list[QueuedRequest]) -> None:
        started = time.perf_counter()
        try:
            results = list(self.executor(batch))
            if len(results) != len(batch):
                raise RuntimeError(
                    f"executor returned {len(results)} results for {len(batch)} requests"
                )
        except Exception as exc:
            self._log.warning(
                "group_failed_falling_back", group=group, size=len(batch), error=repr(exc)
            )
            with self._lock:
                self._stats["fallbacks"] += 1
            # In parallel: each request still has what is left of its own budget.
            for request in batch:
                self._pool.submit(self._run_alone, request)
            return
        self.latencies.observe(group, (time.perf_counter() - started) * 1000)
        calls = self.calls_of(batch)
        priced = self._account(batch, results, calls)
        with self._lock:
            self._stats["batches"] += 1
            self._stats["batched_requests"] += len(batch)
        self._log.info(
            "online_group",
            group=group,
            requests=len(batch),
            calls=calls,
            tokens=priced.tokens,
            cost=priced.cost,
            savings=None
            if priced.cost is None or priced.cost_if_individual is None
            else priced.cost_if_individual - priced.cost,
        )
        for request, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                with self._lock:
                    self._stats["isolated_retries"] += 1
                self._run_alone(request)  # one bad request never spoils the others
            elif not request.future.done():
                request.future.set_result(result)

    def _account(
        self, batch: Sequence[QueuedRequest], results: Sequence[Any], calls: int
    ) -> GroupCost:
        """Add one execution's calls, tokens and cost to the counters."""
        priced = self.pricing(batch, results, calls)
        with self._lock:
            s = self._stats
            s["calls"] += calls
            s["tokens"] += priced.tokens
            if priced.cost is None or priced.cost_if_individual is None:
                s["unpriced_requests"] += len(batch)
            else:
                s["cost"] += priced.cost
                s["cost_if_individual"] += priced.cost_if_individual
        return priced

    def _run_alone(self, request: QueuedRequest) -> None:
        with self._lock:
            self._stats["individual_requests"] += 1
        try:
            result = self.individual(request)
        except Exception as exc:
            result = exc
        self._account([request], [result], 1)
        # Answered alone (a fallback, an isolated retry): late if past the request's latency
        # budget, or, for a request without one, past its deadline to be sent.
        budget_s = (
            request.latency_budget_ms / 1000.0
            if request.latency_budget_ms
            else request.deadline - request.enqueued_at + self.config.tick_ms / 1000.0
        )
        if time.monotonic() > request.enqueued_at + budget_s:
            with self._lock:
                self._stats["deadline_misses"] += 1
        if request.future.done():
            return
        if isinstance(result, BaseException):
            request.future.set_exception(result)
        else:
            request.future.set_result(result)

    def stats(self) -> dict[str, Any]:
        """Counters: batches, sizes, waits, deadline misses, tokens, cost and savings."""
        with self._lock:
            s = dict(self._stats)
        waited = s["batched_requests"] + 0
        s["avg_batch_size"] = s["batched_requests"] / s["batches"] if s["batches"] else 0.0
        s["avg_wait_ms"] = s.pop("wait_ms_total") / waited if waited else 0.0
        s["savings"] = s["cost_if_individual"] - s["cost"]
        s["savings_ratio"] = (
            s["savings"] / s["cost_if_individual"] if s["cost_if_individual"] else 0.0
        )
        s["queued"] = self.queue.size()
        return s
