"""A fleet on one machine, for tests and for the figures in the reliability docs.

Producers (real processes) record jobs on a shared ledger without sending them; workers (real
``batch-router worker`` processes) work them against the hosted providers' emulators, each in its
own process, while a chaos loop SIGKILLs a random worker now and then and starts a new one. At the
end the books are checked from the outside: every provider job was created exactly once on its
emulator (the emulator's own count), every ``custom_id`` is in its job's results exactly once, and
no job is lost.

    figures = run_fleet("postgresql://...", Path("/tmp/fleet"), jobs=54)
    print(figures.summary())
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import attrs

from batch_router_core.testing.harness import CLI, EmulatorProcess, cli_env

__all__ = ["FleetFigures", "run_fleet"]

#: Model and settings of each hosted provider's emulator for a chat job.
_MODELS = {
    "openai": ("gpt-4o-mini", None),
    "anthropic": ("claude-sonnet-4-5", 64),
    "google": ("gemini-2.5-flash", None),
}

# A producer: records its share of the jobs through the library (one process, many jobs).
_PRODUCER = """
import asyncio, json, sys
from batch_router_core import InferenceParams
from batch_router_core.formats.unified import read_input
from batch_router_core.jobs.router import BatchRouter

plan = json.loads(sys.argv[1])
router = BatchRouter(provider_options=plan["options"])
for path, provider, model, max_tokens in plan["jobs"]:
    params = InferenceParams(provider_id=provider, model_id=model, max_output_tokens=max_tokens)
    job_id = asyncio.run(router.submit_requests(read_input(path), params, send=False))
    print(job_id, flush=True)
"""


@attrs.define
class FleetFigures:
    """What a fleet run did and what the books say afterwards."""

    jobs: int = 0
    provider_jobs: int = 0
    requests: int = 0
    workers: int = 0
    producers: int = 0
    kills: int = 0
    #: kills of a worker that held claims at that moment (the others were between jobs)
    kills_holding: int = 0
    #: seconds from each SIGKILL until none of the killed worker's claims was left unheld
    takeover_s: list[float] = attrs.field(factory=list)
    #: provider jobs created on the emulators beyond one per provider job in the ledger
    duplicate_creates: int = 0
    #: custom_ids in results more than once
    duplicate_results: int = 0
    #: custom_ids recorded but missing from the results
    lost: int = 0
    #: provider jobs that did not end fetched (parked for attention, refused...), by state
    not_fetched: dict[str, int] = attrs.field(factory=dict)
    #: creations counted by each emulator
    created: dict[str, int] = attrs.field(factory=dict)
    workers_exit_codes: list[int] = attrs.field(factory=list)
    #: claims the workers stopped with SIGTERM still hold (they give theirs back)
    claims_left: int = 0
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing duplicated, nothing lost, every job fetched, every worker stopped cleanly."""
        return (
            self.duplicate_creates == 0
            and self.duplicate_results == 0
            and self.lost == 0
            and not self.not_fetched
            and all(code == 0 for code in self.workers_exit_codes)
            and self.claims_left == 0
        )

    def summary(self) -> str:
        """The figures as a few lines of text."""
        takeover = (
            f"median {sorted(self.takeover_s)[len(self.takeover_s) // 2]:.2f}s, "
            f"max {max(self.takeover_s):.2f}s"
            if self.takeover_s
            else "none measured"
        )
        return "\n".join(
            [
                f"jobs {self.jobs} ({self.provider_jobs} provider jobs, {self.requests} requests) "
                f"from {self.producers} producers, {self.workers} workers, {self.wall_s:.1f}s",
                f"workers killed (SIGKILL) {self.kills}, {self.kills_holding} of them holding "
                f"claims; time until another worker held those claims: {takeover}",
                f"created per emulator {self.created}; duplicate creates "
                f"{self.duplicate_creates}; duplicate results {self.duplicate_results}; lost "
                f"{self.lost}; not fetched {self.not_fetched or 0}",
                f"workers stopped with SIGTERM, exit codes {self.workers_exit_codes}, claims left "
                f"{self.claims_left}",
            ]
        )


