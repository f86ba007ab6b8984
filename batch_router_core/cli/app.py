"""The ``batch-router`` command line.

Exit codes (stable, for scripts):

* 0 - success
* 1 - an error not covered below (including a batch that ended FAILED/EXPIRED with ``--strict``)
* 2 - bad command-line usage
* 3 - invalid input or configuration: nothing was uploaded or spent
* 4 - a provider refused or failed a call
* 5 - timed out waiting for a batch
* 6 - a job needs attention: batch-router parked part of it rather than risk a wrong or double
  submission (``batch-router status JOB`` shows the reason)
* 7 - batch-router's own files cannot be used: the ledger (damaged, emptied, read-only, locked,
  deleted while in use) or the generated files (read-only directory, disk full); the message names
  the file and what to do
* 130 / 143 - interrupted by Ctrl-C / SIGTERM; the job is safe in the ledger and the message
  prints the command that re-attaches to it
"""

from __future__ import annotations

import asyncio
import functools
import signal
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
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


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every claim is given back on the way out."""


def _exit_code(exc: BaseException) -> int:
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
def _errors(as_json: bool) -> Iterator[None]:
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
        sys.exit(_exit_code(exc))


def _run_async(
    coro: Coroutine[Any, Any, T], router: Any = None, *, job_ids: list[str] | None = None
) -> T:
    """Run a coroutine; Ctrl-C or SIGTERM stop it cleanly (claims given back, partial downloads
    removed) and print how to re-attach to the job."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
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
        sys.exit(EXIT_SIGTERM if isinstance(exc, _Terminated) else EXIT_SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def _registry() -> Any:
    from batch_router_core.registry import BatchProviderRegistry

    return BatchProviderRegistry()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="batch-router-core")
def main() -> None:
    """One interface to LLM batch inference on every provider."""
    _configure_logging()


def _configure_logging() -> None:
    """The command line prints its own one-line notices; the library's structured events go to
    stderr only when ``BATCH_ROUTER_LOG`` names a level (debug, info, warning, error)."""
    import logging
    import os

    level = os.environ.get("BATCH_ROUTER_LOG", "").upper()
    log = logging.getLogger("batch_router")
    if level:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(level)
    else:
        log.addHandler(logging.NullHandler())
        log.propagate = False


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def providers(as_json: bool) -> None:
    """List the installed provider plugins (no provider SDK is imported)."""
    with _errors(as_json):
        reg = _registry()
        rows = []
        for rec in reg.providers():
            info = rec.info
            caps = info.capabilities
            rows.append(
                {
                    "name": rec.name,
                    "distribution": rec.distribution,
                    "version": rec.version,
                    "display_name": info.display_name,
                    "modes": [m.value for m in info.modes],
                    "models": list(info.models),
                    "limits": {
                        "max_requests": info.limits.max_requests,
                        "max_bytes": info.limits.max_bytes,
                    },
                    "capabilities": {
                        "cancel": caps.cancel,
                        "list_jobs": caps.list_jobs,
                        "content": {k: list(v) for k, v in caps.content.items()},
                    },
                }
            )
        errors = {name: str(err) for name, err in reg.load_errors.items()}
        if as_json:
            click.echo(orjson.dumps({"providers": rows, "errors": errors}).decode())
            return
        if not rows:
            click.echo("no provider plugins installed (try: pip install batch-router-openai)")
        for r in rows:
            dist = (
                f"{r['distribution']} {r['version']}" if r["distribution"] else "registered in code"
            )
            click.echo(
                f"{r['name']:<12} {dist:<28} modes={','.join(r['modes'])} "
                f"max_requests={r['limits']['max_requests']} cancel={r['capabilities']['cancel']}"
            )
        for name, err in errors.items():
            click.echo(f"{name:<12} FAILED TO LOAD: {err}", err=True)


@main.command()
@click.argument("provider")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=float,
    help="How much faster than real time the emulated clock runs (3600 = an hour a second).",
)
@click.option(
    "--chaos",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    metavar="RATE",
    help="Fail this share of all API calls at random (429 with retry-after, 500, 503, dropped "
    "connections, truncated bodies), to test a pipeline against an unreliable service.",
)
@click.option(
    "--chaos-seed", type=int, default=None, help="Seed for --chaos (repeatable fault sequences)."
)
def emulate(
    provider: str, host: str, port: int, speed: float, chaos: float, chaos_seed: int | None
) -> None:
    """Run PROVIDER's local emulator of its batch API until interrupted."""
    with _errors(False):
        handle = _registry().get(provider)
        app = handle.create_emulator({"speed": speed})
        if chaos:
            faults = getattr(app, "faults", None)
            if faults is None:
                raise click.UsageError(
                    f"the {provider} emulator has no fault injector: --chaos needs one"
                )
            faults.chaos(chaos, seed=chaos_seed)
        from batch_router_core.emulation.server import serve_forever

        click.echo(
            f"{provider} emulator on http://{host}:{port} "
            f"(base path {handle.info.emulator_base_path or '/'}); Ctrl-C stops it",
            err=True,
        )
        serve_forever(app, host=host, port=port)


