"""Chaos: each hosted provider's emulator, in its own process, fails 10-30% of every call (429 with
retry-after, 500, 503, dropped connections, truncated bodies, on every route); real CLI runs, plain
and sharded, must each exit 0 on their own with exactly one provider job per shard and every
custom_id exactly once. ``benchmarks/chaos.py`` runs the same trials and prints the figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_router_core.testing.harness import chaos_runs


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
def test_runs_survive_faults_on_every_route(provider: str, tmp_path: Path) -> None:
    rate = {"openai": 0.3, "anthropic": 0.2, "google": 0.1}[provider]
    figures = chaos_runs(provider, tmp_path, runs=10, rate=rate, seed=7)
    assert figures.failures == []
    assert figures.runs == figures.clean_exits == 10
    assert figures.duplicates == 0 and figures.lost == 0
    assert figures.orphan_uploads == 0, "an unused input upload was left on the provider"
    assert figures.provider_jobs == figures.shards
    assert sum(figures.faults.values()) > 0, (
        "the emulator injected no fault: the test proves nothing"
    )
