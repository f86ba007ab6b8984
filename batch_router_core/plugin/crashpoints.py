"""Crash points: a testing aid that lets crash-recovery tests kill a real process at a chosen step.

When the environment variable ``BATCH_ROUTER_CRASH_AT`` names a step, the process sends itself
SIGKILL when it reaches that step: no cleanup, no flushing, exactly like a machine losing power.
Steps: ``after_intent`` (ledger written, nothing sent), ``after_upload`` (a provider's file
uploaded, job not created), ``after_create`` (job created, its id not yet recorded), ``polling``
(after a status poll), ``download`` (half-way through writing results). Unset (always, in normal
use) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_ENV", "crash_point"]

CRASH_ENV = "BATCH_ROUTER_CRASH_AT"


def crash_point(step: str) -> None:
    """Die at once (SIGKILL) if ``BATCH_ROUTER_CRASH_AT`` names this step."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
