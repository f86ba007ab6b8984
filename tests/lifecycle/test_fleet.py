"""A fleet on a real PostgreSQL ledger: two producers record jobs, three worker processes work
them on the three hosted emulators while workers are SIGKILLed at random moments and restarted.
Afterwards every provider job was created exactly once (the emulators' own counts) and every
custom_id is in the results exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_router_core.testing.fleet import run_fleet


@pytest.mark.slow
def test_a_fleet_with_killed_workers_creates_every_job_once_and_loses_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    figures = run_fleet(postgres_url, tmp_path, jobs=54, kill_for_s=15.0)
    print(figures.summary())
    assert figures.kills >= 8, figures.summary()
    assert figures.provider_jobs == 54 and sum(figures.created.values()) == 54, figures.summary()
    assert figures.ok, figures.summary()
