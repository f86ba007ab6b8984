"""The ``batch-router`` command line.

Exit codes (stable, for scripts):

* 0 - success
* 1 - an error not covered below (including a batch that ended FAILED/EXPIRED with ``--strict``)
* 2 - bad command-line usage
* 3 - invalid input or configuration: nothing was uploaded or spent
* 4 - a provider refused or failed a call
* 5 - timed out waiting for a batch
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import orjson

from .errors import (
    BatchRouterError,
    BatchTimeoutError,
    ConfigError,
    PluginLoadError,
    ProviderError,
    ProviderNotFoundError,
    ValidationError,
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INVALID, EXIT_PROVIDER, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5


def _exit_code(exc: BaseException) -> int:
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
        yield
    except BatchRouterError as exc:
        if as_json:
            payload: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
            if isinstance(exc, ValidationError):
                payload["issues"] = [i.as_dict() for i in exc.issues]
            click.echo(orjson.dumps(payload).decode())
        else:
            click.echo(f"error: {exc}", err=True)
        sys.exit(_exit_code(exc))


def _registry() -> Any:
    from .registry import BatchProviderRegistry

    return BatchProviderRegistry()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="batch-router-core")
def main() -> None:
    """One interface to LLM batch inference on every provider."""


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
            rows.append({
                "name": rec.name,
                "distribution": rec.distribution,
                "version": rec.version,
                "display_name": info.display_name,
                "modes": [m.value for m in info.modes],
                "models": list(info.models),
                "limits": {"max_requests": info.limits.max_requests, "max_bytes": info.limits.max_bytes},
                "capabilities": {
                    "cancel": caps.cancel,
                    "list_jobs": caps.list_jobs,
                    "content": {k: list(v) for k, v in caps.content.items()},
                },
            })
        errors = {name: str(err) for name, err in reg.load_errors.items()}
        if as_json:
            click.echo(orjson.dumps({"providers": rows, "errors": errors}).decode())
            return
        if not rows:
            click.echo("no provider plugins installed (try: pip install batch-router-openai)")
        for r in rows:
            dist = f"{r['distribution']} {r['version']}" if r["distribution"] else "registered in code"
            click.echo(f"{r['name']:<12} {dist:<28} modes={','.join(r['modes'])} "
                       f"max_requests={r['limits']['max_requests']} cancel={r['capabilities']['cancel']}")
        for name, err in errors.items():
            click.echo(f"{name:<12} FAILED TO LOAD: {err}", err=True)


@main.command()
@click.argument("provider")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--speed", default=1.0, show_default=True, type=float,
              help="How much faster than real time the emulated clock runs (3600 = an hour a second).")
def emulate(provider: str, host: str, port: int, speed: float) -> None:
    """Run PROVIDER's local emulator of its batch API until interrupted."""
    with _errors(False):
        handle = _registry().get(provider)
        app = handle.create_emulator({"speed": speed})
        from .emulation.server import serve_forever

        click.echo(f"{provider} emulator on http://{host}:{port} "
                   f"(base path {handle.info.settings.get('emulator_base_path', '/')}); Ctrl-C stops it",
                   err=True)
        serve_forever(app, host=host, port=port)


