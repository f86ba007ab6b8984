"""Commands on recorded jobs: ``status``, ``wait``, ``results``, ``cancel``, ``jobs``, ``resume``,
``retry-failed`` and ``cleanup``. Each names a job by the id ``submit`` or ``run`` printed, in the
ledger of the state directory; an id the ledger does not hold exits 10."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from batch_router_core.cli._shared import (
    EXIT_ATTENTION,
    INTERVAL,
    JSON_FLAG,
    OPTION,
    OUTPUT,
    TIMEOUT,
    Duration,
    check_output_path,
    error_budget,
    iso_time,
    job_summary,
    ledger_exists,
    ledger_label,
    make_router,
    outcome_exit,
    reasons,
    reported_errors,
    require_ledger,
    run_async,
    say,
    state_dir,
    status_line,
    tolerated,
    wait_for,
    with_result_counts,
    write_results,
)
from batch_router_core.cli.app import main
from batch_router_core.cli.progress import Display, with_display


def _echo_jobs(statuses: Any, as_json: bool) -> None:
    for st in statuses:
        if as_json:
            click.echo(orjson.dumps(job_summary(st)).decode())
            continue
        click.echo(status_line(st))
        for line in reasons(st):
            click.echo(line)


@main.command(
    epilog="""
\b
Examples:
  batch-router status job-20261202T101500-1a2b3c4d
  batch-router status "$JOB" --json | jq .outcome
"""
)
@click.argument("job_ids", nargs=-1, required=True)
@OPTION
@error_budget
@JSON_FLAG
def status(
    job_ids: tuple[str, ...],
    options: tuple[str, ...],
    allow_errors: bool,
    max_error_rate: float,
    as_json: bool,
) -> None:
    """Poll the provider and show each job's outcome and counts (one JSON object per job).

    Exits 0 while running or when every request succeeded, else with the outcome's code.
    """
    with reported_errors(as_json):
        require_ledger(job_ids)
        router = make_router(options)
        statuses = run_async(router.get_all_statuses(job_ids), router, job_ids=list(job_ids))
        _echo_jobs(statuses.values(), as_json)
        sys.exit(outcome_exit(statuses.values(), tolerated(allow_errors, max_error_rate)))


@main.command(
    epilog="""
\b
Examples:
  batch-router wait "$JOB" --timeout 12h
  batch-router wait "$JOB" --max-error-rate 0.01 && batch-router results "$JOB" -o out.jsonl
"""
)
@click.argument("job_ids", nargs=-1, required=True)
@OPTION
@INTERVAL
@TIMEOUT
@error_budget
@JSON_FLAG
def wait(
    job_ids: tuple[str, ...],
    options: tuple[str, ...],
    poll_interval: float | None,
    timeout: float,
    allow_errors: bool,
    max_error_rate: float,
    as_json: bool,
) -> None:
    """Wait until jobs end, showing progress; exits with their outcome (5 on timeout)."""
    with reported_errors(as_json):
        require_ledger(job_ids)
        router = make_router(options, interval=poll_interval)
        statuses = run_async(
            wait_for(router, list(job_ids), as_json, timeout),
            router,
            job_ids=list(job_ids),
        )
        _echo_jobs(statuses.values(), as_json)
        sys.exit(outcome_exit(statuses.values(), tolerated(allow_errors, max_error_rate)))


@main.command(
    epilog="""
\b
Examples:
  batch-router results "$JOB" -o answers.jsonl
  batch-router results "$JOB" -o - | jq -r .text
