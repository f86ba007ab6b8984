"""The registry: lazy discovery, typed handles, wrappers, and errors that name the plugin."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from batch_router_core import (
    BatchProviderRegistry,
    BatchStatus,
    PluginLoadError,
    ProviderInfo,
    ProviderNotFoundError,
    hookimpl,
)
from batch_router_core.errors import (
    DuplicateProviderError,
    PluginValidationError,
    ProviderPermanentError,
    UnsupportedOperationError,
)
from batch_router_core.models import ProviderCall
from batch_router_core.testing.fake_provider import FakeProvider, FakeService

from .conftest import make_batch


def test_importing_core_loads_no_plugin() -> None:
    import subprocess

    # A fresh interpreter: in this one, other tests have loaded plugins already.
    code = (
        "import sys, batch_router_core\n"
        "print(sorted(m for m in sys.modules if m.startswith('batch_router_')"
        " and m.split('.')[0] != 'batch_router_core'))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    reg = BatchProviderRegistry(autoload=False)
    assert reg.names() == []  # nothing discovered without being asked


def test_discovers_the_installed_fake_plugin(batch_router_registry: BatchProviderRegistry) -> None:
    rec = {r.name: r for r in batch_router_registry.providers()}["fake"]
    assert rec.distribution == "batch-router-fake" and rec.version
    assert rec.entry_point == "batch_router_fake:plugin"
    handle = batch_router_registry.get("fake")
    assert handle.supports_model("fake-x") and not handle.supports_model("gpt-4o")
    assert handle.info.status_map["done"] is BatchStatus.COMPLETED


def test_unknown_provider_lists_what_is_installed(
    batch_router_registry: BatchProviderRegistry,
) -> None:
    with pytest.raises(
        ProviderNotFoundError, match=r"'nope' is not installed \(installed providers: .*fake"
    ):
        batch_router_registry.get("nope")


class Other:
    """A second provider plugin, defined in code."""

    def __init__(self, name: str = "other") -> None:
        self.name = name

    @hookimpl
    def provider_info(self) -> ProviderInfo:
        return ProviderInfo(name=self.name, models=("o-*",), status_map={"done": "completed"})

    @hookimpl
    def prepare_payloads(self, batch: Any, context: Any) -> Any:
        raise AssertionError("never called in these tests")

    @hookimpl
    def submit(self, prepared: Any, context: Any) -> Any:
        raise AssertionError("the fake's calls must not reach this plugin")

    @hookimpl
    def poll_status(self, handle: Any, context: Any) -> Any:
        raise AssertionError("the fake's calls must not reach this plugin")

    @hookimpl
    def fetch_results(self, handle: Any, context: Any) -> Any:
        raise AssertionError

    @hookimpl
    def cancel(self, handle: Any, context: Any) -> Any:
        raise AssertionError


class Observer:
    """A cross-cutting observer: a synchronous ``started`` and an ``async`` ``finished``."""

    def __init__(self, refuse: str | None = None) -> None:
        self.seen: list[tuple[str, str, int, str, str | None]] = []
        self.started: list[str] = []
        self.refuse = refuse

    @hookimpl
    def provider_call_started(self, call: ProviderCall) -> None:
        self.started.append(call.call_id)
        if call.operation == self.refuse:
            raise ProviderPermanentError("over the cost cap", provider=call.provider)

    @hookimpl
    async def provider_call_finished(
        self, call: ProviderCall, result: Any, error: BaseException | None, duration_s: float
    ) -> None:
        await asyncio.sleep(0)  # really awaited on the loop
        assert call.call_id in self.started and duration_s >= 0
        self.seen.append(
            (
                call.operation,
                call.provider,
                call.attempt,
                type(result).__name__,
                type(error).__name__ if error else None,
            )
        )


async def test_observers_see_every_call_sync_or_async_with_the_awaited_result(
    batch_router_registry: BatchProviderRegistry,
    fake_service: FakeService,
) -> None:
    observer = Observer()
    batch_router_registry.register(Other())
    batch_router_registry.register(observer, name="observer")
    assert "observer" not in batch_router_registry.names()  # an observer is not a provider
    fake = batch_router_registry.get("fake", service=fake_service)
    handle = await fake.submit(fake.prepare(make_batch(2)))  # a synchronous hook
    fake_service.transient("poll_status")
    report = await fake.poll_status(handle)  # an async hook: retried once
    assert report.status is BatchStatus.VALIDATING
    fake_service.clock.advance(10 * 86400)
    await fake.poll_status(handle)
    results = [r async for r in fake.fetch_results(handle)]  # a synchronous generator
    assert len(results) == 2
    assert observer.seen == [
        ("submit", "fake", 1, "BatchHandle", None),
        ("poll_status", "fake", 1, "NoneType", "ProviderTransientError"),
        (
            "poll_status",
            "fake",
            2,
            "BatchStatusReport",
            None,
        ),  # the awaited report, not a coroutine
        ("poll_status", "fake", 1, "BatchStatusReport", None),
        ("fetch_results", "fake", 1, "int", None),  # the number of results the stream delivered
    ]


async def test_an_observer_can_refuse_a_call(
    batch_router_registry: BatchProviderRegistry,
    fake_service: FakeService,
) -> None:
    batch_router_registry.register(Observer(refuse="submit"), name="cost-cap")
    fake = batch_router_registry.get("fake", service=fake_service)
    with pytest.raises(ProviderPermanentError, match="over the cost cap"):
        await fake.submit(fake.prepare(make_batch(2)))
    assert not fake_service.jobs  # the provider was never called


def test_two_plugins_claiming_one_name(batch_router_registry: BatchProviderRegistry) -> None:
    with pytest.raises(DuplicateProviderError, match="'fake' is claimed by two plugins"):
        batch_router_registry.register(FakeProvider())
    batch_router_registry.register(Other("twin"))
    with pytest.raises(DuplicateProviderError, match="'twin' is claimed by two plugins"):
        batch_router_registry.register(Other("twin"))


def test_wrong_hook_signature_names_the_plugin(
    batch_router_registry: BatchProviderRegistry,
) -> None:
    class BadArgs(Other):
        @hookimpl
        def poll_status(self, handle: Any, context: Any, colour: str) -> Any:  # type: ignore[override]
            return None

    with pytest.raises(PluginValidationError, match=r"(?s)plugin .bad. .*colour"):
        batch_router_registry.register(BadArgs("bad"))

    class UnknownHook(Other):
        @hookimpl
        def submitt(self, prepared: Any) -> Any:
            return None

    with pytest.raises(PluginValidationError, match="unknown hook 'submitt'"):
        batch_router_registry.register(UnknownHook("typo"))

    class Incomplete:
        @hookimpl
        def provider_info(self) -> ProviderInfo:
            return ProviderInfo(name="half")

    with pytest.raises(PluginValidationError, match="lacks hook"):
        batch_router_registry.register(Incomplete())
    assert (
        "bad" not in batch_router_registry.names() and "half" not in batch_router_registry.names()
    )


def test_name_must_match_the_entry_point(batch_router_registry: BatchProviderRegistry) -> None:
    with pytest.raises(PluginValidationError, match="registered as 'alias'"):
        batch_router_registry.register(Other("real"), name="alias")


def test_allow_and_block_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_ROUTER_BLOCK_PLUGINS", "fake")
    assert "fake" not in BatchProviderRegistry(overrides={}).names()
    monkeypatch.delenv("BATCH_ROUTER_BLOCK_PLUGINS")
    monkeypatch.setenv("BATCH_ROUTER_PLUGINS", "something-else")
    assert "fake" not in BatchProviderRegistry(overrides={}).names()
    monkeypatch.setenv("BATCH_ROUTER_PLUGINS", "fake, something-else")
    assert "fake" in BatchProviderRegistry(overrides={}).names()


def test_optional_emulator_hook_absent(batch_router_registry: BatchProviderRegistry) -> None:
    with pytest.raises(UnsupportedOperationError, match="ships no emulator"):
        batch_router_registry.get("fake").create_emulator()


async def test_unexpected_plugin_exceptions_become_typed_errors(
    batch_router_registry: BatchProviderRegistry,
) -> None:
    from batch_router_core import BatchHandle, BatchMode, ProviderPermanentError

    batch_router_registry.register(Other())
    other = batch_router_registry.get("other")
    h = BatchHandle(
        provider="other",
        batch_id="b",
        local_id="l",
        model="o-1",
        mode=BatchMode.CHAT,
        request_count=1,
    )
    with pytest.raises(
        ProviderPermanentError, match="poll_status raised an unexpected AssertionError"
    ):
        await other.poll_status(h)


def test_load_error_is_raised_for_that_plugin_only(
    batch_router_registry: BatchProviderRegistry,
) -> None:
    batch_router_registry._errors["broken"] = PluginLoadError("broken", "import failed: boom")
    with pytest.raises(PluginLoadError, match="import failed: boom"):
        batch_router_registry.get("broken")
    assert batch_router_registry.get("fake").name == "fake"


async def test_a_consumer_that_stops_early_closes_the_stream_and_the_call(
    batch_router_registry: BatchProviderRegistry, fake_service: FakeService
) -> None:
    observer = Observer()
    batch_router_registry.register(observer, name="observer")
    fake = batch_router_registry.get("fake", service=fake_service)
    handle = await fake.submit(fake.prepare(make_batch(5)))
    fake_service.clock.advance(10 * 86400)
    results = fake.fetch_results(handle)
    first = [await anext(results) for _ in range(2)]
    await results.aclose()  # what `break` in an `async for` does, at once
    assert len(first) == 2
    assert observer.seen[-1] == ("fetch_results", "fake", 1, "int", None)  # ended, not left open
