"""The ``batch-router`` command line.

Exit codes (stable, for scripts; the same for every command):

* 0 - success (every request succeeded, or within ``--max-error-rate`` / ``--allow-errors``)
* 1 - an unexpected error (a bug: please report it with the message)
* 2 - bad command-line usage
* 3 - invalid input or configuration (including an unknown ``--option`` key or a missing key):
  nothing was uploaded or spent
* 4 - a provider was unreachable, or refused or failed a call
* 5 - the job has not ended: timed out waiting, or ``results`` asked of a running job
* 6 - a job needs attention: batch-router parked part of it rather than risk a wrong or double
  submission (``batch-router status JOB`` shows the reason)
* 7 - batch-router's own files cannot be used: the ledger (damaged, emptied, read-only, locked,
  deleted while in use) or the generated and result files (missing directory, read-only, disk
  full); the message names the file and what to do
* 8 - the job ended but some requests errored, expired or were cancelled (more than
  ``--max-error-rate`` allows)
* 9 - the job failed, expired or was cancelled as a whole
* 10 - unknown job id (not in the ledger of this state directory)
* 11 - over the cost cap: the job could cost more than ``--max-cost``; nothing was sent
* 130 / 143 - interrupted by Ctrl-C / SIGTERM; the job is safe in the ledger and the message
  prints the command that re-attaches to it
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import click
import orjson

from batch_router_core.cli._shared import (
    new_registry,
    reported_errors,
)

_EPILOG = """
\b
State: the ledger and generated files live in the state directory: --state-dir, else
$BATCH_ROUTER_STATE_DIR, else ~/.local/state/batch-router (the same from every directory).
Keys come from the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY).

