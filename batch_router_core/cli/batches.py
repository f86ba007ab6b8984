"""Commands that take an input file: ``prepare``, ``submit`` and ``run``."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import click
import orjson

from batch_router_core.cli._shared import (
    INTERVAL,
    OPTION,
    OUTPUT,
    TIMEOUT,
    check_output_path,
    error_budget,
    exit_if_refused,
    job_summary,
    ledger_label,
    make_router,
    new_registry,
    outcome_exit,
    parse_options,
    reasons,
    reported_errors,
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
from batch_router_core.cost.estimate import DEFAULT_EXPECTED_OUTPUT, CostEstimate, check_cost_cap


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
    stop_sequences: tuple[str, ...]
    presence_penalty: float | None
    frequency_penalty: float | None
    seed: int | None
    embedding_dimensions: int | None
    output_schema: Path | None
    reasoning_effort: str | None
    thinking_budget: int | None
    provider_kwargs: tuple[str, ...]


_SPEC_FIELDS = tuple(f.name for f in attrs.fields(_BatchSpec))


def _params_options(fn: Any) -> Any:
    """The batch options (and ``--json``), handed to the command as one ``spec: _BatchSpec``."""

    @functools.wraps(fn)
    def command(**kwargs: Any) -> Any:
        spec = _BatchSpec(**{name: kwargs.pop(name) for name in _SPEC_FIELDS})
        return fn(spec=spec, **kwargs)

    options = [
        click.option(
            "--provider", "-p", required=True, help="Provider name (`batch-router providers`)."
        ),
        click.option("--model", "-m", required=True, help="Model id, e.g. gpt-4o-mini."),
        click.option(
            "--mode",
            type=click.Choice(["chat", "completion", "embedding"]),
            default="chat",
            show_default=True,
            help="What the requests are.",
        ),
        click.option(
            "--system",
            "system_prompt",
            default=None,
            help="System prompt for every request (overrides a line's own).",
        ),
        click.option(
            "--max-output-tokens",
            type=click.IntRange(min=1),
            default=None,
            help="Most tokens each answer may have (Anthropic needs it).",
        ),
        click.option("--temperature", type=click.FloatRange(0, 2), default=None, help="0 to 2."),
        click.option("--top-p", type=click.FloatRange(0, 1), default=None, help="0 to 1."),
        click.option("--top-k", type=click.IntRange(min=1), default=None, help="Top-k sampling."),
        click.option(
            "--stop",
            "stop_sequences",
            multiple=True,
            metavar="TEXT",
            help="A stop sequence (repeat for several).",
        ),
        click.option(
            "--presence-penalty", type=click.FloatRange(-2, 2), default=None, help="-2 to 2."
        ),
        click.option(
            "--frequency-penalty", type=click.FloatRange(-2, 2), default=None, help="-2 to 2."
        ),
        click.option("--seed", type=int, default=None, help="Sampling seed, where supported."),
        click.option(
            "--dimensions",
            "embedding_dimensions",
            type=click.IntRange(min=1),
            default=None,
            help="Embedding size (embedding mode).",
        ),
        click.option(
            "--output-schema",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            metavar="SCHEMA.json",
            help="A JSON Schema (an object schema) every answer must conform to: structured "
            "output; answers that do not are errored, with the reason.",
        ),
        click.option(
            "--reasoning-effort",
            type=click.Choice(["minimal", "low", "medium", "high"]),
            default=None,
            help="How hard a reasoning model thinks (OpenAI reasoning_effort, Anthropic effort, "
            "Gemini thinking_level).",
        ),
        click.option(
            "--thinking-budget",
            type=click.IntRange(min=0),
            default=None,
            metavar="TOKENS",
            help="Most tokens a model may think for (Anthropic, Gemini); 0 turns thinking off.",
        ),
        click.option(
            "--provider-kwarg",
            "provider_kwargs",
            multiple=True,
            metavar="KEY=JSON",
            help="A provider-specific request field, passed through as is (repeatable), e.g. "
            "'service_tier=\"flex\"'.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout."),
    ]
    for opt in reversed(options):
        command = opt(command)
    return command


@attrs.frozen
class _TableSpec:
    """How INPUT is read: its format (by its suffix unless given) and, for a table, its columns."""

    input_format: str | None
    columns: Any


def _input_options(fn: Any) -> Any:
    """``--input-format`` and the column options, handed over as ``table: _TableSpec``."""

    @functools.wraps(fn)
    def command(
        input_format: str | None,
        prompt_column: str,
        id_column: str | None,
        system_column: str | None,
        **kwargs: Any,
    ) -> Any:
        from batch_router_core.formats.tabular import Columns

        columns = Columns(prompt=prompt_column, id=id_column, system=system_column)
        return fn(table=_TableSpec(input_format, columns), **kwargs)

    options = [
        click.option(
            "--input-format",
            type=click.Choice(["jsonl", "csv", "parquet"]),
            default=None,
            help="INPUT's format (default: by its suffix; JSONL for stdin).",
        ),
        click.option(
            "--prompt-column",
            default="prompt",
            show_default=True,
            help="CSV/Parquet: the column holding each request's text.",
        ),
        click.option(
            "--id-column",
            default=None,
            help="CSV/Parquet: the column of custom_ids (default: custom_id if present, else "
            "row-1, row-2... by position).",
        ),
        click.option(
            "--system-column",
            default=None,
            help="CSV/Parquet: a column of per-row system prompts (default: system_prompt if "
            "present).",
        ),
    ]
    for opt in reversed(options):
        command = opt(command)
    return command


def _input_path(input_path: Path, table: _TableSpec) -> Path:
    """INPUT as a file: ``-`` (stdin) is copied to a user-only file in the state directory first,
    so that it is read once, in a stream, and can be read again to name lines in errors."""
    if str(input_path) != "-":
        if not input_path.is_file():
            raise click.BadParameter(f"{input_path} is not a file", param_hint="INPUT")
        return input_path
    import atexit
    import shutil
    import time

    from batch_router_core.files import GeneratedFiles, atomic_file

    suffix = {"csv": ".csv", "parquet": ".parquet"}.get(table.input_format or "", ".jsonl")
    where = GeneratedFiles(state_dir()).provider_dir("stdin")
    path = where / f"stdin-{time.strftime('%Y%m%dT%H%M%S')}-{id(table):x}{suffix}"
    with atomic_file(path) as fh:
        shutil.copyfileobj(sys.stdin.buffer, fh, 1 << 20)
    # The job keeps its own copy of the requests: this one only lives as long as the command.
    atexit.register(path.unlink, missing_ok=True)
    return path


def _is_table(path: Path, table: _TableSpec) -> bool:
    from batch_router_core.formats.tabular import table_format

    fmt = table.input_format or table_format(path) or "jsonl"
    if table.input_format is not None and table.input_format != (table_format(path) or "jsonl"):
        raise click.BadParameter(
            f"{path} has the suffix of another format than --input-format {table.input_format}",
            param_hint="--input-format",
        )
    return fmt != "jsonl"


def _flag_params(spec: _BatchSpec) -> dict[str, Any]:
    """The generation settings given as flags (those not given are left out)."""
    kwargs: dict[str, Any] = {}
    for pair in spec.provider_kwargs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(
                f"expected KEY=JSON, got {pair!r}", param_hint="--provider-kwarg"
            )
        try:
            kwargs[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            kwargs[key] = raw  # a bare word is a string: service_tier=flex
    given = {
        "system_prompt": spec.system_prompt,
        "max_output_tokens": spec.max_output_tokens,
        "temperature": spec.temperature,
        "top_p": spec.top_p,
        "top_k": spec.top_k,
        "stop_sequences": spec.stop_sequences or None,
        "presence_penalty": spec.presence_penalty,
        "frequency_penalty": spec.frequency_penalty,
        "seed": spec.seed,
        "embedding_dimensions": spec.embedding_dimensions,
        "output_schema": _schema_file(spec.output_schema) if spec.output_schema else None,
        "reasoning_effort": spec.reasoning_effort,
        "thinking_budget": spec.thinking_budget,
        "provider_kwargs": kwargs or None,
    }
    return {k: v for k, v in given.items() if v is not None}


def _schema_file(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(
            f"{path} is not JSON: {exc}", param_hint="--output-schema"
        ) from None


@attrs.frozen
class _Input:
    """INPUT as a stream of requests for one provider, read lazily (never held whole)."""

    path: Path
    params: Any
    requests: Any
    #: the file's own problems, found while it is read; the provider's checks add theirs
    issues: list[Any]
    table: _TableSpec


def _read(input_path: Path, spec: _BatchSpec, options: dict[str, str], table: _TableSpec) -> _Input:
    """INPUT for the provider the flags name (an unknown provider or option key is refused here).

    The settings of one run combine by one rule: a flag applies to every request and overrides the
    same setting on a line (or a row's column); a line's own setting applies where no flag is
    given.
    """
    from batch_router_core.formats.tabular import read_table
    from batch_router_core.formats.unified import read_input
    from batch_router_core.models import InferenceParams

    flags = _flag_params(spec)
    params = InferenceParams(
        provider_id=spec.provider, model_id=spec.model, mode=spec.mode, **flags
    )
    handle = new_registry().get(spec.provider, **options)
    # Fields of the OpenAI batch format without a unified name pass through only to a provider that
    # speaks that format; for any other provider they are an error.
    wire = handle.info.capabilities.wire_format
    issues: list[Any] = []
    if _is_table(input_path, table):
        requests = read_table(input_path, table.columns, issues=issues)
    else:
        requests = read_input(input_path, openai_passthrough=wire == "openai_batch", issues=issues)
    if flags:
        requests = (_flags_win(r, flags) for r in requests)
    return _Input(path=input_path, params=params, requests=requests, issues=issues, table=table)


@contextmanager
def _located(source: _Input) -> Iterator[None]:
    """Every problem of the input, the provider's checks included, with its file and line."""
    from batch_router_core.errors import ValidationError

    try:
        yield
    except ValidationError as exc:
        located = _locate(exc.issues, source.path, source.table)
        raise ValidationError(located, provider=exc.provider) from None


def _flags_win(request: Any, flags: dict[str, Any]) -> Any:
    own = request.params
    if own is None:
        return request
    cleared = {k: None for k in flags if getattr(own, k, None) is not None}
    return attrs.evolve(request, params=attrs.evolve(own, **cleared)) if cleared else request


def _ids_by_line(path: Path, table: _TableSpec) -> Iterator[tuple[int, Any]]:
    """``(line, custom_id)`` of each request of INPUT (a table's row ids as read_table makes
    them)."""
    from batch_router_core.files import iter_jsonl_lines

    if _is_table(path, table):
        from batch_router_core.formats.tabular import row_ids

        yield from row_ids(path, table.columns)
        return
    for number, raw in iter_jsonl_lines(path):
        try:
            yield number, orjson.loads(raw).get("custom_id")
        except (orjson.JSONDecodeError, AttributeError):
            continue


def _locate(issues: list[Any], path: Path, table: _TableSpec) -> list[Any]:
    """Give the provider's checks (which see requests, not lines) the file and line of each
    request they name; a second read of the file, only when something is wrong."""
    from batch_router_core.errors import ValidationIssue

    wanted = {i.custom_id for i in issues if i.line is None and i.custom_id is not None}
    lines: dict[str, list[int]] = {}
    if wanted:
        for number, cid in _ids_by_line(path, table):
            if cid in wanted:
                lines.setdefault(cid, []).append(number)
    located = []
    for issue in issues:
        found = lines.get(issue.custom_id, []) if issue.line is None else []
        if issue.line is None and issue.custom_id is not None and found:
            # A duplicate id names the line of its second use (the first one is fine).
            index = 1 if "duplicate" in issue.message and len(found) > 1 else 0
            issue = ValidationIssue(
                issue.message,
                custom_id=issue.custom_id,
                field=issue.field,
                path=str(path),
                line=found[index],
            )
        located.append(issue)
    located.sort(key=lambda i: (i.line is not None, i.line or 0))
    return located


def _cost_options(fn: Any) -> Any:
    """``--max-cost`` and ``--expected-output-tokens``, handed over as ``cost: _CostSpec``."""

    @functools.wraps(fn)
    def command(max_cost: float | None, expected_output_tokens: int, **kwargs: Any) -> Any:
        return fn(cost=_CostSpec(max_cost, expected_output_tokens), **kwargs)

    command = click.option(
        "--expected-output-tokens",
        type=click.IntRange(min=0),
        default=DEFAULT_EXPECTED_OUTPUT,
        show_default=True,
        metavar="N",
        help="Output tokens expected of a request in the cost estimate (capped by its max "
        "output tokens).",
    )(command)
    return click.option(
        "--max-cost",
        type=click.FloatRange(min=0),
        default=None,
        metavar="USD",
        help="Refuse, before anything is uploaded, a job whose cost could exceed USD (its "
        "upper-bound estimate: every request writing its max output tokens). Exit 11.",
    )(command)


@attrs.frozen
class _CostSpec:
    max_cost: float | None
    expected_output: int

    def router_options(self) -> dict[str, Any]:
        return {"max_cost": self.max_cost, "expected_output_tokens": self.expected_output}


def _say_estimate(estimate: Any, model: str, quiet: bool) -> None:
    from batch_router_core.cost.report import estimate_line

    if estimate is not None:
        say(estimate_line(estimate, model), quiet=quiet)


EXAMPLES_PREPARE = """
\b
Examples:
  batch-router prepare questions.jsonl -p openai -m gpt-4o-mini
  batch-router prepare big.jsonl -p anthropic -m claude-3-5-haiku-latest \\
      --max-output-tokens 512 --shard --json
"""


@main.command(epilog=EXAMPLES_PREPARE)
@click.argument("input_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@_input_options
@_params_options
@click.option(
    "--shard", is_flag=True, help="Split a batch over the provider's limits into several files."
)
@_cost_options
def prepare(
    input_path: Path,
    spec: _BatchSpec,
    as_json: bool,
    shard: bool,
    cost: _CostSpec,
    table: _TableSpec,
) -> None:
    """Validate INPUT and write the provider-native file(s). A dry run: no network, no key.

    Every problem is reported at once, each with its file, line, custom_id and field. Shows what
    the job would cost (docs/cost.md); with --max-cost, exits 11 when it could cost more.
    """
    with reported_errors(as_json):
        from batch_router_core.errors import CostLimitError
        from batch_router_core.jobs.shards import remove_shard_files, write_request_stream

        source = _read(_input_path(input_path, table), spec, {}, table)
        registry = new_registry()
        with _located(source):
            shards = write_request_stream(
                registry.get(spec.provider),
                source.requests,
                source.params,
                registry.files,
                shard=shard,
                issues=source.issues,
                expected_output=cost.expected_output,
            )
        files = []
        total = CostEstimate.total(piece["estimate"] for piece in shards)
        assert total is not None  # every shard is estimated when it is written
        for piece in shards:
            Path(piece["requests_path"]).unlink(missing_ok=True)  # the router's own copy
            path = Path(piece["input_path"])
            files.append(
                {
                    "local_id": piece["local_id"],
                    "path": str(path),
                    "requests": piece["request_count"],
                    "bytes": path.stat().st_size,
                    "estimate": piece["estimate"].to_data(),
                }
            )
        if cost.max_cost is not None:  # the check submit makes, on the same estimate
            try:
                check_cost_cap(total, cost.max_cost)
            except CostLimitError:
                remove_shard_files(shards)
                raise
        if as_json:
            first = files[0]
            click.echo(
                orjson.dumps(
                    {
                        **first,
                        "requests": sum(f["requests"] for f in files),
                        "bytes": sum(f["bytes"] for f in files),
                        "estimate": total.to_data(),
                        "files": files,
                    }
                ).decode()
            )
            return
        for f in files:
            click.echo(f"wrote {f['requests']} requests ({f['bytes']} bytes) to {f['path']}")
        if len(files) > 1:
            click.echo(f"{len(files)} provider jobs: {sum(f['requests'] for f in files)} requests")
        _say_estimate(total, spec.model, quiet=False)


EXAMPLES_RUN = """
\b
Examples:
  batch-router run examples/questions.jsonl -p vllm -m smollm2-135m-instruct
  batch-router run in.jsonl -p openai -m gpt-4o-mini --emulator --show 3
  batch-router run in.jsonl -p anthropic -m claude-3-5-haiku-latest \\
      --max-output-tokens 256 --shard -o answers.jsonl --max-error-rate 0.01
"""


@main.command(epilog=EXAMPLES_RUN)
@click.argument("input_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@_input_options
@_params_options
@OUTPUT
@OPTION
@click.option(
    "--emulator",
    is_flag=True,
    help="Start the provider's local emulator in-process and run against it (no key, no network).",
)
@click.option(
    "--shard", is_flag=True, help="Split a batch over the provider's limits into several jobs."
)
@INTERVAL
@TIMEOUT
@error_budget
@click.option(
    "--show",
    type=int,
    default=0,
    metavar="N",
    help="Also print the first N answers (custom_id: text) once the results are written.",
)
@_cost_options
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
    allow_errors: bool,
    max_error_rate: float,
    show: int,
    cost: _CostSpec,
    table: _TableSpec,
) -> None:
    """Submit INPUT, wait for it, and write unified results: the whole job, recorded in the
    ledger of the state directory.

    Exits 0 when every request succeeded, 8 when some did not (see --max-error-rate), 9 when the
    job failed, expired or was cancelled; `batch-router --help` lists every exit code.
    """
    if as_json and output is not None and str(output) == "-":
        raise click.UsageError("--json and -o - both want stdout: choose one")
    with reported_errors(as_json):
        given = parse_options(options)
        source = _read(_input_path(input_path, table), spec, given, table)
        # The default output goes to the working directory: either must be writable before a cent
        # is spent.
        check_output_path(output or Path("results.jsonl"))
        server = None
        interval = poll_interval
        if emulator:
            from batch_router_core.emulation.server import serve_in_thread

            probe = new_registry().get(spec.provider)
            server = serve_in_thread(probe.create_emulator({"speed": 3600.0}))
            given = {**probe.emulator_options(server.url), **given}
            say(
                f"started the local {spec.provider} emulator at {server.url} (no network, no key)",
                quiet=as_json,
            )
            interval = 0.2 if poll_interval is None else poll_interval
        router = make_router(
            given,
            shard=shard,
            interval=interval,
            provider=spec.provider,
            **cost.router_options(),
        )
        try:

            async def go() -> tuple[Any, Path, dict[str, int]]:
                with _located(source):
                    job_id = await router.submit_requests(
                        source.requests, source.params, issues=source.issues
                    )
                ids = [j.batch_id or j.local_id for j in router.ledger.jobs_of(job_id)]
                say(
                    f"submitted job {job_id} ({', '.join(ids)}) in {state_dir()}",
                    quiet=as_json,
                )
                _say_estimate(router.last_estimates.get(job_id), spec.model, as_json)
                await wait_for(router, [job_id], as_json, timeout)
                out = output or Path(f"results_{job_id}.jsonl")
                counts = await write_results(
                    router,
                    [job_id],
                    out,
                    as_json,
                    0 if as_json else show,
                    join=source.path if _is_table(source.path, table) else None,
                    columns=table.columns,
                )
                return router.recorded_status(job_id), out, counts

            final, out, counts = run_async(go(), router)
        finally:
            if server is not None:
                server.stop()
        final = with_result_counts(final, counts)
        if as_json:
            click.echo(
                orjson.dumps(
                    {**job_summary(final), "results": sum(counts.values()), "output": str(out)}
                ).decode()
            )
        else:
            say(status_line(final))
            for line in reasons(final):
                say(line)
        exit_if_refused(router, router.recorded_job_ids)
        sys.exit(outcome_exit([final], tolerated(allow_errors, max_error_rate)))


EXAMPLES_SUBMIT = """
\b
Examples:
  JOB=$(batch-router submit in.jsonl -p openai -m gpt-4o-mini)
  batch-router wait "$JOB" && batch-router results "$JOB" -o answers.jsonl
"""


@main.command(epilog=EXAMPLES_SUBMIT)
@click.argument("input_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@_input_options
@_params_options
@OPTION
@click.option(
    "--shard", is_flag=True, help="Split a batch over the provider's limits into several jobs."
)
@click.option(
    "--record-only",
    is_flag=True,
    help="Validate and record the job without sending it: `batch-router worker` processes "
    "sharing the ledger send and run it.",
)
@_cost_options
def submit(
    input_path: Path,
    spec: _BatchSpec,
    as_json: bool,
    options: tuple[str, ...],
    shard: bool,
    record_only: bool,
    cost: _CostSpec,
    table: _TableSpec,
) -> None:
    """Validate and submit INPUT; prints the job id on stdout (then use status / wait / results).

    Non-secret options (base_url...) are remembered with the job: later commands need only its id.
    Shards beyond the provider's limits on jobs or tokens in flight are sent by `wait` (or `run`,
    `resume`) as earlier ones finish. With --record-only nothing is sent: workers do it.
    """
    with reported_errors(as_json):
        given = parse_options(options)
        source = _read(_input_path(input_path, table), spec, given, table)
        router = make_router(given, shard=shard, provider=spec.provider, **cost.router_options())
        with _located(source):
            job_id = run_async(
                router.submit_requests(
                    source.requests, source.params, issues=source.issues, send=not record_only
                ),
                router,
            )
        if as_json:
            click.echo(orjson.dumps({**job_summary(router.recorded_status(job_id))}).decode())
        else:
            click.echo(job_id)
            say(f"recorded in {ledger_label()}" + (" for the workers" if record_only else ""))
            _say_estimate(router.last_estimates.get(job_id), spec.model, quiet=False)
        exit_if_refused(router, [job_id])
