"""The shared conformance suite: the contract every provider plugin must keep, as pytest tests.

For a plugin whose ``create_emulator`` hook returns an emulator with the
:class:`~batch_router_core.emulation.controls.EmulatorControls` (every emulator built on the core
kit with :class:`~batch_router_core.emulation.controls.EmulatorControlsMixin`), one line in a test
module enables the whole suite::

    TestConformance = conformance_suite("myprovider", chat_model="my-model-1")

The suite serves the plugin's emulator on loopback, points the plugin at it and drives every
scenario through it: the happy path, rate limits, auth failures, expiry, partial failure, cancel,
lookup by tag, and one test per capability (embeddings, images, documents). A capability the
provider does not declare is skipped with the reason; a declared one is tested.

Plugins without such an emulator subclass :class:`ProviderConformance` and supply three fixtures
(``conformance_provider``, ``conformance_batch``, ``conformance_driver``; see the fake provider's
tests). Overriding a suite test needs a stated reason, :func:`override`; an override without one
fails.
"""

from __future__ import annotations

import abc
import base64
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, TypeVar

import attrs
import orjson
import pytest

from batch_router_core.emulation.controls import EmulatorControls
from batch_router_core.errors import (
    ProviderPermanentError,
    ProviderTransientError,
    UnsupportedOperationError,
    UnverifiedCandidatesError,
)
from batch_router_core.files import new_local_id
from batch_router_core.models.content import DocumentContent, ImageContent, TextContent
from batch_router_core.models.enums import BatchMode, BatchStatus, ResultStatus
from batch_router_core.models.messages import InputMessage
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.provider import BatchHandle
from batch_router_core.models.requests import InputBatch, InputRequest
from batch_router_core.models.results import BatchStatusReport, RequestResult
from batch_router_core.registry import BatchProviderRegistry
from batch_router_core.registry.handle import ProviderHandle

__all__ = [
    "ConformanceDriver",
    "EmulatedProviderConformance",
    "EmulatorDriver",
    "ProviderConformance",
    "conformance_suite",
    "override",
]

_F = TypeVar("_F", bound=Callable[..., Any])

# A 1x1 PNG and a one-page PDF: the smallest real files of their kind (magic bytes included).
_PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c63f8cfc0f01f00050001ff89993d1d0000000049454e44ae426082"
    )
).decode()
_PDF = base64.b64encode(
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids"
    b"[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>"
    b"endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
).decode()


def override(reason: str) -> Callable[[_F], _F]:
    """Mark a suite test a plugin overrides, saying why (an override without a reason fails)."""
    if not reason.strip():
        raise ValueError("an override needs a reason")

    def mark(test: _F) -> _F:
        test.__conformance_override__ = reason  # type: ignore[attr-defined]
        return test

    return mark


class ConformanceDriver(abc.ABC):
    """How the suite controls the provider's service. Implement one per plugin."""

    #: Operations :meth:`inject_transient` / :meth:`inject_permanent` can make fail. A provider with
    #: no remote service (a local engine) lists none and the fault scenarios are skipped as such.
    fault_operations: tuple[str, ...] = ("poll_status",)

    @abc.abstractmethod
    def advance(self, seconds: float) -> None:
        """Move the service's clock forward by ``seconds``."""

    @abc.abstractmethod
    def inject_transient(self, operation: str) -> None:
        """Make the next call of ``operation`` fail transiently (429, 5xx, dropped connection)."""

    @abc.abstractmethod
    def inject_permanent(self, operation: str) -> None:
        """Make the next call of ``operation`` fail permanently (e.g. 401)."""

    def fail_requests(self, custom_ids: Iterable[str]) -> None:
        """Make the service answer these requests with a per-request error."""
        raise NotImplementedError("this driver cannot make single requests fail")

    def stall_next_job(self) -> None:
        """Make the next job too slow to finish inside its completion window, so that it expires."""
        raise NotImplementedError("this driver cannot make a job expire")

    def line_custom_id(self, line: Mapping[str, Any]) -> str | None:
        """The custom_id carried by one provider-native line (override for other shapes)."""
        for key in ("custom_id", "key"):
            if isinstance(line.get(key), str):
                return line[key]  # type: ignore[no-any-return]
        meta = line.get("metadata")
        if isinstance(meta, Mapping):
            for key in ("custom_id", "key"):
                if isinstance(meta.get(key), str):
                    return meta[key]  # type: ignore[no-any-return]
        return None


