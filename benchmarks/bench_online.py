"""Online micro-batching: enqueue latency, scheduler iteration time at 10,000 queued requests,
throughput, deadline misses in a 10,000-request mixed run, and cost per request batched vs alone.

Executions are in-process stand-ins (a few microseconds of work per call, plus a fixed per-call
delay) so that the figures are the batching machinery's own, not a provider's. Run:

    python benchmarks/bench_online.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

from batch_router_core.online import (  # noqa: E402
    BatchConfig,
    BatchEngine,
    BatchScheduler,
    QueuedRequest,
    RequestQueue,
)


def group_call(batch: Sequence[QueuedRequest]) -> list[Any]:
    time.sleep(0.002)  # one API round trip for the whole group
    return [f"ok:{r.request_id}" for r in batch]


def single_call(r: QueuedRequest) -> Any:
    time.sleep(0.002)
    return f"ok:{r.request_id}"


def main() -> None:
    print(f"# online micro-batching - {machine()}")
    cfg = BatchConfig(max_batch_size=10, max_wait_ms=500, tick_ms=5)
    engine = BatchEngine(cfg)

    # Enqueue latency (engine decision + enqueue), 20,000 requests over 20 groups.
    q = RequestQueue()
    lat = []
    for i in range(20_000):
        t0 = time.perf_counter()
        d = engine.evaluate(f"prompt {i}", "faq", f"m{i % 20}", 2000)
        q.enqueue(
            QueuedRequest.create(
                f"r{i}", f"prompt {i}", f"m{i % 20}", d.batch_group or "x", d.max_wait_ms
            )
        )
        lat.append((time.perf_counter() - t0) * 1e6)
    lat.sort()
    print(
        f"enqueue (evaluate + enqueue): p50 {lat[len(lat) // 2]:.1f} us, p99 "
        f"{lat[int(len(lat) * 0.99)]:.1f} us "
        f"(seed target 1 ms)"
    )

    # Scheduler iteration with 10,000 queued requests in 1,000 groups, none due (the steady state).
    q = RequestQueue()
    for i in range(10_000):
        q.enqueue(QueuedRequest.create(f"r{i}", "p", "m", f"g{i % 1000}", 60_000))
    s = BatchScheduler(
        q, group_call, BatchConfig(max_batch_size=50, max_wait_ms=60_000), individual=single_call
    )
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        s.tick()
        times.append((time.perf_counter() - t0) * 1000)
    s.stop(drain=False)
    print(
        f"scheduler iteration at 10,000 queued (1,000 groups): median "
        f"{statistics.median(times):.2f} ms, "
        f"max {max(times):.2f} ms (seed target 5 ms)"
    )

    # Mixed run: 10,000 requests, budgets 300-3000 ms, arriving over ~2 s; deadline misses must be
    # 0.
    q = RequestQueue()
    s = BatchScheduler(q, group_call, cfg, individual=single_call, workers=16)
    s.start()
    reqs = []
    t0 = time.perf_counter()
    for i in range(10_000):
        budget = (300, 800, 3000)[i % 3]
        d = engine.evaluate(
            f"prompt {i}", ("faq", "summarization", "translation")[i % 3], f"m{i % 4}", budget
        )
        r = QueuedRequest.create(
            f"r{i}", f"prompt {i}", f"m{i % 4}", d.batch_group or "x", d.max_wait_ms
        )
        q.enqueue(r)
        reqs.append(r)
        if i % 50 == 0:
            time.sleep(0.01)
    for r in reqs:
        r.future.result(30)
    elapsed = time.perf_counter() - t0
    s.stop()
    st = s.stats()
    print(
        f"mixed run: 10,000 requests in {elapsed:.2f} s = {10_000 / elapsed:,.0f} requests/s; "
        f"deadline misses {st['deadline_misses']}; batches {st['batches']}, avg size "
        f"{st['avg_batch_size']:.1f}, "
        f"avg wait {st['avg_wait_ms']:.0f} ms, max wait {st['wait_ms_max']:.0f} ms"
    )
    per_batched = st["cost"] / 10_000
    per_alone = st["cost_if_individual"] / 10_000
    print(
        f"cost per request: batched ${per_batched:.7f} vs individual ${per_alone:.7f} "
        f"({st['savings_ratio']:.0%} lower; seed acceptance > 30%), with the default CostModel "
        f"(per-call ${s.cost_model.per_call}, ${s.cost_model.per_1k_input_tokens}/1k input tokens)"
    )


if __name__ == "__main__":
    main()
