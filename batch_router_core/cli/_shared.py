"""What every command shares: exit codes, error reporting, running the router, progress, output."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from batch_router_core.errors import (
    BatchRouterError,
    BatchTimeoutError,
    ConfigError,
    FileOperationError,
    PluginLoadError,
    ProviderError,
    ProviderNotFoundError,
    ValidationError,
)
from batch_router_core.files import disk_error_message

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INVALID, EXIT_PROVIDER, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5
EXIT_ATTENTION, EXIT_LEDGER, EXIT_SIGINT, EXIT_SIGTERM = 6, 7, 130, 143


T = TypeVar("T")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every claim is given back on the way out."""


def exit_code(exc: BaseException) -> int:
    from batch_router_core.jobs.ledger import LedgerError
    from batch_router_core.jobs.router import JobNeedsAttentionError

    if isinstance(exc, JobNeedsAttentionError):
        return EXIT_ATTENTION
    if isinstance(exc, (LedgerError, FileOperationError)):
        return EXIT_LEDGER
    if isinstance(exc, (ValidationError, ConfigError)):
        return EXIT_INVALID
    if isinstance(exc, (ProviderError, ProviderNotFoundError, PluginLoadError)):
        return EXIT_PROVIDER
    if isinstance(exc, BatchTimeoutError):
        return EXIT_TIMEOUT
    return EXIT_ERROR


@contextmanager
def reported_errors(as_json: bool) -> Iterator[None]:
    """Turn library errors into a one-line message (or JSON) and a documented exit code."""
    try:
        try:
            yield
        except OSError as exc:  # the local disk (generated files), never a provider: name the file
            raise FileOperationError(disk_error_message(exc), path=exc.filename) from exc
    except BatchRouterError as exc:
        if as_json:
            payload: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
            if isinstance(exc, ValidationError):
                payload["issues"] = [i.as_dict() for i in exc.issues]
            click.echo(orjson.dumps(payload).decode())
        else:
            click.echo(f"error: {exc}", err=True)
        sys.exit(exit_code(exc))


def run_async(
    coro: Coroutine[Any, Any, T], router: Any = None, *, job_ids: list[str] | None = None
) -> T:
    """Run a coroutine; Ctrl-C or SIGTERM stop it cleanly (claims given back, partial downloads
    removed) and print how to re-attach to the job."""
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt as exc:
        if router is not None:
            router.release_claims()  # already done unless the signal cut that short; idempotent
        ids = job_ids or (list(router.recorded_job_ids) if router is not None else [])
        how = (
            f"re-attach with `batch-router wait {' '.join(ids)}` (or `batch-router resume`)"
            if ids
            else "nothing was recorded"
            if router is not None and not router.ledger.unfinished()
            else "continue with `batch-router resume`"
        )
        click.echo(f"interrupted: the jobs are safe in the ledger; {how}", err=True)
        sys.exit(EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)


def on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def new_registry() -> Any:
    from batch_router_core.registry import BatchProviderRegistry

    return BatchProviderRegistry()


def parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        out[key] = value
    return out


def make_router(
    options: tuple[str, ...],
    *,
    shard: bool = False,
    interval: float | None = None,
    provider: str | None = None,
) -> Any:
    """A router over the installed plugins; ``--option`` values go to every provider it uses.

    Without ``--poll-interval``, a provider's own ``poll_interval_s`` (a local engine's jobs
    are worth polling every few seconds, a hosted batch's every minute) comes before the default.
    """
    from batch_router_core.jobs.router import BatchRouter

    if interval is None and provider is not None:
        from batch_router_core.registry import BatchProviderRegistry

        suggested = BatchProviderRegistry().info(provider).poll_interval_s
        interval = float(suggested) if suggested else None

    return BatchRouter(
        shard=shard,
        initial_interval=60.0 if interval is None else interval,
        max_interval=300.0 if interval is None else max(interval, 5.0),
        default_options=parse_options(options),
        on_notice=lambda message: click.echo(f"  {message}", err=True),
    )


OPTION = click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Provider option, e.g. base_url=...; keys come from here or the environment.",
)


INTERVAL = click.option(
    "--poll-interval",
    type=float,
    default=None,
    help="First polling interval in seconds (default 60; backs off x1.5 to 300).",
)


JSON_FLAG = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def sayer(quiet: bool) -> Any:
    def say(msg: str) -> None:
        if not quiet:
            click.echo(msg, err=True)

    return say