def _params_options(fn: Any) -> Any:
    options = [
        click.option("--provider", "-p", required=True, help="Provider name (see `providers`)."),
        click.option("--model", "-m", required=True, help="Model id."),
        click.option("--mode", type=click.Choice(["chat", "completion", "embedding"]), default="chat",
                     show_default=True),
        click.option("--system", "system_prompt", default=None, help="System prompt for every request."),
        click.option("--max-output-tokens", type=int, default=None),
        click.option("--temperature", type=float, default=None),
        click.option("--top-p", type=float, default=None),
        click.option("--top-k", type=int, default=None),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def _load_batch(input_path: Path, provider: str, model: str, mode: str, system_prompt: str | None,
                max_output_tokens: int | None, temperature: float | None, top_p: float | None,
                top_k: int | None) -> Any:
    from .models import InferenceParams, InputBatch
    from .unified_io import read_requests

    params = InferenceParams(
        provider_id=provider, model_id=model, mode=mode, system_prompt=system_prompt,
        max_output_tokens=max_output_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
    )
    return InputBatch(requests=tuple(read_requests(input_path))).with_params(params)


@main.command()
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_params_options
def prepare(input_path: Path, provider: str, model: str, mode: str, system_prompt: str | None,
            max_output_tokens: int | None, temperature: float | None, top_p: float | None,
            top_k: int | None, as_json: bool) -> None:
    """Validate INPUT and write the provider-native file. No network: a dry run."""
    with _errors(as_json):
        batch = _load_batch(input_path, provider, model, mode, system_prompt, max_output_tokens,
                            temperature, top_p, top_k)
        prepared = _registry().get(provider).prepare(batch)
        info = {"local_id": prepared.local_id, "path": str(prepared.path),
                "requests": prepared.request_count, "bytes": prepared.byte_size}
        click.echo(orjson.dumps(info).decode() if as_json else
                   f"wrote {prepared.request_count} requests ({prepared.byte_size} bytes) to {prepared.path}")


def _parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        out[key] = value
    return out


@main.command()
@click.argument("input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_params_options
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write unified results (default: results_<local id>.jsonl).")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Provider option, e.g. base_url=... (keys come from arguments or the environment).")
@click.option("--emulator", is_flag=True,
              help="Start the provider's local emulator in-process and run against it (no key, no network).")
@click.option("--poll-interval", type=float, default=None,
              help="First polling interval in seconds (default 60, or 0.2 with --emulator).")
@click.option("--timeout", type=float, default=86400.0, show_default=True)
def run(input_path: Path, provider: str, model: str, mode: str, system_prompt: str | None,
        max_output_tokens: int | None, temperature: float | None, top_p: float | None,
        top_k: int | None, as_json: bool, output: Path | None, options: tuple[str, ...],
        emulator: bool, poll_interval: float | None, timeout: float) -> None:
    """Submit INPUT to a provider, wait for it, and write unified results: the whole job."""
    with _errors(as_json):
        batch = _load_batch(input_path, provider, model, mode, system_prompt, max_output_tokens,
                            temperature, top_p, top_k)
        opts: dict[str, Any] = _parse_options(options)
        reg = _registry()
        server = None
        if emulator:
            probe = reg.get(provider)
            from .emulation.server import serve_in_thread

            server = serve_in_thread(probe.create_emulator({"speed": 3600.0}))
            opts.setdefault("base_url", server.url + probe.info.settings.get("emulator_base_path", ""))
            opts.setdefault("api_key", "emulator-key")
            click.echo(f"started the local {provider} emulator at {server.url} (no network, no key)",
                       err=True)
        try:
            summary = asyncio.run(_run(reg, provider, opts, batch, output, poll_interval or (
                0.2 if emulator else 60.0), timeout, quiet=as_json))
        finally:
            if server is not None:
                server.stop()
        if as_json:
            click.echo(orjson.dumps(summary).decode())


async def _run(reg: Any, provider: str, opts: dict[str, Any], batch: Any, output: Path | None,
               interval: float, timeout: float, *, quiet: bool) -> dict[str, Any]:
    from .waiting import wait_until_done

    handle_p = reg.get(provider, **opts)
    prepared = handle_p.prepare(batch)
    def say(msg: str) -> None:
        if not quiet:
            click.echo(msg, err=True)

    say(f"prepared {prepared.request_count} requests -> {prepared.path}")
    handle = await handle_p.submit(prepared)
    say(f"submitted {provider} job {handle.batch_id}")
    last: list[str] = []

    def progress(report: Any) -> None:
        c = report.request_counts
        line = f"  {report.status.value:<11} {c.done}/{c.total or handle.request_count} done"
        if not last or last[-1] != line:
            last.append(line)
            say(line)

    final = await wait_until_done(handle_p, handle, initial_interval=interval,
                                  max_interval=max(interval, 300.0 if interval >= 60 else 5.0),
                                  timeout=timeout, on_status=progress)
    out = output or Path(f"results_{prepared.local_id}.jsonl")
    from .unified_io import write_results_async

    counts: dict[str, int] = {}

    async def tally() -> Any:
        async for r in handle_p.fetch_results(handle):
            counts[r.status.value] = counts.get(r.status.value, 0) + 1
            yield r

    n = await write_results_async(out, tally())
    say(f"{final.status.value}: wrote {n} results to {out} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
    return {"batch_id": handle.batch_id, "local_id": handle.local_id, "status": final.status.value,
            "results": n, "output": str(out), "counts": counts}


if __name__ == "__main__":  # pragma: no cover
    main()
