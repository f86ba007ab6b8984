"""The retry policy core owns: exponential backoff with jitter, honouring a provider's retry-after.

Plugins never retry; they raise :class:`ProviderTransientError` (retried here) or
:class:`ProviderPermanentError` (never retried). ``submit`` is only retried when the provider
declares it idempotent, because a duplicate job is billed twice.

Setting ``BATCH_ROUTER_RETRY_NO_WAIT=1`` (or using :meth:`RetryPolicy.no_wait`) keeps the attempts
but removes the sleeps, for tests.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import attrs
import tenacity

from batch_router_core.errors import ProviderTransientError
from batch_router_core.logging import get_logger

__all__ = ["NO_WAIT_ENV", "RetryPolicy", "retry_notices"]

T = TypeVar("T")
NO_WAIT_ENV = "BATCH_ROUTER_RETRY_NO_WAIT"

#: Called with a one-line message before every retry of a provider call, in this context (the
#: command line prints it above its progress line). Unset, retries are only logged.
retry_notices: ContextVar[Callable[[str], None] | None] = ContextVar("retry_notices", default=None)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How transient provider errors are retried.

    The n-th wait is ``min(max_wait, initial * multiplier**n)`` with up to ``jitter`` of it added at
    random, unless the error carries ``retry_after``, which is honoured (capped at
    ``max_retry_after``) instead.
    """

    attempts: int = 6
    initial: float = 1.0
    multiplier: float = 2.0
    max_wait: float = 60.0
    jitter: float = 0.25
    max_retry_after: float = 600.0
    wait: bool = True

    @classmethod
    def no_wait(cls, attempts: int = 6) -> RetryPolicy:
        """A policy that retries without sleeping (for tests)."""
        return cls(attempts=attempts, wait=False)

    @classmethod
    def default(cls) -> RetryPolicy:
        """The default policy, or the no-wait one when ``BATCH_ROUTER_RETRY_NO_WAIT`` is set."""
        return cls(wait=False) if os.environ.get(NO_WAIT_ENV) else cls()

    def delay_for(self, attempt: int, error: BaseException | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` after ``error``."""
        if not self.wait:
            return 0.0
        hint = getattr(error, "retry_after", None)
        if isinstance(hint, (int, float)) and hint >= 0:
            return min(float(hint), self.max_retry_after)
        base = min(self.max_wait, self.initial * self.multiplier ** max(0, attempt - 1))
        return base + random.uniform(0, base * self.jitter)

    def retrying(
        self, *, operation: str, log: Any = None, until: float | None = None
    ) -> tenacity.AsyncRetrying:
        """The policy as a tenacity ``AsyncRetrying``: retries :class:`ProviderTransientError`
        (``async for attempt in policy.retrying(...): with attempt: ...``) for ``attempts`` tries,
        or, with ``until`` (a :func:`time.monotonic` deadline), until then."""
        logger = log or get_logger("retry")

        def _wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.delay_for(state.attempt_number, exc)

        def _before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            notify = retry_notices.get()
            if notify is not None:
                notify(
                    f"{operation}: {exc}; retrying (attempt {state.attempt_number + 1}) in "
                    f"{state.upcoming_sleep:.1f}s"
                )
            logger.warning(
                "provider_call_retry",
                operation=operation,
                attempt=state.attempt_number,
                wait_s=round(state.upcoming_sleep, 3),
                error=str(exc),
            )

        return tenacity.AsyncRetrying(
            stop=_stop(self.attempts, until),
            wait=_wait,
            retry=tenacity.retry_if_exception_type(ProviderTransientError),
            before_sleep=_before_sleep,
            reraise=True,
        )

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        operation: str,
        retry: bool = True,
        log: Any = None,
        until: float | None = None,
    ) -> T:
        """Await ``fn()``, retrying it on :class:`ProviderTransientError` when ``retry`` is true.

        ``until`` (a :func:`time.monotonic` deadline) keeps retrying past ``attempts`` until then.
        """
        if not retry or (self.attempts <= 1 and until is None):
            return await fn()

        async def attempt() -> T:
            # tenacity tells coroutine functions apart by inspection; a lambda returning an
            # awaitable would not be awaited, so wrap it in a real coroutine function.
            return await fn()

        return await self.retrying(operation=operation, log=log, until=until)(attempt)


def _stop(attempts: int, until: float | None) -> Callable[[tenacity.RetryCallState], bool]:
    def stop(state: tenacity.RetryCallState) -> bool:
        return state.attempt_number >= attempts and (until is None or time.monotonic() >= until)

    return stop
