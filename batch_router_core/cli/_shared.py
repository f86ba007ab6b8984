"""What every command shares: exit codes, error reporting, running the router, progress, output."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import attrs
import click
import orjson

from batch_router_core.cli.progress import Display, neutralize, with_display
from batch_router_core.cli.progress import say as say
from batch_router_core.errors import (
    BatchRouterError,
    BatchTimeoutError,
    ConfigError,
    CostLimitError,
    FileOperationError,
    PluginLoadError,
    ProviderError,
    ProviderNotFoundError,
    ValidationError,
)
from batch_router_core.files import disk_error_message

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INVALID, EXIT_PROVIDER, EXIT_NOT_ENDED = 0, 1, 2, 3, 4, 5
EXIT_ATTENTION, EXIT_LEDGER, EXIT_PARTIAL, EXIT_JOB_FAILED, EXIT_UNKNOWN_JOB = 6, 7, 8, 9, 10
EXIT_OVER_BUDGET = 11
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


T = TypeVar("T")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every claim is given back on the way out."""


def exit_code(exc: BaseException) -> int:
    """The documented exit code for an error (see the ``batch-router`` help)."""
    from batch_router_core.jobs.ledger import LedgerError, UnknownJobError
    from batch_router_core.jobs.status import JobNeedsAttentionError, JobNotEndedError

    if isinstance(exc, UnknownJobError):
        return EXIT_UNKNOWN_JOB
    if isinstance(exc, CostLimitError):
        return EXIT_OVER_BUDGET
    if isinstance(exc, JobNeedsAttentionError):
        return EXIT_ATTENTION
    if isinstance(exc, (LedgerError, FileOperationError)):
        return EXIT_LEDGER
    if isinstance(exc, (ValidationError, ConfigError)):
        return EXIT_INVALID
    if isinstance(exc, (ProviderError, ProviderNotFoundError, PluginLoadError)):
        return EXIT_PROVIDER
    if isinstance(exc, (BatchTimeoutError, JobNotEndedError)):
        return EXIT_NOT_ENDED
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
        if isinstance(exc, ValidationError):
            exc = ValidationError(in_flag_terms(exc.issues), provider=exc.provider)
        if as_json:
            payload: dict[str, Any] = {
                "outcome": "error",
                "error": type(exc).__name__,
                "message": str(exc),
                "exit_code": exit_code(exc),
            }
            if isinstance(exc, ValidationError):
                payload["issues"] = [i.as_dict() for i in exc.issues]
            click.echo(orjson.dumps(payload).decode())
        elif isinstance(exc, ValidationError) and len(exc.issues) > 1:
            shown = exc.issues[:_SHOWN_ISSUES]
            more = len(exc.issues) - len(shown)
            click.echo(
                f"error: {len(exc.issues)} problems in the input (nothing was sent):\n  "
                + "\n  ".join(str(i) for i in shown)
                + (f"\n  ... and {more} more (--json lists them all)" if more > 0 else ""),
                err=True,
            )
        else:
            click.echo(f"error: {exc}", err=True)
        sys.exit(exit_code(exc))


#: The flag for each generation setting, for messages that speak the command line's language.
FLAGS = {
    "system_prompt": "--system",
    "max_output_tokens": "--max-output-tokens",
    "temperature": "--temperature",
    "top_p": "--top-p",
    "top_k": "--top-k",
    "stop_sequences": "--stop",
    "presence_penalty": "--presence-penalty",
    "frequency_penalty": "--frequency-penalty",
    "seed": "--seed",
    "embedding_dimensions": "--dimensions",
    "output_schema": "--output-schema",
    "reasoning_effort": "--reasoning-effort",
    "thinking_budget": "--thinking-budget",
    "provider_kwargs": "--provider-kwarg",
    "model_id": "--model",
    "provider_id": "--provider",
    "mode": "--mode",
}


_HINTS = (
    ("in InferenceParams.system_prompt", "in --system (or the line's params.system_prompt)"),
    ("or let the router shard it", "or pass --shard"),
)


def in_flag_terms(issues: list[Any]) -> list[Any]:
    """Batch-wide problems named by the flag that sets them, library hints by the command's."""
    from batch_router_core.errors import ValidationIssue

    out = []
    not_alone = len(issues) > 1
    for issue in issues:
        if not_alone and (issue.field or "").endswith("requests") and "has no" in issue.message:
            continue  # every line had a problem: those are the news
        message = issue.message
        for library, cli in _HINTS:
            message = message.replace(library, cli)
        field = issue.field or ""
        if field.startswith("batches[0]"):  # the command runs one batch: no need to say which
            field = field[len("batches[0]") :].lstrip(".")
        name = field.rsplit(".", 1)[-1]
        if issue.line is None and issue.custom_id is None and name in FLAGS:
            message += f" ({FLAGS[name]})"
        out.append(
            ValidationIssue(
                message,
                custom_id=issue.custom_id,
                field=field or None,
                path=issue.path,
                line=issue.line,
            )
        )
    return out