class EmulatorDriver(ConformanceDriver):
    """A driver for any emulator with
    :class:`~batch_router_core.emulation.controls.EmulatorControls`."""

    def __init__(self, emulator: EmulatorControls) -> None:
        self.emulator = emulator
        self.fault_operations = tuple(emulator.fault_operations)

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock."""
        self.emulator.advance(seconds)

    def inject_transient(self, operation: str) -> None:
        """A retryable failure of ``operation``'s next call."""
        self.emulator.inject_fault(operation, "transient")

    def inject_permanent(self, operation: str) -> None:
        """A 401 on ``operation``'s next call."""
        self.emulator.inject_fault(operation, "permanent")

    def fail_requests(self, custom_ids: Iterable[str]) -> None:
        """Per-request errors for ``custom_ids``."""
        self.emulator.fail_requests(custom_ids)

    def stall_next_job(self) -> None:
        """The next job expires."""
        self.emulator.stall_next_job()


def _mark_async_tests(cls: type) -> None:
    """Mark the class's own ``async def`` tests for pytest-asyncio, so that the suite runs whatever
    the
    plugin's pytest configuration (``asyncio_mode`` strict, the default, or auto)."""
    for name, value in list(vars(cls).items()):
        if name.startswith("test_") and inspect.iscoroutinefunction(value):
            marks = getattr(value, "pytestmark", [])
            if not any(getattr(m, "name", None) == "asyncio" for m in marks):
                pytest.mark.asyncio(value)