\b
Exit codes: 0 ok, 2 usage, 3 invalid input (nothing spent), 4 provider unreachable or refused,
5 not ended (timeout), 6 needs attention, 7 local files, 8 some requests failed, 9 job failed,
expired or cancelled, 10 unknown job, 11 over --max-cost, 130/143 interrupted. Any option can
come from the environment as BATCH_ROUTER_<COMMAND>_<OPTION> (BATCH_ROUTER_RUN_POLL_INTERVAL=5).
Completion:
eval "$(_BATCH_ROUTER_COMPLETE=bash_source batch-router)"   (zsh_source, fish_source)
"""


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "BATCH_ROUTER"},
    epilog=_EPILOG,
)
@click.version_option(package_name="batch-router-core")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the ledger and generated files live (default: $BATCH_ROUTER_STATE_DIR, else "
    "~/.local/state/batch-router).",
)
@click.option(
    "--ledger",
    default=None,
    metavar="URL|PATH",
    help="The job ledger: a postgresql:// URL that processes on many machines share, or a SQLite "
    "file (default: $BATCH_ROUTER_LEDGER, else ledger.sqlite3 in the state directory).",
)
def main(state_dir: Path | None, ledger: str | None) -> None:
    """One interface to LLM batch inference on every provider."""
    from batch_router_core.files import STATE_DIR_ENV, default_state_dir

    # A command streams millions of short-lived objects (requests in, results out) and creates
    # no reference cycles worth collecting often: CPython's default (a young collection every 700
    # allocations, each walking whatever a shard holds) cost 10-15% of a large run's CPU.
    gc.set_threshold(50_000, 20, 20)

    if state_dir is not None:
        # Through the environment, so that every part (and every child process) agrees on it.
        os.environ[STATE_DIR_ENV] = str(state_dir.expanduser().absolute())
    if ledger:
        from batch_router_core.jobs.ledgers import LEDGER_ENV, is_server_url

        os.environ[LEDGER_ENV] = (
            ledger if is_server_url(ledger) else str(Path(ledger).expanduser().absolute())
        )
    _configure_logging()
    from batch_router_core.cli.progress import say
    from batch_router_core.retry import retry_notices

    retry_notices.set(lambda message: say(f"  {message}"))
    old = Path(".batch_router", "ledger.sqlite3")
    if old.is_file() and old.parent.absolute() != default_state_dir().absolute():
        click.echo(
            f"note: ./.batch_router holds a ledger this command does not use (it uses "
            f"{default_state_dir()}); pass --state-dir .batch_router to use it",
            err=True,
        )


def _configure_logging() -> None:
    """The command line prints its own one-line notices; the library's structured events go to
    stderr (above any progress line) only when ``BATCH_ROUTER_LOG`` names a level (debug, info,
    warning, error)."""
    import logging

    from batch_router_core.cli.progress import LogToDisplay

    level = os.environ.get("BATCH_ROUTER_LOG", "").upper()
    log = logging.getLogger("batch_router")
    log.propagate = False
    if level:
        handler = LogToDisplay()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(level)
    else:
        log.addHandler(logging.NullHandler())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def providers(as_json: bool) -> None:
    """List the installed provider plugins (no provider SDK is imported): modes, limits, the
    --option keys each reads and the environment variables its SDK reads.

    \b
    Example:
      batch-router providers --json | jq '.providers[] | {name, option_keys}'
    """
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
                    "option_keys": list(info.option_keys),
                    "env_options": dict(info.env_options),
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


@main.command(no_args_is_help=True)
@click.argument("provider")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=int, help="Port to listen on (0: any free one)."
)
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
@click.option(
    "--api-key",
    envvar="BATCH_ROUTER_EMULATOR_KEY",
    default=None,
    help="Require this key on every route, control routes included (default: any key).",
)
@click.option(
    "--webhook-url",
    default=None,
    metavar="URL",
    help="Push signed batch events (batch.completed...) to this URL, as the provider would "
    "(emulators of providers that send webhooks: OpenAI, Google).",
)
@click.option(
    "--webhook-secret",
    envvar="BATCH_ROUTER_EMULATOR_WEBHOOK_SECRET",
    default=None,
    metavar="whsec_...",
    help="The signing secret for --webhook-url (default: a new one, printed).",
)
def emulate(
    provider: str,
    host: str,
    port: int,
    speed: float,
    chaos: float,
    chaos_seed: int | None,
    api_key: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
) -> None:
    """Run PROVIDER's local emulator of its batch API until interrupted.

    Prints the environment variables that point the provider's SDK (and batch-router) at it.
    With --api-key (or $BATCH_ROUTER_EMULATOR_KEY) every route, the control routes included,
    needs that key, so an emulator on a shared machine answers only its user.

    \b
    Example:
      batch-router emulate openai --port 8080 --speed 3600 &
      batch-router run in.jsonl -p openai -m gpt-4o-mini --option base_url=http://127.0.0.1:8080/v1
    """
    with reported_errors(False):
        handle = new_registry().get(provider)
        emulator_options: dict[str, object] = {"speed": speed}
        if api_key:
            emulator_options["api_key"] = api_key
        if webhook_url:
            from batch_router_core.webhooks.signatures import new_secret

            if not webhook_secret:
                webhook_secret = new_secret()
                click.echo(f"signing webhooks with {webhook_secret}", err=True)
            emulator_options.update(webhook_url=webhook_url, webhook_secret=webhook_secret)
        app = handle.create_emulator(emulator_options)
        if chaos:
            faults = getattr(app, "faults", None)
            if faults is None:
                raise click.UsageError(
                    f"the {provider} emulator has no fault injector: --chaos needs one"
                )
            faults.chaos(chaos, seed=chaos_seed)
        from batch_router_core.emulation.server import serve_forever

        options = handle.emulator_options(f"http://{host}:{port}")
        env = handle.info.env_options
        click.echo(f"{provider} emulator on http://{host}:{port}; Ctrl-C stops it", err=True)
        click.echo("point the SDK and batch-router at it with:", err=True)
        for name, key in sorted(env.items()):
            value = options.get(key, "") if key != "api_key" else (api_key or options["api_key"])
            click.echo(f"  export {name}={value}", err=True)
        click.echo(
            "  or: --option base_url="
            + options["base_url"]
            + (" (keys from the environment)" if api_key else ""),
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
    """Create a new provider plugin distribution from the template (with an emulator and tests).

    \b
    Example:
      batch-router new-plugin acme --dir plugins && pip install -e 'plugins/batch-router-acme[test]'
    """
    with reported_errors(False):
        from batch_router_core.template import render_plugin

        root = render_plugin(name, directory)
        click.echo(
            f"created {root}\nnext: pip install -e '{root}[test]' && pytest {root}/{name}_tests"
        )
