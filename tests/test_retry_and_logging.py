"""The retry policy and the logging rules (named events, ids bound, secrets never shown)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from batch_router_core import ProviderPermanentError, ProviderTransientError
from batch_router_core.logging import get_logger
from batch_router_core.retry import RetryPolicy


def test_delay_honours_retry_after_and_backs_off() -> None:
    policy = RetryPolicy(initial=1, multiplier=2, max_wait=10, jitter=0)
    assert policy.delay_for(1, None) == 1 and policy.delay_for(3, None) == 4
    assert policy.delay_for(9, None) == 10  # capped
    assert policy.delay_for(1, ProviderTransientError("x", retry_after=7.5)) == 7.5
    assert (
        RetryPolicy(max_retry_after=5).delay_for(1, ProviderTransientError("x", retry_after=99))
        == 5
    )
    jittered = RetryPolicy(initial=1, jitter=0.5)
    assert all(1 <= jittered.delay_for(1, None) <= 1.5 for _ in range(50))
    assert RetryPolicy.no_wait().delay_for(5, ProviderTransientError("x", retry_after=30)) == 0


def test_no_wait_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_ROUTER_RETRY_NO_WAIT", "1")
    assert RetryPolicy.default().wait is False
    monkeypatch.delenv("BATCH_ROUTER_RETRY_NO_WAIT")
    assert RetryPolicy.default().wait is True


def test_transient_retried_permanent_not() -> None:
    calls = {"n": 0}

    async def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ProviderTransientError("429", retry_after=100)  # would wait 100 s if it slept
        return "ok"

    policy = RetryPolicy.no_wait(attempts=5)
    assert asyncio.run(policy.call(flaky, operation="poll")) == "ok" and calls["n"] == 3

    async def denied() -> str:
        calls["n"] += 1
        raise ProviderPermanentError("401")

    calls["n"] = 0
    with pytest.raises(ProviderPermanentError):
        asyncio.run(policy.call(denied, operation="poll"))
    assert calls["n"] == 1

    calls["n"] = 0
    with pytest.raises(ProviderTransientError):
        asyncio.run(policy.call(flaky, operation="submit", retry=False))  # submit: not retried
    assert calls["n"] == 1


def test_retries_give_up_after_the_attempts() -> None:
    calls = {"n": 0}

    async def down() -> None:
        calls["n"] += 1
        raise ProviderTransientError("503")

    with pytest.raises(ProviderTransientError):
        asyncio.run(RetryPolicy.no_wait(attempts=4).call(down, operation="poll"))
    assert calls["n"] == 4


def test_logs_are_named_bound_and_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="batch_router")
    log = get_logger("test", provider="openai", batch_id="batch_1")
    log.info(
        "batch_submitted",
        api_key="sk-live-abcdefghijklmnop",
        note="Bearer abc.def",
        headers={"Authorization": "Bearer xyz", "x": "sk-proj-1234567890abcdef"},
    )
    text = caplog.text
    assert (
        "batch_submitted" in text and "provider='openai'" in text and "batch_id='batch_1'" in text
    )
    for secret in ("sk-live-abcdefghijklmnop", "abc.def", "xyz", "sk-proj-1234567890abcdef"):
        assert secret not in text
    assert "[REDACTED]" in text


def test_library_does_not_configure_logging() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    get_logger("x").warning("event_happened")
    assert root.handlers == before
    # only the NullHandler a library adds (so that nothing reaches the last-resort stderr handler)
    assert all(
        isinstance(h, logging.NullHandler) for h in logging.getLogger("batch_router").handlers
    )


def test_an_unconfigured_script_prints_nothing_when_a_call_is_retried() -> None:
    """configuration.md: events appear only if the application configures logging."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import asyncio
        from batch_router_core.errors import ProviderTransientError
        from batch_router_core.retry import RetryPolicy
        calls = []
        async def flaky():
            calls.append(1)
            if len(calls) < 3:
                raise ProviderTransientError("503 from the provider", provider="x")
            return "ok"
        print(asyncio.run(RetryPolicy.no_wait().call(flaky, operation="poll_status")), len(calls))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ok", "3"]  # it really retried twice
    assert proc.stderr == ""
