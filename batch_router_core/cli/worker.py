"""``batch-router worker`` and ``batch-router metrics``: a fleet of processes working one ledger.

Producers record jobs (``submit --record-only``, or any ``submit``/``run``); workers, on one machine
or many, claim the ledger's unfinished provider jobs and create, poll and download them. With a
PostgreSQL ledger (``--ledger postgresql://...``) the fleet spans machines; the generated files
(the state directory) must then be on storage every worker can read.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import click
import orjson

from batch_router_core.cli._shared import (
    JSON_FLAG,
    OPTION,
    Duration,
    ledger_exists,
    ledger_label,
    make_router,
    reported_errors,
    say,
)
from batch_router_core.cli.app import main

__all__ = ["metrics", "worker"]

EXAMPLES_WORKER = """
\b
Examples:
  export BATCH_ROUTER_LEDGER=postgresql://br@db.internal/batch_router
  batch-router worker                      # on each worker host (systemd, a container...)
  batch-router submit in.jsonl -p openai -m gpt-4o-mini --record-only   # on any producer
  batch-router worker --until-idle         # drain what is recorded, then exit (cron, CI)
"""


@main.command(epilog=EXAMPLES_WORKER)
@OPTION
@click.option(
    "--poll-interval",
    type=Duration(),
    default="10s",
    show_default=True,
    help="Time between rounds (each round creates, polls or downloads every job it can claim).",
)
@click.option(
    "--hold",
    "hold_s",
    type=Duration(),
    default="5m",
    show_default=True,
    help="How long a job this worker cannot work on (no key, plugin missing) is left alone.",
)
@click.option("--until-idle", is_flag=True, help="Exit once no unfinished job is left.")
@JSON_FLAG
def worker(
    options: tuple[str, ...], poll_interval: float, hold_s: float, until_idle: bool, as_json: bool
) -> None:
    """Work the ledger's jobs until stopped: claim, create, poll, download, record.

    Any number of workers may share a ledger: every provider call for a job is made by the one
    worker holding its claim, renewed by a heartbeat; a worker that dies has its claims taken over
    when their lease runs out (at once on the same host), and a create it may have made is looked
    up at the provider before anything is sent again. SIGTERM or Ctrl-C ends the current round,
    gives the claims back and exits 0. Each round is logged (--json: one object per round).
    """
    with reported_errors(as_json):
        router = make_router(options, interval=poll_interval)
        stop = asyncio.Event()
        shown: list[tuple[int, int, int]] = []

        def report(round_: Any) -> None:
            counts = (round_.unfinished, round_.held, round_.skipped)
            if as_json:
                click.echo(orjson.dumps({"worker": router.owner, **_fields(round_)}).decode())
            elif not shown or shown[-1] != counts:
                say(
                    f"round {round_.number}: {round_.unfinished} unfinished in the ledger, "
                    f"{round_.held} held by this worker"
                    + (f", {round_.skipped} left for later" if round_.skipped else "")
                )
            shown[:] = [counts]

        async def go() -> Any:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            say(f"worker {router.owner} on {ledger_label()}", quiet=as_json)
            return await router.work(
                stop=stop,
                poll_interval=poll_interval,
                until_idle=until_idle,
                hold_s=hold_s,
                on_round=report,
            )

        last = asyncio.run(go())
        say(
            f"worker {router.owner} stopped after {last.number} rounds; claims given back",
            quiet=as_json,
        )


def _fields(round_: Any) -> dict[str, Any]:
    return {
        "round": round_.number,
        "unfinished": round_.unfinished,
        "held": round_.held,
        "skipped": round_.skipped,
    }


@main.command()
@JSON_FLAG
def metrics(as_json: bool) -> None:
    """What the ledger holds now: provider jobs by state, the oldest unfinished one, and the
    claims each worker holds (with how long their leases have left)."""
    with reported_errors(as_json):
        if not ledger_exists():
            data: dict[str, Any] = {"jobs_by_state": {}, "oldest_unfinished": None, "claims": {}}
        else:
            from batch_router_core.cli._shared import state_dir
            from batch_router_core.jobs.ledgers import default_ledger_location, open_ledger

            ledger = open_ledger(default_ledger_location(state_dir()))
            data = ledger.metrics(time.time())
            ledger.close()
        data["ledger"] = ledger_label()
        if as_json:
            click.echo(orjson.dumps(data).decode())
            return
        click.echo(f"ledger {data['ledger']}")
        states = data["jobs_by_state"]
        click.echo(
            "provider jobs: " + (", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none")
        )
        oldest = data["oldest_unfinished"]
        if oldest:
            click.echo(
                f"oldest unfinished: {oldest['local_id']} ({oldest['state']}), "
                f"{oldest['age_s']:.0f}s old"
            )
        for owner, claim in sorted(data["claims"].items()):
            click.echo(
                f"claims of {owner}: {claim['held']} (lease {claim['lease_left_s']:.0f}s left)"
            )
