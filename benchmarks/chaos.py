"""Chaos trials: real CLI runs against each hosted provider's emulator failing 10-30% of all calls.

Each emulator runs in its own process with ``batch-router emulate PROVIDER --chaos RATE`` (429 with
retry-after, 500, 503, dropped connections and truncated bodies on every route); each run is
``batch-router run`` in a fresh directory (every other one sharded, 4 requests per shard). Prints,
per provider and in total: runs, clean exits, faults injected by kind, retries the runs reported,
provider jobs created against shards recorded, duplicates and lost results (both must be 0).

    python benchmarks/chaos.py [--runs-per-provider 10] [--seed 7]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from batch_router_core.testing.harness import ChaosFigures, chaos_runs

RATES = {"openai": 0.3, "anthropic": 0.2, "google": 0.1}


def _line(name: str, f: ChaosFigures, seconds: float) -> str:
    faults = sum(f.faults.values())
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(f.faults.items()))
    return (
        f"{name:<10} runs {f.runs:>3}  exit-0 {f.clean_exits:>3}  faults {faults:>4} ({kinds})  "
        f"retries {f.retries:>4}  jobs {f.provider_jobs:>3}/{f.shards:<3} shards  "
        f"duplicates {f.duplicates}  lost {f.lost}  orphan uploads {f.orphan_uploads}  "
        f"{seconds:.1f}s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs-per-provider", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    total = ChaosFigures()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for provider, rate in RATES.items():
            t0 = time.monotonic()
            figures = chaos_runs(
                provider, Path(tmp), runs=args.runs_per_provider, rate=rate, seed=args.seed
            )
            print(_line(f"{provider}@{rate:.0%}", figures, time.monotonic() - t0), flush=True)
            total.add(figures)
    print(_line("total", total, time.monotonic() - started))
    for failure in total.failures:
        print("FAILURE:", failure)
    ok = (
        not total.failures
        and total.duplicates == total.lost == total.orphan_uploads == 0
        and total.runs == total.clean_exits
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
