"""Calling the observer plugins (``provider_call_started`` / ``provider_call_finished``) on the
loop."""

from __future__ import annotations

import inspect
from typing import Any

import pluggy

from batch_router_core.logging import get_logger
from batch_router_core.models.calls import ProviderCall

__all__ = ["CallObservers"]


class CallObservers:
    """The observer hooks of one plugin manager, awaited where an observer is async."""

    def __init__(self, hooks: pluggy.HookRelay) -> None:
        self._hooks = hooks
        self._log = get_logger("observers")

    @property
    def active(self) -> bool:
        """True when at least one plugin observes calls (otherwise the facade skips the
        bookkeeping)."""
        return bool(
            self._hooks.provider_call_started.get_hookimpls()
            or self._hooks.provider_call_finished.get_hookimpls()
        )

    async def started(self, call: ProviderCall) -> None:
        """Tell every observer a call starts; an observer's exception propagates (it refuses the
        call)."""
        for outcome in self._hooks.provider_call_started(call=call):
            if inspect.isawaitable(outcome):
                await outcome

    async def finished(
        self, call: ProviderCall, result: Any, error: BaseException | None, duration_s: float
    ) -> None:
        """Tell every observer a call ended; their own failures are logged, never raised."""
        try:
            outcomes = self._hooks.provider_call_finished(
                call=call, result=result, error=error, duration_s=duration_s
            )
            for outcome in outcomes:
                if inspect.isawaitable(outcome):
                    await outcome
        except Exception as exc:
            self._log.warning(
                "observer_failed", operation=call.operation, error=f"{type(exc).__name__}: {exc}"
            )
