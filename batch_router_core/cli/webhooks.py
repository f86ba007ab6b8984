"""``batch-router webhooks serve``: receive providers' batch events instead of polling for them."""

from __future__ import annotations

import os

import click

from batch_router_core.cli._shared import (
    ledger_label,
    new_registry,
    reported_errors,
    say,
    state_dir,
)
from batch_router_core.cli.app import main

__all__ = ["webhooks"]


def secret_env(provider: str) -> str:
    """The environment variable holding ``provider``'s webhook signing secret
    (``OPENAI_WEBHOOK_SECRET``, the OpenAI SDK's own; ``GEMINI_WEBHOOK_SECRET``...)."""
    return f"{'GEMINI' if provider == 'google' else provider.upper()}_WEBHOOK_SECRET"


@main.group()
def webhooks() -> None:
    """Receive providers' batch events (OpenAI, Gemini) instead of polling for them."""


@webhooks.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8787, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--provider",
    "providers",
    multiple=True,
    help="Accept this provider's events (repeatable; default: every installed provider that "
    "sends webhooks and whose secret is set).",
)
def serve(host: str, port: int, providers: tuple[str, ...]) -> None:
    """Serve POST /webhooks/PROVIDER: verify each delivery, record it in the ledger.

    Each provider's signing secret comes from its environment variable: OPENAI_WEBHOOK_SECRET
    (the variable the OpenAI SDK reads), GEMINI_WEBHOOK_SECRET (a Gemini static webhook). A
    verified event about a job of the ledger makes the worker holding that job poll it at once;
    unsigned, wrongly signed, stale, replayed or unknown-job deliveries are refused (4xx) and
    logged, never acted upon. Point the provider's webhook endpoint at
    https://your-host/webhooks/openai or /webhooks/google (behind a TLS-terminating proxy).
    """
    with reported_errors(False):
        from batch_router_core.errors import ConfigError
        from batch_router_core.jobs.ledgers import default_ledger_location, open_ledger
        from batch_router_core.webhooks.receiver import create_receiver

        registry = new_registry()
        names = providers or tuple(
            p for p in registry.names() if registry.get(p).implements("parse_webhook")
        )
        secrets = {p: os.environ[secret_env(p)] for p in names if os.environ.get(secret_env(p))}
        missing = [secret_env(p) for p in names if p not in secrets]
        if providers and missing or not secrets:
            raise ConfigError(
                "no webhook secret for "
                + (", ".join(missing) or "any provider")
                + ": set the signing secret the provider gave for this endpoint"
            )
        ledger = open_ledger(default_ledger_location(state_dir()))
        app = create_receiver(ledger, secrets, registry)
        import uvicorn

        say(
            f"receiving {', '.join(sorted(secrets))} webhooks on http://{host}:{port}/webhooks/"
            f"<provider> for the ledger {ledger_label()}; Ctrl-C stops"
        )
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off")
        finally:
            ledger.close()