def run_fleet(
    ledger_url: str,
    workdir: Path,
    *,
    jobs: int = 54,
    requests_per_job: int = 5,
    workers: int = 3,
    producers: int = 2,
    kill_for_s: float = 20.0,
    kill_every_s: tuple[float, float] = (0.5, 1.5),
    seed: int = 7,
    timeout_s: float = 240.0,
    speed: float = 2.0,
) -> FleetFigures:
    """Run the fleet scenario (see the module) and return its figures. ``speed`` is the
    emulators' clock (2.0: a five-request job takes a few seconds, so kills land mid-job)."""
    from batch_router_core.jobs.ledgers import open_ledger
    from batch_router_core.registry import BatchProviderRegistry

    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    figures = FleetFigures(jobs=jobs, workers=workers, producers=producers)
    start = time.monotonic()
    registry = BatchProviderRegistry()
    with ExitStack() as stack:
        emulators = {p: stack.enter_context(EmulatorProcess(p, speed=speed)) for p in _MODELS}
        env = cli_env(BATCH_ROUTER_STATE_DIR=str(workdir / "state"), BATCH_ROUTER_LEDGER=ledger_url)
        options: dict[str, dict[str, str]] = {}
        for provider, emulator in emulators.items():
            by_option = {o: e for e, o in registry.info(provider).env_options.items()}
            for pair in emulator.options:
                key, _, value = pair.partition("=")
                if key == "api_key":
                    env[by_option["api_key"]] = value  # keys in the environment, never stored
                else:
                    options.setdefault(provider, {})[key] = value
        plan: list[list[Any]] = []
        expected: dict[str, list[str]] = {}
        for k in range(jobs):
            provider = list(_MODELS)[k % len(_MODELS)]
            model, max_tokens = _MODELS[provider]
            path = workdir / f"in-{k}.jsonl"
            ids = [f"j{k}-r{i}" for i in range(requests_per_job)]
            path.write_text(
                "".join(
                    json.dumps({"custom_id": c, "messages": [{"role": "user", "content": c}]})
                    + "\n"
                    for c in ids
                )
            )
            plan.append([str(path), provider, model, max_tokens])
            expected[str(path)] = ids
        figures.requests = jobs * requests_per_job

        fleet: list[subprocess.Popen[bytes]] = []

        def start_worker() -> subprocess.Popen[bytes]:
            proc = subprocess.Popen(
                [*CLI, "worker", "--poll-interval", "0.2", "--json"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            fleet.append(proc)
            return proc

        running = [start_worker() for _ in range(workers)]
        made = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _PRODUCER,
                    json.dumps({"options": options, "jobs": plan[n::producers]}),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for n in range(producers)
        ]
        ledger = stack.enter_context(closing(open_ledger(ledger_url)))
        pending: list[tuple[str, float]] = []  # (dead owner's pid marker, when it was killed)
        kill_until = time.monotonic() + kill_for_s
        next_kill = time.monotonic() + rng.uniform(*kill_every_s)
        deadline = time.monotonic() + timeout_s
        produced = False
        while True:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"the fleet did not finish in {timeout_s}s: {figures}")
            if now < kill_until and now >= next_kill:
                victim = running.pop(rng.randrange(len(running)))
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                figures.kills += 1
                marker = f"/{victim.pid}/"
                if any(j.owner and marker in j.owner for j in ledger.unfinished()):
                    figures.kills_holding += 1
                    pending.append((marker, time.monotonic()))
                running.append(start_worker())
                next_kill = now + rng.uniform(*kill_every_s)
            pending = _taken_over(ledger, pending, figures)
            if not produced and all(p.poll() is not None for p in made):
                for p in made:
                    out, err = p.communicate()
                    if p.returncode != 0:
                        raise RuntimeError(f"a producer failed: {err.decode()[-2000:]}")
                produced = True
            if produced and now >= kill_until and not ledger.unfinished():
                break
            time.sleep(0.1)
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        figures.workers_exit_codes = [proc.wait(timeout=60) for proc in running]
        # Only the stopped workers' own claims count: a worker SIGKILLed just after a job ended
        # leaves its claim on that finished job until the lease runs out (nobody needs it).
        claims = ledger.metrics(time.time())["claims"]
        stopped = [f"/{proc.pid}/" for proc in running]
        figures.claims_left = sum(
            int(c["held"]) for owner, c in claims.items() if any(m in owner for m in stopped)
        )
        figures.wall_s = time.monotonic() - start
        _check_books(ledger, ledger_url, emulators, expected, figures)
        for proc in fleet:
            if proc.poll() is None:
                proc.kill()
    return figures


def _taken_over(
    ledger: Any, pending: list[tuple[str, float]], figures: FleetFigures
) -> list[tuple[str, float]]:
    """Record the takeover time of each killed worker whose claims are all held by others (or
    finished) now."""
    owners = {j.owner for j in ledger.unfinished() if j.owner}
    still = []
    for marker, killed_at in pending:
        if any(marker in owner for owner in owners):
            still.append((marker, killed_at))
        else:
            figures.takeover_s.append(round(time.monotonic() - killed_at, 3))
    return still


def _check_books(
    ledger: Any,
    ledger_url: str,
    emulators: dict[str, EmulatorProcess],
    expected: dict[str, list[str]],
    figures: FleetFigures,
) -> None:
    """Count creations on the emulators and results per custom_id, from the outside."""
    from batch_router_core.jobs.router import BatchRouter

    logical = ledger.logical_jobs()
    per_provider: Counter[str] = Counter()
    states: Counter[str] = Counter()
    for job in logical:
        for pj in ledger.jobs_of(job.id):
            per_provider[pj.provider] += 1
            states[pj.state.value] += 1
    figures.provider_jobs = sum(per_provider.values())
    figures.not_fetched = {s: n for s, n in states.items() if s != "fetched"}
    for provider, emulator in emulators.items():
        created = int(emulator.stats()["batches"])
        figures.created[provider] = created
        figures.duplicate_creates += max(0, created - per_provider[provider])
    router = BatchRouter(ledger=ledger_url)

    async def collect() -> Counter[str]:
        seen: Counter[str] = Counter()
        for job in logical:
            async for result in router.get_results(job.id):
                seen[result.custom_id] += 1
        return seen

    seen = asyncio.run(collect()) if not figures.not_fetched else Counter()
    wanted = [c for ids in expected.values() for c in ids]
    figures.duplicate_results = sum(n - 1 for n in seen.values() if n > 1)
    figures.lost = sum(1 for c in wanted if c not in seen)  # a job never recorded loses all


if __name__ == "__main__":  # pragma: no cover - python -m batch_router_core.testing.fleet URL DIR
    result = run_fleet(sys.argv[1], Path(sys.argv[2]))
    print(result.summary())
    sys.exit(0 if result.ok else 1)
