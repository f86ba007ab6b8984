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

import sys
from pathlib import Path

import click
import orjson

from batch_router_core.cli._shared import (
    new_registry,
    reported_errors,
)


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
    with reported_errors(as_json):
        reg = new_registry()
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
    with reported_errors(False):
        handle = new_registry().get(provider)
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
    with reported_errors(False):
        from batch_router_core.template import render_plugin

        root = render_plugin(name, directory)
        click.echo(
            f"created {root}\nnext: pip install -e '{root}[test]' && pytest {root}/{name}_tests"
        )