class ProviderConformance:
    """The suite. Subclass it in a plugin's tests and provide the three fixtures."""

    #: Seconds of service time after which a fresh job is certainly finished.
    finish_after: ClassVar[float] = 3 * 86400.0
    #: Maximum polls while waiting for a terminal status.
    max_polls: ClassVar[int] = 50
    #: The model the embeddings scenario uses; required when the provider declares embedding mode.
    embedding_model: ClassVar[str | None] = None
    #: Suite tests a subclass overrode without :func:`override` (filled in when the class is made).
    unexplained_overrides: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _mark_async_tests(cls)
        bare = []
        for name, suite_test in vars(ProviderConformance).items():
            if not name.startswith("test_"):
                continue
            mine = getattr(cls, name, None)
            if mine is suite_test or getattr(mine, "__conformance_override__", None):
                continue
            if name == "test_overrides_say_why":
                raise TypeError(
                    f"{cls.__qualname__} overrides the conformance suite's own guard, {name}"
                )
            bare.append(name)
        cls.unexplained_overrides = tuple(bare)

    # -- helpers ----------------------------------------------------------------------------------

    async def _run_to_end(
        self, provider: ProviderHandle, driver: ConformanceDriver, handle: BatchHandle
    ) -> list[BatchStatusReport]:
        reports = [await provider.poll_status(handle)]
        step = self.finish_after / 10
        while not reports[-1].is_terminal and len(reports) < self.max_polls:
            driver.advance(step)
            reports.append(await provider.poll_status(handle))
        return reports

    async def _results(self, provider: ProviderHandle, handle: BatchHandle) -> list[RequestResult]:
        return [r async for r in provider.fetch_results(handle)]

    async def _cycle(
        self, provider: ProviderHandle, driver: ConformanceDriver, batch: InputBatch
    ) -> tuple[list[BatchStatusReport], list[RequestResult]]:
        handle = await provider.submit(provider.prepare(batch))
        reports = await self._run_to_end(provider, driver, handle)
        self._assert_monotonic(reports)
        results = await self._results(provider, handle)
        assert sorted(r.custom_id for r in results) == sorted(
            r.custom_id for r in batch.requests
        ), "not every request came back exactly once"
        return reports, results

    @staticmethod
    def _assert_monotonic(reports: list[BatchStatusReport]) -> None:
        ranks = [r.status.rank for r in reports]
        assert ranks == sorted(ranks), (
            f"status moved backwards: {[r.status.value for r in reports]}"
        )

    @staticmethod
    def _require_faults(driver: ConformanceDriver, operation: str) -> None:
        if operation not in driver.fault_operations:
            pytest.skip(
                f"the driver cannot inject faults into {operation} (no remote call to fail)"
            )

    @staticmethod
    def _with_first_part(
        batch: InputBatch, kind: str, part: Any, provider: ProviderHandle
    ) -> InputBatch:
        if kind not in provider.info.capabilities.content.get("chat", ()):
            pytest.skip(f"{provider.name} does not declare {kind} content in chat mode")
        first, *rest = batch.requests
        message = InputMessage(role="user", contents=[TextContent(text="Describe this."), part])
        assert batch.params is not None
        return InputBatch(
            requests=[attrs.evolve(first, messages=[message]), *rest], params=batch.params
        )

    # -- the tests ------------------------------------------------------------------------------

    def test_provider_info_is_consistent(self, conformance_provider: ProviderHandle) -> None:
        """The info names the provider, declares modes and models, and maps terminal statuses."""
        info = conformance_provider.info
        assert info.name == conformance_provider.name
        assert info.modes and info.models
        mapped = set(info.status_map.values())
        assert BatchStatus.COMPLETED in mapped, "no raw status maps to COMPLETED"
        assert mapped & {BatchStatus.IN_PROGRESS, BatchStatus.VALIDATING}
        # Declared capabilities and implemented optional hooks agree.
        assert info.capabilities.delete == conformance_provider.implements("delete_job"), (
            "capabilities.delete does not match whether the delete_job hook is implemented"
        )
        assert info.capabilities.list_jobs == conformance_provider.implements("find_job"), (
            "capabilities.list_jobs does not match whether the find_job hook is implemented"
        )

    def test_prepare_payloads_is_pure_and_keeps_every_custom_id(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """Two conversions give the same bytes; every request gives one line with its custom_id."""
        first = list(conformance_provider.prepare_payloads(conformance_batch).lines)
        second = list(conformance_provider.prepare_payloads(conformance_batch).lines)
        assert first == second, "prepare_payloads is not deterministic"
        assert len(first) == len(conformance_batch.requests)
        ids = [conformance_driver.line_custom_id(orjson.loads(line)) for line in first]
        assert ids == [r.custom_id for r in conformance_batch.requests]

    async def test_full_cycle_yields_one_result_per_request(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """prepare -> submit -> poll (never backwards) -> fetch: exactly one result per request."""
        prepared = conformance_provider.prepare(conformance_batch)
        handle = await conformance_provider.submit(prepared)
        assert handle.provider == conformance_provider.name
        assert handle.request_count == len(conformance_batch.requests)
        reports = await self._run_to_end(conformance_provider, conformance_driver, handle)
        self._assert_monotonic(reports)
        assert reports[-1].status is BatchStatus.COMPLETED, reports[-1]
        results = await self._results(conformance_provider, handle)
        ids = [r.custom_id for r in results]
        assert sorted(ids) == sorted(r.custom_id for r in conformance_batch.requests)
        assert all(r.status is ResultStatus.SUCCEEDED for r in results), results
        assert all(r.text or r.embedding for r in results)

    async def test_cancel_works_or_is_declared_unsupported(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """Cancel leads to CANCELLING/CANCELLED and every request is still accounted for."""
        prepared = conformance_provider.prepare(conformance_batch)
        handle = await conformance_provider.submit(prepared)
        if not conformance_provider.info.capabilities.cancel:
            with pytest.raises(UnsupportedOperationError):
                await conformance_provider.cancel(handle)
            return
        report = await conformance_provider.cancel(handle)
        assert report.status in (BatchStatus.CANCELLING, BatchStatus.CANCELLED), report
        reports = [
            report,
            *await self._run_to_end(conformance_provider, conformance_driver, handle),
        ]
        self._assert_monotonic(reports)
        assert reports[-1].status is BatchStatus.CANCELLED, reports[-1]
        results = await self._results(conformance_provider, handle)
        assert sorted(r.custom_id for r in results) == sorted(
            r.custom_id for r in conformance_batch.requests
        )
        assert {r.status for r in results} <= {ResultStatus.SUCCEEDED, ResultStatus.CANCELLED}

    async def test_transient_errors_are_retried(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """A transient failure of a retryable operation is retried and the call succeeds."""
        self._require_faults(conformance_driver, "poll_status")
        handle = await conformance_provider.submit(conformance_provider.prepare(conformance_batch))
        conformance_driver.inject_transient("poll_status")
        report = await conformance_provider.poll_status(handle)
        assert report.batch_id == handle.batch_id
        if "fetch_results" in conformance_driver.fault_operations:
            reports = await self._run_to_end(conformance_provider, conformance_driver, handle)
            assert reports[-1].status is BatchStatus.COMPLETED, reports[-1]
            conformance_driver.inject_transient("fetch_results")
            results = await self._results(conformance_provider, handle)
            assert sorted(r.custom_id for r in results) == sorted(
                r.custom_id for r in conformance_batch.requests
            )

    async def test_permanent_errors_are_mapped_and_not_retried(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """A permanent failure (auth) surfaces once as ProviderPermanentError; the next call
        works."""
        self._require_faults(conformance_driver, "poll_status")
        handle = await conformance_provider.submit(conformance_provider.prepare(conformance_batch))
        conformance_driver.inject_permanent("poll_status")
        with pytest.raises(ProviderPermanentError):
            await conformance_provider.poll_status(handle)
        report = await conformance_provider.poll_status(handle)  # injected once, not retried away
        assert report.batch_id == handle.batch_id

    async def test_submit_is_not_retried_unless_idempotent(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """A transient submit failure is raised, not retried, for non-idempotent providers."""
        if conformance_provider.info.idempotent_submit:
            pytest.skip("this provider declares submit idempotent: retries are allowed")
        self._require_faults(conformance_driver, "submit")
        prepared = conformance_provider.prepare(conformance_batch)
        conformance_driver.inject_transient("submit")
        with pytest.raises(ProviderTransientError):
            await conformance_provider.submit(prepared)

    async def test_find_job_by_tag_or_declared_unsupported(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
    ) -> None:
        """A submitted job is found again by its tag (crash recovery), or offered as an unverified
        candidate by a provider whose jobs carry no tag; a job the ledger already knows never is."""
        if not conformance_provider.implements("find_job"):
            assert not conformance_provider.info.capabilities.list_jobs, (
                "capabilities.list_jobs is declared but the plugin has no find_job hook"
            )
            pytest.skip("this provider cannot look jobs up by tag (no find_job hook)")
        handle = await conformance_provider.submit(conformance_provider.prepare(conformance_batch))
        try:
            found = await conformance_provider.find_job(handle.local_id, handle.request_count)
        except UnverifiedCandidatesError as exc:
            assert handle.batch_id in {c.batch_id for c in exc.candidates}, exc
        else:
            assert found is not None and found.batch_id == handle.batch_id
        # Known to the ledger: never offered again, tagged or not.
        known = frozenset({handle.batch_id})
        try:
            again = await conformance_provider.find_job(
                handle.local_id, handle.request_count, known_batch_ids=known
            )
        except UnverifiedCandidatesError as exc:
            assert handle.batch_id not in {c.batch_id for c in exc.candidates}, exc
        else:
            assert again is None
        # A tag never submitted (and, for providers that match on size, a size never submitted).
        other = new_local_id()
        assert await conformance_provider.find_job(other, handle.request_count + 1000) is None

    async def test_partial_failure_is_isolated(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """One request the service rejects comes back errored, with its error; the others
        succeed."""
        victim = conformance_batch.requests[0].custom_id
        try:
            conformance_driver.fail_requests([victim])
        except NotImplementedError as exc:
            pytest.skip(str(exc))
        reports, results = await self._cycle(
            conformance_provider, conformance_driver, conformance_batch
        )
        assert reports[-1].status is BatchStatus.COMPLETED, reports[-1]
        by_id = {r.custom_id: r for r in results}
        failed = by_id[victim]
        assert failed.status is ResultStatus.ERRORED, failed
        assert failed.error is not None and failed.error.message, (
            "an errored result must say what went wrong"
        )
        assert all(r.status is ResultStatus.SUCCEEDED for cid, r in by_id.items() if cid != victim)

    async def test_expiry_accounts_for_every_request(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """A job that outlives its window ends (EXPIRED, or ended with expired requests), never
        stuck,
        and every request is accounted for: expired ones as EXPIRED results."""
        try:
            conformance_driver.stall_next_job()
        except NotImplementedError as exc:
            pytest.skip(str(exc))
        reports, results = await self._cycle(
            conformance_provider, conformance_driver, conformance_batch
        )
        assert reports[-1].status in (BatchStatus.EXPIRED, BatchStatus.COMPLETED), reports[-1]
        statuses = {r.status for r in results}
        assert ResultStatus.EXPIRED in statuses, statuses
        assert statuses <= {ResultStatus.SUCCEEDED, ResultStatus.EXPIRED}, statuses

    async def test_embeddings_cycle(
        self,
        conformance_provider: ProviderHandle,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """Embedding mode, when declared: one vector per request."""
        if BatchMode.EMBEDDING not in conformance_provider.info.modes:
            pytest.skip(f"{conformance_provider.name} does not declare embedding mode")
        assert self.embedding_model, (
            f"{conformance_provider.name} declares embedding mode: set embedding_model on the "
            f"suite to test it"
        )
        batch = InputBatch(
            requests=[
                InputRequest(custom_id=f"emb-{i}", messages=[InputMessage.user(f"text number {i}")])
                for i in range(3)
            ],
            params=InferenceParams(
                provider_id=conformance_provider.name,
                model_id=self.embedding_model,
                mode=BatchMode.EMBEDDING,
            ),
        )
        reports, results = await self._cycle(conformance_provider, conformance_driver, batch)
        assert reports[-1].status is BatchStatus.COMPLETED, reports[-1]
        assert all(r.status is ResultStatus.SUCCEEDED and r.embedding for r in results), results

    async def test_structured_output_conforms(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """An output schema, when the provider declares structured output: every answer is JSON
        that conforms to it."""
        from batch_router_core.jobs.outputs import OutputCheck
        from batch_router_core.models.schema import OutputSchema

        if not conformance_provider.info.capabilities.structured_output:
            pytest.skip(f"{conformance_provider.name} does not declare structured output")
        schema = OutputSchema(
            schema={
                "type": "object",
                # Bounded, so that a real model's answer fits its token budget.
                "properties": {
                    "answer": {"type": "string", "maxLength": 16},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "tags": {"type": "array", "items": {"enum": ["short", "long"]}, "maxItems": 2},
                },
                "required": ["answer", "confidence", "tags"],
                "additionalProperties": False,
            },
            name="answer",
        )
        assert conformance_batch.params is not None
        batch = InputBatch(
            requests=conformance_batch.requests,
            params=attrs.evolve(
                conformance_batch.params,
                output_schema=schema,
                max_output_tokens=max(conformance_batch.params.max_output_tokens or 0, 96),
            ),
        )
        _, results = await self._cycle(conformance_provider, conformance_driver, batch)
        check = OutputCheck(schema)
        checked = [check.result(r) for r in results]
        assert check.invalid == 0 and check.checked == len(results), [
            r.error for r in checked if r.error
        ]

    async def test_tool_calls_come_back(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """Tools, when the provider declares them: with one tool required, every answer calls it,
        each call with an id and arguments that are a JSON object."""
        from batch_router_core.models.tools import Tool

        if not conformance_provider.info.capabilities.tools:
            pytest.skip(f"{conformance_provider.name} does not declare tools")
        tool = Tool(
            name="record_answer",
            description="Record the answer to the question.",
            parameters={
                "type": "object",
                "properties": {"answer": {"type": "string", "maxLength": 16}},
                "required": ["answer"],
            },
        )
        assert conformance_batch.params is not None
        batch = InputBatch(
            requests=conformance_batch.requests,
            params=attrs.evolve(
                conformance_batch.params,
                tools=(tool,),
                tool_choice="record_answer",
                max_output_tokens=max(conformance_batch.params.max_output_tokens or 0, 96),
            ),
        )
        _, results = await self._cycle(conformance_provider, conformance_driver, batch)
        for r in results:
            assert r.status is ResultStatus.SUCCEEDED, r.error
            assert r.tool_calls, f"{r.custom_id}: no tool call ({r.text!r})"
            call = r.tool_calls[0]
            assert call.name == "record_answer" and call.id and call.arguments is not None, call

    async def test_image_input(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """An inline image, when the provider declares images: accepted and answered."""
        batch = self._with_first_part(
            conformance_batch,
            "image",
            ImageContent(data=_PNG, media_type="image/png"),
            conformance_provider,
        )
        reports, results = await self._cycle(conformance_provider, conformance_driver, batch)
        assert reports[-1].status is BatchStatus.COMPLETED, reports[-1]
        assert all(r.status is ResultStatus.SUCCEEDED for r in results), results

    async def test_document_input(
        self,
        conformance_provider: ProviderHandle,
        conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """An inline PDF, when the provider declares documents: accepted and answered."""
        batch = self._with_first_part(
            conformance_batch,
            "document",
            DocumentContent(data=_PDF, media_type="application/pdf"),
            conformance_provider,
        )
        reports, results = await self._cycle(conformance_provider, conformance_driver, batch)
        assert reports[-1].status is BatchStatus.COMPLETED, reports[-1]
        assert all(r.status is ResultStatus.SUCCEEDED for r in results), results

    def test_overrides_say_why(self) -> None:
        """A plugin that overrides a suite test says why, with :func:`override`."""
        assert not self.unexplained_overrides, (
            f"{type(self).__qualname__} overrides {', '.join(self.unexplained_overrides)} without "
            f"a reason: "
            "decorate the override with @batch_router_core.testing.conformance.override('why')"
        )


_mark_async_tests(ProviderConformance)


class EmulatedProviderConformance(ProviderConformance):
    """The suite wired to a plugin's own emulator (its ``create_emulator`` hook), served on
    loopback.

    Set :attr:`provider_name` and :attr:`chat_model` (and :attr:`embedding_model` when the provider
    declares embeddings), or use :func:`conformance_suite`.
    """

    provider_name: ClassVar[str] = ""
    chat_model: ClassVar[str] = ""
    #: Options for ``create_emulator`` (the default runs it on a manual clock).
    emulator_options: ClassVar[Mapping[str, Any]] = {}
    batch_size: ClassVar[int] = 4

    @pytest.fixture
    def conformance_emulator(
        self, batch_router_registry: BatchProviderRegistry
    ) -> EmulatorControls:
        """The plugin's emulator, checked to offer the controls the suite needs."""
        emulator = batch_router_registry.get(self.provider_name).create_emulator(
            dict(self.emulator_options)
        )
        if not isinstance(emulator, EmulatorControls):
            pytest.fail(
                f"{self.provider_name}'s create_emulator returned {type(emulator).__name__}, which "
                f"lacks "
                "the EmulatorControls (batch_router_core.emulation.controls) the suite drives"
            )
        return emulator

    @pytest.fixture
    def conformance_server_url(self, conformance_emulator: EmulatorControls) -> Iterator[str]:
        """The emulator served on a free loopback port for the test's duration."""
        from batch_router_core.emulation.server import serve_in_thread

        server = serve_in_thread(conformance_emulator)
        try:
            yield server.url
        finally:
            server.stop()

    @pytest.fixture
    def conformance_provider(
        self,
        batch_router_registry: BatchProviderRegistry,
        conformance_emulator: EmulatorControls,
        conformance_server_url: str,
    ) -> ProviderHandle:
        """The provider pointed at its emulator."""
        provider = batch_router_registry.get(self.provider_name)
        return batch_router_registry.get(
            self.provider_name, **provider.emulator_options(conformance_server_url)
        )

    @pytest.fixture
    def conformance_batch(self) -> InputBatch:
        """A few short chat requests for :attr:`chat_model`."""
        requests = [
            InputRequest(
                custom_id=f"conf-{i}", messages=[InputMessage.user(f"What is {i} plus {i}?")]
            )
            for i in range(self.batch_size)
        ]
        return InputBatch(
            requests=requests,
            params=InferenceParams(
                provider_id=self.provider_name,
                model_id=self.chat_model,
                system_prompt="Be brief.",
                max_output_tokens=32,
            ),
        )

    @pytest.fixture
    def conformance_driver(self, conformance_emulator: EmulatorControls) -> ConformanceDriver:
        """Drives the emulator through its controls."""
        return EmulatorDriver(conformance_emulator)

    def test_the_command_line_runs_a_batch_on_the_embedded_emulator(
        self, batch_router_registry: BatchProviderRegistry, tmp_path: Any
    ) -> None:
        """``batch-router run FILE -p PROVIDER -m MODEL --emulator`` in a real process: the
        emulator is started inside the command, no key or network is needed (the provider's own
        environment variables are cleared), every request comes back, with a cost."""
        import os
        import subprocess
        import sys

        source = tmp_path / "questions.jsonl"
        source.write_bytes(
            b"".join(
                orjson.dumps({"custom_id": f"q{i}", "messages": [{"role": "user", "content": q}]})
                + b"\n"
                for i, q in enumerate(("What is 2 + 2?", "Name a colour.", "Say hello."))
            )
        )
        out = tmp_path / "results.jsonl"
        info = batch_router_registry.get(self.provider_name).info
        env = {k: v for k, v in os.environ.items() if k not in info.env_options}
        env["BATCH_ROUTER_STATE_DIR"] = str(tmp_path / "state")
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "batch_router_core.cli", "run", str(source)),
                *("-p", self.provider_name, "-m", self.chat_model, "--max-output-tokens", "32"),
                *("--emulator", "-o", str(out), "--json"),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=180,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        summary = orjson.loads(proc.stdout)
        assert summary["status"] == "completed", summary
        assert summary["counts"]["succeeded"] == summary["counts"]["total"] == 3
        results = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert sorted(r["custom_id"] for r in results) == ["q0", "q1", "q2"]
        assert {r["provider"] for r in results} == {self.provider_name}
        if info.price_table.for_model(self.chat_model) is not None:
            assert summary["cost"] is not None


def conformance_suite(
    provider: str,
    *,
    chat_model: str,
    embedding_model: str | None = None,
    emulator_options: Mapping[str, Any] | None = None,
) -> type[EmulatedProviderConformance]:
    """The whole suite for ``provider``, run against its emulator: assign it to a ``Test*`` name.

    ::

        TestConformance = conformance_suite("openai", chat_model="gpt-4o-mini",
                                            embedding_model="text-embedding-3-small")
    """
    if not provider or not chat_model:
        raise ValueError("conformance_suite needs the provider's name and a chat model it serves")
    attributes = {
        "provider_name": provider,
        "chat_model": chat_model,
        "embedding_model": embedding_model,
        "emulator_options": dict(emulator_options or {}),
        "__module__": __name__,
    }
    title = "".join(part.capitalize() for part in provider.replace("-", "_").split("_"))
    return type(f"Test{title}Conformance", (EmulatedProviderConformance,), attributes)
