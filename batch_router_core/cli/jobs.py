"""Commands on recorded jobs: ``status``, ``wait``, ``results``, ``cancel``, ``jobs``, ``resume``,
``retry-failed``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from batch_router_core.cli._shared import (
    EXIT_ATTENTION,
    INTERVAL,
    JSON_FLAG,
    OPTION,
    make_router,
    reasons,
    reported_errors,
    run_async,
    sayer,
    status_dict,
    wait_for,
    write_results,
)
from batch_router_core.cli.app import main


@main.command()
@click.argument("job_ids", nargs=-1, required=True)
@OPTION
@JSON_FLAG
def status(job_ids: tuple[str, ...], options: tuple[str, ...], as_json: bool) -> None:
    """Poll and show the status of jobs."""
    with reported_errors(as_json):
        router = make_router(options)
        statuses = run_async(router.get_all_statuses(job_ids), router, job_ids=list(job_ids))
        for st in statuses.values():
            d = status_dict(st)
            click.echo(
                orjson.dumps(d).decode()
                if as_json
                else f"{d['job_id']}: {d['status']} "
                f"{st.request_counts.done}/{st.request_counts.total} done"
            )
            if not as_json:
                for line in reasons(st):
                    click.echo(line)


@main.command()
@click.argument("job_ids", nargs=-1, required=True)
@OPTION
@INTERVAL
@click.option("--timeout", type=float, default=86400.0, show_default=True)
@JSON_FLAG
def wait(
    job_ids: tuple[str, ...],
    options: tuple[str, ...],
    poll_interval: float | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Wait until jobs end, showing progress."""
    with reported_errors(as_json):
        router = make_router(options, interval=poll_interval)
        statuses = run_async(
            wait_for(router, list(job_ids), sayer(as_json), as_json, timeout),
            router,
            job_ids=list(job_ids),
        )
        if as_json:
            click.echo(orjson.dumps([status_dict(s) for s in statuses.values()]).decode())


@main.command()
@click.argument("job_ids", nargs=-1, required=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
@OPTION
@JSON_FLAG
def results(
    job_ids: tuple[str, ...], output: Path, options: tuple[str, ...], as_json: bool
) -> None:
    """Write the unified results of ended jobs (downloaded once, then served from disk)."""
    with reported_errors(as_json):
        router = make_router(options)
        counts = run_async(
            write_results(router, list(job_ids), output, sayer(as_json), as_json),
            router,
            job_ids=list(job_ids),
        )
        if as_json:
            click.echo(orjson.dumps({"output": str(output), "counts": counts}).decode())


@main.command()
@click.argument("job_ids", nargs=-1, required=True)
@OPTION
@JSON_FLAG
def cancel(job_ids: tuple[str, ...], options: tuple[str, ...], as_json: bool) -> None:
    """Cancel jobs (every running provider job of each)."""
    with reported_errors(as_json):
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
@JSON_FLAG
def jobs(as_json: bool) -> None:
    """List the jobs in the ledger (no network)."""
    with reported_errors(as_json):
        router = make_router(())
        listed = [(j, router.recorded_status(j.id)) for j in router.ledger.logical_jobs()]
        rows = [
            status_dict(st)
            | {"provider": j.provider, "model": j.model, "requests": j.request_count}
            for j, st in listed
        ]
        if as_json:
            click.echo(orjson.dumps(rows).decode())
            return
        for r, (_, st) in zip(rows, listed, strict=True):
            click.echo(
                f"{r['job_id']}  {r['provider']:<10} {r['model']:<24} {r['requests']:>7} requests  "
                f"{r['status']}"
            )
            for line in reasons(st):
                click.echo(line)


@main.command()
@OPTION
@INTERVAL
@click.option(
    "--no-wait", is_flag=True, help="Only re-attach and re-submit; do not wait for the jobs."
)
@JSON_FLAG
def resume(
    options: tuple[str, ...], poll_interval: float | None, no_wait: bool, as_json: bool
) -> None:
    """Continue every unfinished job after a crash: never submits a job twice."""
    with reported_errors(as_json):
        router = make_router(options, interval=poll_interval)
        ids = run_async(router.resume(wait=not no_wait), router)
        parked = [st for st in (router.recorded_status(i) for i in ids) if st.needs_attention]
        if as_json:
            click.echo(
                orjson.dumps(
                    {"resumed": ids, "needs_attention": [status_dict(st) for st in parked]}
                ).decode()
            )
        else:
            click.echo("\n".join(f"resumed {i}" for i in ids) or "nothing to resume")
            for st in parked:
                click.echo(f"needs attention: {st.job_id}", err=True)
                for line in reasons(st):
                    click.echo(line, err=True)
        if parked:
            sys.exit(EXIT_ATTENTION)


@main.command("retry-failed")
@click.argument("job_id")
@click.option("--provider", "-p", default=None, help="Re-run on another provider.")
@click.option("--model", "-m", default=None, help="Re-run with another model.")
@OPTION
@JSON_FLAG
def retry_failed(
    job_id: str, provider: str | None, model: str | None, options: tuple[str, ...], as_json: bool
) -> None:
    """Re-submit only the requests of JOB_ID that errored or expired."""
    with reported_errors(as_json):
        router = make_router(options)
        ids = run_async(
            router.retry_failed(job_id, provider=provider, model=model), router, job_ids=[job_id]
        )
        click.echo(
            orjson.dumps({"retried": ids}).decode() if as_json else f"retried {len(ids)} requests"
        )