"""
)
@click.argument("job_ids", nargs=-1, required=True)
@OUTPUT
@OPTION
@error_budget
@JSON_FLAG
@click.option(
    "--join",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    metavar="INPUT.csv",
    help="With -o FILE.csv or .parquet: each row of this input table, in its order, with its "
    "result beside it (status, answer, error, tokens).",
)
@click.option("--prompt-column", default="prompt", show_default=True, help="As given to run.")
@click.option("--id-column", default=None, help="As given to run.")
def results(
    job_ids: tuple[str, ...],
    output: Path | None,
    options: tuple[str, ...],
    allow_errors: bool,
    max_error_rate: float,
    as_json: bool,
    join: Path | None,
    prompt_column: str,
    id_column: str | None,
) -> None:
    """Write the unified results of ended jobs (downloaded once, then served from disk).

    `-o FILE.csv` / `-o FILE.parquet` writes a table (a row per result, or with --join the input
    table's rows with their results). A job still running exits 5 (wait for it first); the exit
    code then follows the outcome.
    """
    from batch_router_core.formats.tabular import Columns, table_format

    if join is not None and (output is None or table_format(output) is None):
        raise click.UsageError("--join needs -o FILE.csv or -o FILE.parquet")
    if as_json and output is not None and str(output) == "-":
        raise click.UsageError("--json and -o - both want stdout: choose one")
    with reported_errors(as_json):
        require_ledger(job_ids)
        out = output or Path(f"results_{job_ids[0]}.jsonl")
        check_output_path(out)
        router = make_router(options)
        counts = run_async(
            write_results(
                router,
                list(job_ids),
                out,
                as_json,
                join=join,
                columns=Columns(prompt=prompt_column, id=id_column),
            ),
            router,
            job_ids=list(job_ids),
        )
        statuses = [router.recorded_status(j) for j in job_ids]
        if len(statuses) == 1:  # the results written are the final word on one job's requests
            statuses = [with_result_counts(statuses[0], counts)]
        if as_json:
            click.echo(orjson.dumps({"output": str(out), "counts": counts}).decode())
        sys.exit(outcome_exit(statuses, tolerated(allow_errors, max_error_rate)))


@main.command()
@click.argument("job_ids", nargs=-1, required=True)
@OPTION
@JSON_FLAG
def cancel(job_ids: tuple[str, ...], options: tuple[str, ...], as_json: bool) -> None:
    """Cancel jobs (every running provider job of each); their finished requests stay.

    \b
    Example:
      batch-router cancel "$JOB" && batch-router wait "$JOB" --allow-errors
    """
    with reported_errors(as_json):
        require_ledger(job_ids)
        router = make_router(options)
        done = run_async(router.cancel_all(job_ids), router, job_ids=list(job_ids))
        click.echo(
            orjson.dumps(done).decode()
            if as_json
            else "\n".join(
                f"{k}: {'cancel requested' if v else 'nothing to cancel'}" for k, v in done.items()
            )
        )


@main.command()
@click.option(
    "--refresh",
    is_flag=True,
    help="Poll the provider for the jobs still running (default: as last recorded, no network).",
)
@OPTION
@JSON_FLAG
def jobs(refresh: bool, options: tuple[str, ...], as_json: bool) -> None:
    """List the jobs in the state directory's ledger, newest first: created, provider, model,
    requests, outcome, counts, provider batch ids, tokens and reasons.

    \b
    Examples:
      batch-router jobs
      batch-router --state-dir /srv/batch jobs --refresh --json
    """
    with reported_errors(as_json):
        if not ledger_exists():
            if not as_json:
                click.echo(f"no jobs in {state_dir()} (nothing was submitted with this state dir)")
            return
        router = make_router(options)
        listed = router.ledger.logical_jobs()
        statuses = {j.id: router.recorded_status(j.id) for j in listed}
        if refresh:
            running = [i for i, st in statuses.items() if not st.is_terminal]
            statuses |= run_async(router.get_all_statuses(running), router, job_ids=running)
        if as_json:
            for j in listed:
                row = job_summary(statuses[j.id]) | {
                    "provider": j.provider,
                    "model": j.model,
                    "requests": j.request_count,
                    "created_at": iso_time(j.created_at),
                }
                click.echo(orjson.dumps(row).decode())
            return
        click.echo(f"ledger {ledger_label()}" + ("" if refresh else " (as last recorded)"))
        for j in listed:
            st = statuses[j.id]
            c = st.request_counts
            ids = [p.batch_id for p in st.provider_jobs if p.batch_id]
            usage = [p.usage for p in st.provider_jobs if p.usage is not None]
            tokens = (
                f" tokens in/out {sum(u.prompt_tokens for u in usage)}/"
                f"{sum(u.completion_tokens for u in usage)}"
                if usage
                else ""
            )
            failed = c.errored + c.expired + c.cancelled
            click.echo(
                f"{j.id}  {_short_time(j.created_at)}  {j.provider:<10} {j.model:<24} "
                f"{st.outcome.value:<15} {c.done}/{c.total}"
                + (f" ({failed} not succeeded)" if failed else "")
                + tokens
                + (
                    f"  {', '.join(ids[:3])}" + (f" +{len(ids) - 3}" if len(ids) > 3 else "")
                    if ids
                    else ""
                )
            )
            for line in reasons(st):
                click.echo(line)


def _short_time(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


@main.command()
@OPTION
@INTERVAL
@TIMEOUT
@click.option(
    "--no-wait", is_flag=True, help="Only re-attach and re-submit; do not wait for the jobs."
)
@error_budget
@JSON_FLAG
def resume(
    options: tuple[str, ...],
    poll_interval: float | None,
    timeout: float,
    no_wait: bool,
    allow_errors: bool,
    max_error_rate: float,
    as_json: bool,
) -> None:
    """Continue every unfinished job after a crash: never submits a job twice.

    \b
    Example (after a reboot, from any directory):
      batch-router resume --timeout 12h
    """
    with reported_errors(as_json):
        if not ledger_exists():
            say(f"nothing to resume: no jobs in {state_dir()}", quiet=as_json)
            return
        router = make_router(options, interval=poll_interval)
        display = Display(quiet=as_json, label="resuming", next_check=lambda: router.next_poll_at)
        ids = run_async(
            with_display(
                display,
                router.resume(wait=not no_wait, timeout=timeout, on_status=display.status),
            ),
            router,
        )
        statuses = [router.recorded_status(i) for i in ids]
        parked = [st for st in statuses if st.needs_attention]
        if as_json:
            click.echo(
                orjson.dumps(
                    {
                        "resumed": ids,
                        "needs_attention": [job_summary(st) for st in parked],
                        "jobs": [job_summary(st) for st in statuses],
                    }
                ).decode()
            )
        else:
            lines = [f"resumed {status_line(st)}" for st in statuses]
            click.echo("\n".join(lines) or "nothing to resume")
            for st in parked:
                click.echo(f"needs attention: {st.job_id}", err=True)
                for line in reasons(st):
                    click.echo(line, err=True)
        if parked:
            sys.exit(EXIT_ATTENTION)
        if not no_wait:
            sys.exit(outcome_exit(statuses, tolerated(allow_errors, max_error_rate)))


@main.command("retry-failed")
@click.argument("job_id")
@click.option("--provider", "-p", default=None, help="Re-run on another provider.")
@click.option("--model", "-m", default=None, help="Re-run with another model.")
@OPTION
@JSON_FLAG
def retry_failed(
    job_id: str, provider: str | None, model: str | None, options: tuple[str, ...], as_json: bool
) -> None:
    """Re-submit only the requests of JOB_ID that errored or expired, as a new attempt of the same
    job (its results then replace the failed ones).

    \b
    Example:
      batch-router retry-failed "$JOB" -p anthropic -m claude-3-5-haiku-latest && \\
        batch-router wait "$JOB" && batch-router results "$JOB" -o out.jsonl
    """
    with reported_errors(as_json):
        require_ledger([job_id])
        router = make_router(options)
        ids = run_async(
            router.retry_failed(job_id, provider=provider, model=model), router, job_ids=[job_id]
        )
        click.echo(
            orjson.dumps({"job_id": job_id, "retried": ids}).decode()
            if as_json
            else f"retried {len(ids)} requests of {job_id}"
        )


@main.command()
@click.argument("job_ids", nargs=-1)
@click.option(
    "--older-than",
    type=Duration(),
    default=None,
    help="Only jobs created longer ago than this (e.g. 7d).",
)
@click.option(
    "--provider-files",
    is_flag=True,
    help="Also delete what the provider keeps of each job (input/output files, the batch itself "
    "where the provider allows), through its API.",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@OPTION
@JSON_FLAG
def cleanup(
    job_ids: tuple[str, ...],
    older_than: float | None,
    provider_files: bool,
    dry_run: bool,
    options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Remove finished jobs: their generated files in the state directory and their ledger
    records (the result files you wrote with -o are yours and stay). Jobs still running, parked or
    not yet downloaded are never touched.

    \b
    Examples:
      batch-router cleanup --older-than 7d --dry-run
      batch-router cleanup "$JOB" --provider-files
    """
    import time

    from batch_router_core.jobs.ledger import JobState

    with reported_errors(as_json):
        if job_ids:
            require_ledger(job_ids)
        if not ledger_exists():
            say(f"nothing to clean up: no jobs in {state_dir()}", quiet=as_json)
            return
        router = make_router(options)
        chosen = (
            [router.ledger.logical(i) for i in job_ids] if job_ids else router.ledger.logical_jobs()
        )
        removed: list[dict[str, Any]] = []
        skipped: list[str] = []
        for job in chosen:
            if older_than is not None and time.time() - job.created_at < older_than:
                continue
            parts = router.ledger.jobs_of(job.id)
            if not all(p.state in (JobState.FETCHED, JobState.FAILED) for p in parts):
                skipped.append(job.id)
                continue
            paths = [
                path
                for p in parts
                for path in (p.input_path, p.requests_path, p.results_path)
                if path is not None and path.exists()
            ]
            size = sum(path.stat().st_size for path in paths)
            removed.append({"job_id": job.id, "files": len(paths), "bytes": size})
            if dry_run:
                continue
            if provider_files:
                run_async(_delete_at_provider(router, parts), router, job_ids=[job.id])
            for path in paths:
                path.unlink(missing_ok=True)
            router.ledger.forget(job.id)
        total = sum(r["bytes"] for r in removed)
        if as_json:
            click.echo(
                orjson.dumps(
                    {"removed": removed, "skipped": skipped, "bytes": total, "dry_run": dry_run}
                ).decode()
            )
            return
        verb = "would remove" if dry_run else "removed"
        for r in removed:
            click.echo(f"{verb} {r['job_id']}: {r['files']} files, {r['bytes']} bytes")
        for job_id in skipped:
            click.echo(f"kept {job_id}: not finished (wait, resume or cancel it first)")
        click.echo(f"{verb} {len(removed)} jobs, {total} bytes in {state_dir()}")


async def _delete_at_provider(router: Any, parts: Any) -> None:
    for part in parts:
        if part.handle is None:
            continue
        handle = router.provider_for_job(part)
        if not handle.implements("delete_job"):
            say(f"  {part.provider} cannot delete {part.batch_id}: it keeps it", quiet=False)
            continue
        await handle.delete_job(part.handle)