#: How many input problems the text output lists (``--json`` lists them all).
_SHOWN_ISSUES = 50


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


@functools.cache
def new_registry() -> Any:
    """The installed plugins, discovered once per command (its generated files in the state
    directory, which ``--state-dir`` has set by the time a command runs)."""
    from batch_router_core.registry import BatchProviderRegistry

    return BatchProviderRegistry()


def state_dir() -> Path:
    """The state directory this command uses (``--state-dir``, ``$BATCH_ROUTER_STATE_DIR`` or the
    per-user default), absolute so that messages name it unambiguously."""
    from batch_router_core.files import default_state_dir

    return default_state_dir().absolute()


def ledger_label() -> str:
    """Where this command's ledger is, as messages name it (a URL's password left out)."""
    from batch_router_core.jobs.ledger_postgres import redacted_url
    from batch_router_core.jobs.ledgers import default_ledger_location

    return redacted_url(str(default_ledger_location(state_dir())))


def ledger_exists() -> bool:
    """A ledger to read: a server always (its tables are created on first use), a file once a
    job was recorded in it."""
    from batch_router_core.jobs.ledgers import default_ledger_location, is_server_url

    location = default_ledger_location(state_dir())
    return is_server_url(location) or Path(location).exists()


def require_ledger(job_ids: tuple[str, ...] | list[str]) -> None:
    """Commands about recorded jobs never create an empty ledger: without one, every id is
    unknown."""
    from batch_router_core.jobs.ledger import UnknownJobError

    if not ledger_exists():
        raise UnknownJobError(job_ids[0] if job_ids else "", ledger_label())


_SECRET_OPTION_KEYS = ("api_key", "auth_token", "key", "token", "secret", "password")


def parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` pairs; a secret given this way is used, with a warning that other users of
    the machine can read it in the process list."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        if any(word in key.lower() for word in _SECRET_OPTION_KEYS):
            click.echo(
                f"warning: --option {key}=... is visible to other users in the process list; "
                "prefer the provider's environment variable (e.g. OPENAI_API_KEY)",
                err=True,
            )
        out[key] = value
    return out


def make_router(
    options: tuple[str, ...] | dict[str, str],
    *,
    shard: bool = False,
    interval: float | None = None,
    provider: str | None = None,
    **router_options: Any,
) -> Any:
    """A router over the installed plugins in the state directory; ``--option`` values go to every
    provider it uses (unknown keys are refused by the provider's declared option names).

    Without ``--poll-interval``, a provider's own ``poll_interval_s`` (a local engine's jobs
    are worth polling every few seconds, a hosted batch's every minute) comes before the default.
    """
    from batch_router_core.jobs.router import BatchRouter

    given = options if isinstance(options, dict) else parse_options(options)
    registry = new_registry()
    if provider is not None:
        registry.info(provider).check_option_keys(given)
        if interval is None:
            suggested = registry.info(provider).poll_interval_s
            interval = float(suggested) if suggested else None

    return BatchRouter(
        registry,
        root=state_dir(),
        shard=shard,
        initial_interval=60.0 if interval is None else interval,
        max_interval=300.0 if interval is None else max(interval, 5.0),
        default_options=given,
        on_notice=lambda message: say(f"  {message}"),
        **router_options,
    )


class Duration(click.ParamType):  # type: ignore[type-arg]
    """A positive duration: seconds (``90``), or with a unit (``90s``, ``15m``, ``24h``, ``2d``)."""

    name = "duration"
    _UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            text = str(value).strip().lower()
            unit = self._UNITS.get(text[-1:], None)
            number = text[:-1] if unit is not None else text
            try:
                seconds = float(number) * (unit or 1.0)
            except ValueError:
                self.fail(
                    f"{value!r} is not a duration such as 90, 90s, 15m, 24h or 2d", param, ctx
                )
        if seconds <= 0:
            self.fail(
                f"{value!r} must be positive (to submit without waiting: `batch-router submit`)",
                param,
                ctx,
            )
        return seconds


OPTION = click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Provider option such as base_url=URL (see `batch-router providers`); non-secret ones "
    "are remembered with the job. Keys belong in the environment (OPENAI_API_KEY...).",
)


OUTPUT = click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write unified results ('-' for stdout; default: results_<job id>.jsonl).",
)

INTERVAL = click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=None,
    metavar="SECONDS",
    help="First polling interval, at least 0.05 s (default: the provider's, else 60 s; backs off "
    "x1.5 up to 300 s).",
)

TIMEOUT = click.option(
    "--timeout",
    type=Duration(),
    default="24h",
    show_default=True,
    help="How long to wait for the job to end: seconds or 90s, 15m, 24h, 2d (exit 5 after).",
)

JSON_FLAG = click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output on stdout, nothing else."
)


def error_budget(fn: Any) -> Any:
    """``--allow-errors`` / ``--max-error-rate``: how many failed requests still exit 0."""
    fn = click.option(
        "--max-error-rate",
        type=click.FloatRange(0.0, 1.0),
        default=0.0,
        show_default=True,
        metavar="RATE",
        help="Exit 0 when at most this share of requests errored, expired or was cancelled "
        "(else exit 8).",
    )(fn)
    return click.option(
        "--allow-errors",
        is_flag=True,
        help="Exit 0 even when some requests errored (same as --max-error-rate 1).",
    )(fn)


def tolerated(allow_errors: bool, max_error_rate: float) -> float:
    return 1.0 if allow_errors else max_error_rate


def sayer(quiet: bool) -> Any:
    def speak(msg: str) -> None:
        say(msg, quiet=quiet)

    return speak


# -- what became of jobs ---------------------------------------------------------------------------


def job_summary(st: Any) -> dict[str, Any]:
    """One job in the shape every command's ``--json`` shares."""
    from batch_router_core.cost.report import job_cost

    c = st.request_counts
    usage = [j.usage for j in st.provider_jobs if j.usage is not None]
    return {
        "job_id": st.job_id,
        "status": st.status.value,
        "outcome": st.outcome.value,
        "counts": {
            "total": c.total,
            "succeeded": c.succeeded,
            "errored": c.errored,
            "cancelled": c.cancelled,
            "expired": c.expired,
            "processing": c.processing,
        },
        "error_rate": round(st.error_rate, 6),
        "tokens": {
            "input": sum(u.prompt_tokens for u in usage),
            "output": sum(u.completion_tokens for u in usage),
        }
        if usage
        else None,
        "cost": job_cost(st.provider_jobs).to_data(),
        "provider_jobs": [
            {
                "local_id": j.local_id,
                "provider": j.provider,
                "model": j.model,
                "attempt": j.attempt,
                "batch_id": j.batch_id,
                "state": j.state.value,
                "status": j.status.value if j.status else None,
                "error": j.error,
                "created_at": iso_time(j.created_at),
            }
            for j in st.provider_jobs
        ],
        "state_dir": str(state_dir()),
    }


def iso_time(ts: float) -> str | None:
    """An epoch time as ISO 8601 UTC (seconds), as every ``--json`` output gives times."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds") if ts else None


def status_line(st: Any) -> str:
    """One job in one line of text: outcome, counts, and what failed."""
    c = st.request_counts
    failed = c.errored + c.expired + c.cancelled
    tail = f", {failed} not succeeded" if failed else ""
    return f"{st.job_id}: {st.outcome.value} ({st.status.value}) {c.done}/{c.total} done{tail}"


def reasons(st: Any) -> list[str]:
    """One line per provider job that failed, was refused or parked, with its reason; then the
    job's cost (actual beside the estimate) where there is one."""
    from batch_router_core.cost.report import cost_line, job_cost
    from batch_router_core.jobs.ledger import JobState

    lines = [
        f"  {j.local_id}: {(j.status.value if j.status else j.state.value)}: {j.error}"
        for j in st.provider_jobs
        if j.error and (j.state in (JobState.FAILED, JobState.NEEDS_ATTENTION) or j.status)
    ]
    cost = cost_line(job_cost(st.provider_jobs))
    return [*lines, f"  {cost}"] if cost else lines


_SEVERITY = (EXIT_ATTENTION, EXIT_JOB_FAILED, EXIT_PARTIAL)


def outcome_exit(statuses: Any, max_error_rate: float = 0.0) -> int:
    """The exit code for what became of these jobs: the most severe of them (running is 0)."""
    from batch_router_core.jobs.status import Outcome

    codes = set()
    for st in statuses:
        outcome = st.outcome
        if outcome is Outcome.NEEDS_ATTENTION:
            codes.add(EXIT_ATTENTION)
        elif outcome in (Outcome.FAILED, Outcome.EXPIRED, Outcome.CANCELLED):
            codes.add(EXIT_JOB_FAILED)
        elif outcome is Outcome.PARTIAL and st.error_rate > max_error_rate:
            codes.add(EXIT_PARTIAL)
    return next((c for c in _SEVERITY if c in codes), EXIT_OK)


def with_result_counts(st: Any, counts: dict[str, int]) -> Any:
    """The job's status with the counts of the results actually written: the final word on what
    each request became, whatever the provider's own counters said."""
    from batch_router_core.models.results import RequestCounts

    return attrs.evolve(
        st,
        request_counts=RequestCounts(
            total=sum(counts.values()),
            succeeded=counts.get("succeeded", 0),
            errored=counts.get("errored", 0),
            cancelled=counts.get("cancelled", 0),
            expired=counts.get("expired", 0),
        ),
    )


def exit_if_refused(router: Any, job_ids: list[str]) -> None:
    """Exit 4 when the provider refused to create any provider job of these jobs (their requests are
    in the results as errored, but the run did not do what was asked)."""
    from batch_router_core.jobs.ledger import JobState

    refused = [
        j
        for job_id in job_ids
        for j in router.ledger.jobs_of(job_id)
        if j.state is JobState.FAILED and j.raw_status == "refused"
    ]
    if refused:
        for j in refused:
            click.echo(
                f"error: {j.provider} refused provider job {j.local_id}: {j.error}", err=True
            )
        sys.exit(EXIT_PROVIDER)


# -- output ----------------------------------------------------------------------------------------


def check_output_path(out: Path) -> None:
    """Refuse, before anything is submitted or paid for, an output file that cannot be written."""
    if str(out) == "-":
        return
    parent = out.absolute().parent
    if not parent.is_dir():
        raise FileOperationError(
            f"cannot write results to {out}: the directory {parent} does not exist", path=str(out)
        )
    if out.is_dir():
        raise FileOperationError(f"cannot write results to {out}: it is a directory", path=str(out))
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise FileOperationError(f"cannot write results to {out}: permission denied", path=str(out))


def total_requests(router: Any, job_ids: list[str]) -> int:
    return sum(router.ledger.logical(j).request_count for j in job_ids)


async def write_results(
    router: Any,
    job_ids: list[str],
    out: Path,
    quiet: bool = False,
    show: int = 0,
    *,
    join: Path | None = None,
    columns: Any = None,
) -> dict[str, int]:
    """Write the results of ended jobs to ``out`` (``-``: stdout) and return their tally.

    ``out`` ending in ``.csv`` or ``.parquet`` is a table: with ``join`` (the input table), each
    input row in its order with its result's columns beside it; without, a row per result.
    """
    from batch_router_core.files import atomic_file
    from batch_router_core.formats import tabular

    counts: dict[str, int] = {}
    shown: list[str] = []
    total = total_requests(router, job_ids)
    display = Display(quiet=quiet or str(out) == "-", label="writing results")
    # A table is written once every result is in (joined onto the input's rows, in their order).
    table = str(out) != "-" and tabular.table_format(out) is not None
    results: dict[str, Any] = {}

    async def lines() -> AsyncIterator[bytes]:
        # Each line as the download made it for the local copy: not serialised a second time.
        n = 0
        for job_id in job_ids:
            async for r, line in router.get_result_lines(job_id):
                if table:
                    results[r.custom_id] = r
                status = r.status.value
                counts[status] = counts.get(status, 0) + 1
                n += 1
                if n <= show:
                    answer = (
                        r.text if r.text is not None else (r.error.message if r.error else status)
                    )
                    shown.append(f"{r.custom_id}: {' '.join(answer.split())}")
                if n % 256 == 0:
                    display.items(n, total)
                yield line
        display.items(n, total)

    if table:

        async def drain() -> int:
            n = 0
            async for _ in lines():
                n += 1
            return n

        await with_display(display, drain())
        if join is not None and tabular.table_format(join) is not None:
            n = tabular.write_joined(join, results, out, columns)
        else:
            names = ["custom_id", *tabular.result_columns(None)]
            rows = ({"custom_id": cid, **tabular.result_columns(r)} for cid, r in results.items())
            n = tabular.write_table(out, rows, names)
    elif str(out) == "-":
        n = await _write_lines(sys.stdout.buffer, lines())
    else:
        with atomic_file(out) as fh:
            n = await with_display(display, _write_lines(fh, lines()))
    where = "stdout" if str(out) == "-" else str(out)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    say(f"wrote {n} results to {where} ({summary})", quiet=quiet)
    for line in shown:
        click.echo(neutralize(line) if sys.stdout.isatty() else line)
    return counts


async def _write_lines(out: BinaryIO, lines: AsyncIterator[bytes]) -> int:
    n = 0
    async for line in lines:
        out.write(line)
        out.write(b"\n")
        n += 1
    out.flush()
    return n


async def wait_for(
    router: Any, job_ids: list[str], quiet: bool, timeout: float, label: str = "waiting"
) -> Any:
    """Wait for jobs to end, showing their progress."""
    display = Display(quiet=quiet, label=label, next_check=lambda: router.next_poll_at)
    for job_id in job_ids:  # what the ledger knows, until the first poll says more
        display.status(router.recorded_status(job_id))
    return await with_display(
        display, router.wait_for_all(job_ids, timeout=timeout, on_status=display.status)
    )
