"""Waiting for a provider job: polling with capped exponential backoff until a terminal status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .errors import BatchTimeoutError
from .handle import ProviderHandle
from .models.provider import BatchHandle
from .models.results import BatchStatusReport

__all__ = ["wait_until_done"]


async def wait_until_done(
    provider: ProviderHandle,
    handle: BatchHandle,
    *,
    initial_interval: float = 60.0,
    multiplier: float = 1.5,
    max_interval: float = 300.0,
    timeout: float = 86400.0,
    on_status: Callable[[BatchStatusReport], None] | None = None,
) -> BatchStatusReport:
    """Poll until the job is terminal; defaults follow seed 000 (60 s, x1.5, capped at 300 s, 24 h).

    ``on_status`` sees every report (for progress bars). Raises :class:`BatchTimeoutError` when
    ``timeout`` passes first.
    """
    start = time.monotonic()
    interval = initial_interval
    while True:
        report = await provider.poll_status(handle)
        if on_status is not None:
            on_status(report)
        if report.is_terminal:
            return report
        if time.monotonic() - start + interval > timeout:
            raise BatchTimeoutError(handle.batch_id, timeout)
        await asyncio.sleep(interval)
        interval = min(interval * multiplier, max_interval)