def status_dict(st: Any) -> dict[str, Any]:
    c = st.request_counts
    return {
        "job_id": st.job_id,
        "status": st.status.value,
        "counts": {
            "total": c.total,
            "succeeded": c.succeeded,
            "errored": c.errored,
            "cancelled": c.cancelled,
            "expired": c.expired,
            "processing": c.processing,
        },
        "provider_jobs": [
            {
                "local_id": j.local_id,
                "provider": j.provider,
                "batch_id": j.batch_id,
                "state": j.state.value,
                "status": j.status.value if j.status else None,
                "error": j.error,
            }
            for j in st.provider_jobs
        ],
    }


def reasons(st: Any) -> list[str]:
    """One line per provider job that was refused or parked, with its reason."""
    from batch_router_core.jobs.ledger import JobState

    return [
        f"  {j.local_id}: {j.state.value}: {j.error}"
        for j in st.provider_jobs
        if j.state in (JobState.FAILED, JobState.NEEDS_ATTENTION)
    ]


def exit_if_refused(router: Any, job_ids: list[str]) -> None:
    """Exit 4 when the provider refused to create any provider job of these jobs (their requests are
    in the results as errored, but the run did not do what was asked)."""
    from batch_router_core.jobs.ledger import JobState

    refused = [
        j for job_id in job_ids for j in router.ledger.jobs_of(job_id) if j.state is JobState.FAILED
    ]
    if refused:
        for j in refused:
            click.echo(
                f"error: {j.provider} refused provider job {j.local_id}: {j.error}", err=True
            )
        sys.exit(EXIT_PROVIDER)


class Progress:
    """Progress on long waits and downloads: a bar on a terminal, plain status lines otherwise
    (logs and CI keep one line per change instead of a redrawn bar)."""

    def __init__(self, say: Any, quiet: bool, label: str, total: int) -> None:
        self._say = say
        self._bar: Any = None
        self._done = 0
        self._last: dict[str, str] = {}
        if not quiet and sys.stderr.isatty() and total > 0:
            self._bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)
            self._bar.__enter__()

    def status(self, st: Any) -> None:
        """A wait's status report (one job)."""
        c = st.request_counts
        if self._bar is not None:
            self._bar.label = f"{st.status.value:<11}"
            self.advance_to(c.done)
            return
        line = f"  {st.job_id}: {st.status.value:<11} {c.done}/{c.total} done"
        if self._last.get(st.job_id) != line:
            self._last[st.job_id] = line
            self._say(line)

    def advance_to(self, done: int) -> None:
        """Move the bar to ``done`` items."""
        if self._bar is not None and done > self._done:
            self._bar.update(done - self._done)
            self._done = done

    def close(self) -> None:
        """Finish the bar (if any)."""
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def total_requests(router: Any, job_ids: list[str]) -> int:
    return sum(router.ledger.logical(j).request_count for j in job_ids)


async def write_results(
    router: Any, job_ids: list[str], out: Path, say: Any, quiet: bool = False, show: int = 0
) -> dict[str, int]:
    from batch_router_core.formats.unified import write_results_async

    counts: dict[str, int] = {}
    shown: list[str] = []
    progress = Progress(say, quiet, "results", total_requests(router, job_ids))

    async def tally() -> Any:
        n = 0
        for job_id in job_ids:
            async for r in router.get_results(job_id):
                counts[r.status.value] = counts.get(r.status.value, 0) + 1
                n += 1
                if n <= show:
                    answer = (
                        r.text
                        if r.text is not None
                        else (r.error.message if r.error else r.status.value)
                    )
                    shown.append(
                        f"{r.custom_id}: {' '.join(answer.split())}"
                    )  # one line per answer
                if n % 256 == 0:
                    progress.advance_to(n)
                yield r
        progress.advance_to(n)

    try:
        n = await write_results_async(out, tally())
    finally:
        progress.close()
    say(f"wrote {n} results to {out} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
    for line in shown:
        click.echo(line)
    return counts


async def wait_for(router: Any, job_ids: list[str], say: Any, quiet: bool, timeout: float) -> Any:
    progress = Progress(say, quiet, "waiting", total_requests(router, job_ids))
    try:
        return await router.wait_for_all(job_ids, timeout=timeout, on_status=progress.status)
    finally:
        progress.close()