@attrs.frozen
class _BatchSpec:
    """What the batch options of ``prepare``, ``submit`` and ``run`` say."""

    provider: str
    model: str
    mode: str
    system_prompt: str | None
    max_output_tokens: int | None
    temperature: float | None
    top_p: float | None
    top_k: int | None


_SPEC_FIELDS = tuple(f.name for f in attrs.fields(_BatchSpec))


def _params_options(fn: Any) -> Any:
    """The batch options (and ``--json``), handed to the command as one ``spec: _BatchSpec``."""

    @functools.wraps(fn)
    def command(**kwargs: Any) -> Any:
        spec = _BatchSpec(**{name: kwargs.pop(name) for name in _SPEC_FIELDS})
        return fn(spec=spec, **kwargs)

    options = [
        click.option("--provider", "-p", required=True, help="Provider name (see `providers`)."),
        click.option("--model", "-m", required=True, help="Model id."),
        click.option(
            "--mode",
            type=click.Choice(["chat", "completion", "embedding"]),
            default="chat",
            show_default=True,
        ),
        click.option(
            "--system", "system_prompt", default=None, help="System prompt for every request."
        ),
        click.option("--max-output-tokens", type=int, default=None),
        click.option("--temperature", type=float, default=None),
        click.option("--top-p", type=float, default=None),
        click.option("--top-k", type=int, default=None),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    ]
    for opt in reversed(options):
        command = opt(command)
    return command


def _load_batch(input_path: Path, spec: _BatchSpec) -> Any:
    from batch_router_core.formats.unified import read_input
    from batch_router_core.models import InferenceParams, InputBatch

    params = InferenceParams(
        provider_id=spec.provider,
        model_id=spec.model,
        mode=spec.mode,
        system_prompt=spec.system_prompt,
        max_output_tokens=spec.max_output_tokens,
        temperature=spec.temperature,
        top_p=spec.top_p,
        top_k=spec.top_k,
    )
    # Fields of the OpenAI batch format without a unified name pass through only to a provider that
    # speaks that format; for any other provider they are an error.
    wire = _registry().info(spec.provider).capabilities.wire_format
    requests = read_input(input_path, openai_passthrough=wire == "openai_batch")
    return InputBatch(requests=tuple(requests)).with_params(params)


@main.command()
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_params_options
def prepare(
    input_path: Path,
    spec: _BatchSpec,
    as_json: bool,
) -> None:
    """Validate INPUT and write the provider-native file. No network: a dry run."""
    with _errors(as_json):
        batch = _load_batch(input_path, spec)
        prepared = _registry().get(spec.provider).prepare(batch)
        info = {
            "local_id": prepared.local_id,
            "path": str(prepared.path),
            "requests": prepared.request_count,
            "bytes": prepared.byte_size,
        }
        click.echo(
            orjson.dumps(info).decode()
            if as_json
            else f"wrote {prepared.request_count} requests ({prepared.byte_size} bytes) to "
            f"{prepared.path}"
        )


def _parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        out[key] = value
    return out


def _router(
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
        default_options=_parse_options(options),
        on_notice=lambda message: click.echo(f"  {message}", err=True),
    )


