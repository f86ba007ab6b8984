"""Commands that take an input file: ``prepare``, ``submit`` and ``run``."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import attrs
import click
import orjson

from batch_router_core.cli._shared import (
    INTERVAL,
    OPTION,
    exit_if_refused,
    make_router,
    new_registry,
    reported_errors,
    run_async,
    sayer,
    status_dict,
    wait_for,
    write_results,
)
from batch_router_core.cli.app import main


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
    wire = new_registry().info(spec.provider).capabilities.wire_format
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
    with reported_errors(as_json):
        batch = _load_batch(input_path, spec)
        prepared = new_registry().get(spec.provider).prepare(batch)
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
    with reported_errors(as_json):
        batch = _load_batch(input_path, spec)
        say = sayer(as_json)
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
            router = make_router(
                (*extra, *options), shard=shard, interval=poll_interval, provider=spec.provider
            )

            async def go() -> dict[str, Any]:
                job_id = await router.submit_batch(batch)
                say(f"submitted job {job_id}")
                final = (await wait_for(router, [job_id], say, as_json, timeout))[job_id]
                out = output or Path(f"results_{job_id}.jsonl")
                counts = await write_results(
                    router, [job_id], out, say, as_json, 0 if as_json else show
                )
                return {
                    **status_dict(final),
                    "results": sum(counts.values()),
                    "output": str(out),
                    "counts": counts,
                }

            summary = run_async(go(), router)
        finally:
            if server is not None:
                server.stop()
        if as_json:
            click.echo(orjson.dumps(summary).decode())
        exit_if_refused(router, router.recorded_job_ids)


@main.command()
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_params_options
@OPTION
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
    with reported_errors(as_json):
        batch = _load_batch(input_path, spec)
        router = make_router(options, shard=shard)
        job_id = run_async(router.submit_batch(batch), router)
        click.echo(orjson.dumps({"job_id": job_id}).decode() if as_json else job_id)
        exit_if_refused(router, [job_id])