_OPTION = click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Provider option, e.g. base_url=...; keys come from here or the environment.",
)
_INTERVAL = click.option(
    "--poll-interval",
    type=float,
    default=None,
    help="First polling interval in seconds (default 60; backs off x1.5 to 300).",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _say(quiet: bool) -> Any:
    def say(msg: str) -> None:
        if not quiet:
            click.echo(msg, err=True)

    return say


def _status_dict(st: Any) -> dict[str, Any]:
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


def _reasons(st: Any) -> list[str]:
    """One line per provider job that was refused or parked, with its reason."""
    from batch_router_core.jobs.ledger import JobState

    return [
        f"  {j.local_id}: {j.state.value}: {j.error}"
        for j in st.provider_jobs
        if j.state in (JobState.FAILED, JobState.NEEDS_ATTENTION)
    ]


def _exit_if_refused(router: Any, job_ids: list[str]) -> None:
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


class _Progress:
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


def _total(router: Any, job_ids: list[str]) -> int:
    return sum(router.ledger.logical(j).request_count for j in job_ids)


async def _write_results(
    router: Any, job_ids: list[str], out: Path, say: Any, quiet: bool = False, show: int = 0
) -> dict[str, int]:
    from batch_router_core.formats.unified import write_results_async

    counts: dict[str, int] = {}
    shown: list[str] = []
    progress = _Progress(say, quiet, "results", _total(router, job_ids))

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


async def _wait(router: Any, job_ids: list[str], say: Any, quiet: bool, timeout: float) -> Any:
    progress = _Progress(say, quiet, "waiting", _total(router, job_ids))
    try:
        return await router.wait_for_all(job_ids, timeout=timeout, on_status=progress.status)
    finally:
        progress.close()


@main.command()
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_params_options
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write unified results (default: results_<job id>.jsonl).",
)
@_OPTION
@click.option(
    "--emulator",
    is_flag=True,
    help="Start the provider's local emulator in-process and run against it (no key, no network).",
)
@click.option(
    "--shard", is_flag=True, help="Split a batch over the provider's limits into several jobs."
)
@_INTERVAL
@click.option("--timeout", type=float, default=86400.0, show_default=True)
@click.option(
    "--show",
    type=int,
    default=0,
    metavar="N",
    help="Also print the first N answers (custom_id: text) once the results are written.",
)
def run(
    input_path: Path,
    spec: _BatchSpec,
    as_json: bool,
    output: Path | None,
    options: tuple[str, ...],
    emulator: bool,
    shard: bool,
    poll_interval: float | None,
    timeout: float,
    show: int,
) -> None:
    """Submit INPUT, wait for it, and write unified results: the whole job, recorded in the
    ledger."""
    with _errors(as_json):
        batch = _load_batch(input_path, spec)
        say = _say(as_json)
        server = None
        extra: list[str] = []
        if emulator:
            from batch_router_core.emulation.server import serve_in_thread
            from batch_router_core.registry import BatchProviderRegistry

            probe = BatchProviderRegistry().get(spec.provider)
            server = serve_in_thread(probe.create_emulator({"speed": 3600.0}))
            extra = [f"{k}={v}" for k, v in probe.emulator_options(server.url).items()]
            say(f"started the local {spec.provider} emulator at {server.url} (no network, no key)")
            poll_interval = 0.2 if poll_interval is None else poll_interval
        try:
            router = _router(
                (*extra, *options), shard=shard, interval=poll_interval, provider=spec.provider
            )

            async def go() -> dict[str, Any]:
                job_id = await router.submit_batch(batch)
                say(f"submitted job {job_id}")
                final = (await _wait(router, [job_id], say, as_json, timeout))[job_id]
                out = output or Path(f"results_{job_id}.jsonl")
                counts = await _write_results(
                    router, [job_id], out, say, as_json, 0 if as_json else show
                )
                return {
                    **_status_dict(final),
                    "results": sum(counts.values()),
                    "output": str(out),
                    "counts": counts,
                }

            summary = _run_async(go(), router)
        finally:
            if server is not None:
                server.stop()
        if as_json:
            click.echo(orjson.dumps(summary).decode())
        _exit_if_refused(router, router.recorded_job_ids)


@main.command()
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_params_options
@_OPTION
@click.option(
    "--shard", is_flag=True, help="Split a batch over the provider's limits into several jobs."
)
def submit(
    input_path: Path,
    spec: _BatchSpec,
    as_json: bool,
    options: tuple[str, ...],
    shard: bool,
) -> None:
    """Validate and submit INPUT; prints the job id (then use status / wait / results)."""
    with _errors(as_json):
        batch = _load_batch(input_path, spec)
        router = _router(options, shard=shard)
        job_id = _run_async(router.submit_batch(batch), router)
        click.echo(orjson.dumps({"job_id": job_id}).decode() if as_json else job_id)
        _exit_if_refused(router, [job_id])


@main.command()
@click.argument("job_ids", nargs=-1, required=True)
@_OPTION
@_JSON
def status(job_ids: tuple[str, ...], options: tuple[str, ...], as_json: bool) -> None:
    """Poll and show the status of jobs."""
    with _errors(as_json):
        router = _router(options)
        statuses = _run_async(router.get_all_statuses(job_ids), router, job_ids=list(job_ids))
        for st in statuses.values():
            d = _status_dict(st)
            click.echo(
                orjson.dumps(d).decode()
                if as_json
                else f"{d['job_id']}: {d['status']} "
                f"{st.request_counts.done}/{st.request_counts.total} done"
            )
            if not as_json:
                for line in _reasons(st):
                    click.echo(line)


@main.command()
@click.argument("job_ids", nargs=-1, required=True)
@_OPTION
@_INTERVAL
@click.option("--timeout", type=float, default=86400.0, show_default=True)
@_JSON
def wait(
    job_ids: tuple[str, ...],
    options: tuple[str, ...],
    poll_interval: float | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Wait until jobs end, showing progress."""
    with _errors(as_json):
        router = _router(options, interval=poll_interval)
        statuses = _run_async(
            _wait(router, list(job_ids), _say(as_json), as_json, timeout),
            router,
            job_ids=list(job_ids),
        )
        if as_json:
            click.echo(orjson.dumps([_status_dict(s) for s in statuses.values()]).decode())


@main.command()
@click.argument("job_ids", nargs=-1, required=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
@_OPTION
@_JSON
def results(
    job_ids: tuple[str, ...], output: Path, options: tuple[str, ...], as_json: bool
) -> None:
    """Write the unified results of ended jobs (downloaded once, then served from disk)."""
    with _errors(as_json):
        router = _router(options)
        counts = _run_async(
            _write_results(router, list(job_ids), output, _say(as_json), as_json),
            router,
            job_ids=list(job_ids),
        )
        if as_json:
            click.echo(orjson.dumps({"output": str(output), "counts": counts}).decode())


@main.command()
@click.argument("job_ids", nargs=-1, required=True)
@_OPTION
@_JSON
def cancel(job_ids: tuple[str, ...], options: tuple[str, ...], as_json: bool) -> None:
    """Cancel jobs (every running provider job of each)."""
    with _errors(as_json):
        router = _router(options)
        done = _run_async(router.cancel_all(job_ids), router, job_ids=list(job_ids))
        click.echo(
            orjson.dumps(done).decode()
            if as_json
            else "\n".join(
                f"{k}: {'cancel requested' if v else 'nothing to cancel'}" for k, v in done.items()
            )
        )


@main.command()
@_JSON
def jobs(as_json: bool) -> None:
    """List the jobs in the ledger (no network)."""
    with _errors(as_json):
        router = _router(())
        listed = [(j, router.recorded_status(j.id)) for j in router.ledger.logical_jobs()]
        rows = [
            _status_dict(st)
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
            for line in _reasons(st):
                click.echo(line)


@main.command()
@_OPTION
@_INTERVAL
@click.option(
    "--no-wait", is_flag=True, help="Only re-attach and re-submit; do not wait for the jobs."
)
@_JSON
def resume(
    options: tuple[str, ...], poll_interval: float | None, no_wait: bool, as_json: bool
) -> None:
    """Continue every unfinished job after a crash: never submits a job twice."""
    with _errors(as_json):
        router = _router(options, interval=poll_interval)
        ids = _run_async(router.resume(wait=not no_wait), router)
        parked = [st for st in (router.recorded_status(i) for i in ids) if st.needs_attention]
        if as_json:
            click.echo(
                orjson.dumps(
                    {"resumed": ids, "needs_attention": [_status_dict(st) for st in parked]}
                ).decode()
            )
        else:
            click.echo("\n".join(f"resumed {i}" for i in ids) or "nothing to resume")
            for st in parked:
                click.echo(f"needs attention: {st.job_id}", err=True)
                for line in _reasons(st):
                    click.echo(line, err=True)
        if parked:
            sys.exit(EXIT_ATTENTION)


@main.command("retry-failed")
@click.argument("job_id")
@click.option("--provider", "-p", default=None, help="Re-run on another provider.")
@click.option("--model", "-m", default=None, help="Re-run with another model.")
@_OPTION
@_JSON
def retry_failed(
    job_id: str, provider: str | None, model: str | None, options: tuple[str, ...], as_json: bool
) -> None:
    """Re-submit only the requests of JOB_ID that errored or expired."""
    with _errors(as_json):
        router = _router(options)
        ids = _run_async(
            router.retry_failed(job_id, provider=provider, model=model), router, job_ids=[job_id]
        )
        click.echo(
            orjson.dumps({"retried": ids}).decode() if as_json else f"retried {len(ids)} requests"
        )


@main.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to create batch-router-NAME/.",
)
def new_plugin(name: str, directory: Path) -> None:
    """Create a new provider plugin distribution from the template (with an emulator and tests)."""
    with _errors(False):
        from batch_router_core.template import render_plugin

        root = render_plugin(name, directory)
        click.echo(
            f"created {root}\nnext: pip install -e '{root}[test]' && pytest {root}/{name}_tests"
        )


if __name__ == "__main__":  # pragma: no cover
    main()
