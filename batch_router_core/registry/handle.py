"""``ProviderHandle``: the one typed facade through which core calls a provider's hooks.

Every call goes through here (never ``pm.hook.x(...)`` elsewhere): keyword arguments, only the
selected provider's plugin plus the wrapper plugins, sync implementations moved off the event loop,
the retry policy applied, and unexpected exceptions from a plugin turned into typed errors.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import aclosing, asynccontextmanager
from typing import Any

import pluggy

from batch_router_core.errors import (
    BatchRouterError,
    BatchTooLargeError,
    ConfigError,
    FileOperationError,
    FileTooLargeError,
    ProviderPermanentError,
    UnsupportedOperationError,
    ValidationError,
    ValidationIssue,
)
from batch_router_core.files import (
    GeneratedFiles,
    disk_error_message,
    new_local_id,
    write_jsonl_lines,
)
from batch_router_core.logging import get_logger
from batch_router_core.models.calls import ProviderCall
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.provider import (
    BatchHandle,
    PreparedBatch,
    PreparedPayloads,
    ProviderInfo,
)
from batch_router_core.models.requests import InputBatch, InputRequest
from batch_router_core.models.results import BatchStatusReport, RequestResult
from batch_router_core.plugin.context import ProviderContext
from batch_router_core.registry.observers import CallObservers
from batch_router_core.registry.records import PluginRecord
from batch_router_core.retry import RetryPolicy
from batch_router_core.validation import validate_batch
from batch_router_core.webhooks.events import WebhookEvent, WebhookRejectedError

__all__ = ["ProviderHandle"]

_SYNC_CHUNK = 256  # results pulled per worker-thread hop from a synchronous fetch_results


class ProviderHandle:
    """Calls to one provider. Get one from :meth:`BatchProviderRegistry.get`.

    The network operations are coroutines; :meth:`prepare` and :meth:`prepare_payloads` are
    synchronous and touch no network.
    """

    def __init__(
        self,
        record: PluginRecord,
        options: Mapping[str, Any],
        *,
        callers: Callable[[str], pluggy.HookCaller],
        observers: CallObservers,
        retry: RetryPolicy,
        files: GeneratedFiles,
    ) -> None:
        assert record.info is not None
        self._record = record
        self._subset_caller = callers
        self._observers = observers
        self._retry = retry
        self.context = ProviderContext(
            info=record.info,
            options=dict(options),
            files=files,
            logger=get_logger("provider", provider=record.name),
        )
        self._callers: dict[str, Any] = {}
        self._is_async: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"<ProviderHandle {self.name} ({self._record.distribution} {self._record.version})>"

    # -- identity --------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The provider's name."""
        return self._record.name

    @property
    def info(self) -> ProviderInfo:
        """The effective provider info (plugin defaults + user overrides)."""
        return self.context.info

    @property
    def distribution(self) -> str | None:
        """The distribution that installed the plugin."""
        return self._record.distribution

    @property
    def version(self) -> str | None:
        """The plugin distribution's version."""
        return self._record.version

    def supports_model(self, model: str) -> bool:
        """True when the provider declares support for ``model``."""
        return self.info.supports_model(model)

    # -- plumbing --------------------------------------------------------------------------------

    def _caller(self, hook: str) -> Any:
        caller = self._callers.get(hook)
        if caller is None:
            caller = self._subset_caller(hook)
            self._callers[hook] = caller
            impls = [i for i in caller.get_hookimpls() if i.plugin is self._record.plugin]
            fn = impls[0].function if impls else None
            self._is_async[hook] = bool(
                fn and (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn))
            )
        return caller

    def implements(self, hook: str) -> bool:
        """True when the provider's plugin implements ``hook`` (for the optional hooks)."""
        caller = self._caller(hook)
        return any(i.plugin is self._record.plugin for i in caller.get_hookimpls())

    def _wrap(self, exc: Exception, operation: str) -> BatchRouterError:
        if isinstance(exc, BatchRouterError):
            return exc
        if isinstance(exc, OSError):
            # The local disk, not the provider: say which file and why.
            return FileOperationError(disk_error_message(exc), path=exc.filename)
        # The contract says plugins map their SDK's errors; one that slipped through is a plugin
        # bug,
        # reported as permanent so it is not retried forever.
        return ProviderPermanentError(
            f"{operation} raised an unexpected {type(exc).__name__}: {exc}", provider=self.name
        )

    async def _invoke(self, hook: str, *, allow_none: bool = False, **kwargs: Any) -> Any:
        caller = self._caller(hook)
        try:
            if self._is_async[hook]:
                result = caller(**kwargs)
            else:
                result = await asyncio.to_thread(caller, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            raise self._wrap(exc, hook) from exc
        if result is None and not allow_none:
            raise ProviderPermanentError(f"{hook} returned nothing", provider=self.name)
        return result

    def _call(
        self,
        operation: str,
        *,
        batch_id: str | None = None,
        local_id: str | None = None,
        request_count: int | None = None,
        attempt: int = 1,
        estimated_cost: float | None = None,
    ) -> ProviderCall:
        return ProviderCall(
            call_id=new_local_id(),
            operation=operation,
            provider=self.name,
            attempt=attempt,
            batch_id=batch_id,
            local_id=local_id,
            request_count=request_count,
            estimated_cost=estimated_cost,
        )

    @asynccontextmanager
    async def _observing(self, call: ProviderCall) -> AsyncIterator[_Outcome]:
        """Tell the observers about the hook call made inside the block: ``started`` before it,
        ``finished`` after it with ``outcome.result`` or the error it raised. A consumer that stops
        reading a stream (``GeneratorExit``) ends the call normally."""
        outcome = _Outcome()
        if not self._observers.active:
            yield outcome
            return
        try:
            await self._observers.started(call)
        except Exception as exc:
            raise self._wrap(exc, f"an observer of {call.operation}") from exc
        start = time.monotonic()
        try:
            yield outcome
        except GeneratorExit:
            await self._observers.finished(call, outcome.result, None, time.monotonic() - start)
            raise
        except BaseException as exc:
            await self._observers.finished(call, None, exc, time.monotonic() - start)
            raise
        await self._observers.finished(call, outcome.result, None, time.monotonic() - start)

    async def _retried(
        self,
        hook: str,
        *,
        retry: bool = True,
        allow_none: bool = False,
        log: Any,
        ids: Mapping[str, Any],
        **kwargs: Any,
    ) -> Any:
        """One operation: each attempt observed, transient errors retried by the policy."""
        attempts = itertools.count(1)

        async def attempt() -> Any:
            async with self._observing(self._call(hook, attempt=next(attempts), **ids)) as outcome:
                outcome.result = await self._invoke(
                    hook, allow_none=allow_none, context=self.context, **kwargs
                )
            return outcome.result

        return await self._retry.call(attempt, operation=hook, retry=retry, log=log)

    # -- prepare (no network) ------------------------------------------------------------------

    def prepare_payloads(self, batch: InputBatch) -> PreparedPayloads:
        """Call the plugin's ``prepare_payloads`` (no validation by core, no file): the raw hook."""
        caller = self._caller("prepare_payloads")
        try:
            result = caller(batch=batch, context=self.context)
        except Exception as exc:
            raise self._wrap(exc, "prepare_payloads") from exc
        if not isinstance(result, PreparedPayloads):
            raise ProviderPermanentError(
                f"prepare_payloads returned {type(result).__name__}, not PreparedPayloads",
                provider=self.name,
            )
        return result

    def validate(self, batch: InputBatch) -> None:
        """Check the batch against the provider's declared rules; raises ValidationError."""
        validate_batch(batch, self.info)

    def prepare(
        self, batch: InputBatch, *, local_id: str | None = None, validated: bool = False
    ) -> PreparedBatch:
        """Validate the batch and write the provider-native input file. No network.

        The file streams to ``<state dir>/generated/<provider>/batch_<local_id>_input.jsonl``;
        a batch over the provider's byte limit is refused (and no file is left behind).
        ``validated=True`` says the caller has just run :meth:`validate` on this same batch (as
        the router does, to collect every problem before writing anything), so it is not run
        twice.
        """
        if not validated:
            self.validate(batch)
        payloads = self.prepare_payloads(batch)
        local_id = local_id or new_local_id()
        path = self.context.files.path(self.name, local_id, "input")
        limits = self.info.limits
        lines = payloads.lines
        if limits.max_request_bytes is not None:
            lines = _check_line_sizes(lines, limits.max_request_bytes, batch, self.name)
        try:
            count, size = write_jsonl_lines(path, lines, max_bytes=limits.max_bytes)
        except FileTooLargeError as exc:
            raise BatchTooLargeError(
                f"the {self.name} input file would exceed {exc.limit} bytes "
                "(split the batch, or let the router shard it)",
                limit=exc.limit,
                provider=self.name,
            ) from None
        except FileOperationError:
            raise
        except OSError as exc:
            raise FileOperationError(disk_error_message(exc, path), path=str(path)) from exc
        except Exception as exc:
            raise self._wrap(exc, "prepare_payloads") from exc
        if count != len(batch.requests):
            path.unlink(missing_ok=True)
            raise ProviderPermanentError(
                f"prepare_payloads produced {count} lines for {len(batch.requests)} requests",
                provider=self.name,
            )
        self.context.logger.info("batch_prepared", local_id=local_id, requests=count, bytes=size)
        return PreparedBatch(
            provider=self.name,
            local_id=local_id,
            model=payloads.model,
            mode=payloads.mode,
            path=path,
            request_count=count,
            byte_size=size,
            metadata=payloads.metadata,
        )

    # -- network operations -------------------------------------------------------------------

    async def submit(self, prepared: PreparedBatch) -> BatchHandle:
        """Create the provider job. Retried only when the provider declares submit idempotent."""
        log = self.context.logger.bind(local_id=prepared.local_id)
        handle: BatchHandle = await self._retried(
            "submit",
            prepared=prepared,
            retry=self.info.idempotent_submit,
            log=log,
            ids={
                "local_id": prepared.local_id,
                "request_count": prepared.request_count,
                "estimated_cost": prepared.estimated_cost,
            },
        )
        log.info("batch_submitted", batch_id=handle.batch_id, requests=handle.request_count)
        return handle

    async def poll_status(self, handle: BatchHandle) -> BatchStatusReport:
        """The job's current status (retried on transient errors)."""
        report: BatchStatusReport = await self._retried(
            "poll_status",
            handle=handle,
            log=self.context.logger.bind(batch_id=handle.batch_id),
            ids=_ids(handle),
        )
        return report

    async def cancel(self, handle: BatchHandle) -> BatchStatusReport:
        """Ask for cancellation; raises UnsupportedOperationError where the provider cannot."""
        if not self.info.capabilities.cancel:
            raise UnsupportedOperationError("this provider cannot cancel jobs", provider=self.name)
        log = self.context.logger.bind(batch_id=handle.batch_id)
        report: BatchStatusReport = await self._retried(
            "cancel", handle=handle, log=log, ids=_ids(handle)
        )
        log.info("batch_cancel_requested", status=report.status.value)
        return report

    async def fetch_results(
        self, handle: BatchHandle, *, retry_until: float | None = None
    ) -> AsyncIterator[RequestResult]:
        """Stream unified results, one per request.

        A transient failure mid-stream restarts the plugin's stream (with the retry policy's
        backoff) and skips the results already delivered, so every ``custom_id`` comes out exactly
        once. The policy's attempts are the limit, or, with ``retry_until`` (a
        :func:`time.monotonic` deadline), that time: a long download then survives an outage of any
        length up to it.
        """
        log = self.context.logger.bind(batch_id=handle.batch_id)
        stream = _ResultStream(self, handle)
        # The retry policy wraps each attempt at the whole stream, not each result: a result costs
        # one generator step, and the policy is consulted only when an attempt fails.
        async for attempt in self._retry.retrying(
            operation="fetch_results", log=log, until=retry_until
        ):
            with attempt:
                async with aclosing(stream.attempt()) as results:
                    async for result in results:
                        yield result
        log.info("results_fetched", results=stream.delivered)

    # -- optional hooks ------------------------------------------------------------------------

    async def find_job(
        self, local_id: str, request_count: int = 0, known_batch_ids: frozenset[str] = frozenset()
    ) -> BatchHandle | None:
        """The provider job tagged ``local_id``, or None; UnsupportedOperationError if the provider
        cannot look jobs up (it does not implement ``find_job``); UnverifiedCandidatesError when it
        found jobs that may be this one but cannot prove it. Jobs in ``known_batch_ids`` are never
        returned (the ledger already holds them)."""
        if not self.implements("find_job"):
            raise UnsupportedOperationError(
                "this provider cannot look up jobs by tag", provider=self.name
            )
        found: BatchHandle | None = await self._retried(
            "find_job",
            allow_none=True,
            local_id=local_id,
            request_count=request_count,
            known_batch_ids=known_batch_ids,
            log=self.context.logger.bind(local_id=local_id),
            ids={"local_id": local_id},
        )
        if found is not None and found.batch_id in known_batch_ids:
            # A plugin that ignores the argument must still never hand back a job the ledger holds.
            return None
        return found

    def check_credentials(self) -> None:
        """Raise :class:`ConfigError` when the provider lacks the credentials it needs (no network);
        a provider without the optional ``check_credentials`` hook needs none."""
        if not self.implements("check_credentials"):
            return
        try:
            missing = self._caller("check_credentials")(context=self.context)
        except Exception as exc:
            raise self._wrap(exc, "check_credentials") from exc
        if missing:
            raise ConfigError(f"[{self.name}] {missing}")

    async def execute_now(
        self, requests: Sequence[InputRequest], params: InferenceParams
    ) -> list[RequestResult]:
        """Run a small group now (online path); UnsupportedOperationError if the provider cannot."""
        if not self.implements("execute_now"):
            raise UnsupportedOperationError(
                "this provider has no synchronous execution", provider=self.name
            )
        results: list[RequestResult] = await self._retried(
            "execute_now",
            requests=list(requests),
            params=params,
            log=self.context.logger,
            ids={"request_count": len(requests)},
        )
        if len(results) != len(requests):
            raise ProviderPermanentError(
                f"execute_now returned {len(results)} results for {len(requests)} requests",
                provider=self.name,
            )
        if params.output_schema is not None:
            # Answers online are held to the schema as batch answers are.
            from batch_router_core.jobs.outputs import OutputCheck

            check = OutputCheck(params.output_schema)
            results = [check.result(r) for r in results]
        return results

    async def delete_job(self, handle: BatchHandle) -> bool:
        """Delete an ended job; UnsupportedOperationError if the provider cannot delete jobs."""
        if not self.implements("delete_job"):
            raise UnsupportedOperationError("this provider cannot delete jobs", provider=self.name)
        result: bool = await self._retried(
            "delete_job",
            handle=handle,
            log=self.context.logger.bind(batch_id=handle.batch_id),
            ids=_ids(handle),
        )
        return result

    def parse_webhook(
        self, body: bytes, headers: Mapping[str, str], secret: str
    ) -> WebhookEvent | None:
        """A verified webhook delivery's event (None: not about a batch); raises
        :class:`WebhookRejectedError` for one that must not be acted upon, and
        UnsupportedOperationError if the provider pushes no events."""
        if not self.implements("parse_webhook"):
            raise UnsupportedOperationError("this provider sends no webhooks", provider=self.name)
        try:
            event: WebhookEvent | None = self._caller("parse_webhook")(
                body=body, headers=headers, secret=secret, context=self.context
            )
        except WebhookRejectedError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise WebhookRejectedError(f"malformed {self.name} webhook: {exc!r}") from exc
        return event

    def create_emulator(self, options: Mapping[str, Any] | None = None) -> Any:
        """The provider's emulator as an ASGI app; UnsupportedOperationError if it has none."""
        if not self.implements("create_emulator"):
            raise UnsupportedOperationError("this provider ships no emulator", provider=self.name)
        return self._caller("create_emulator")(options=dict(options or {}))

    def emulator_options(self, url: str) -> dict[str, str]:
        """Options pointing this provider at its emulator served at ``url``: ``base_url`` (the URL
        plus
        the provider's ``emulator_base_path``) and a placeholder ``api_key``."""
        return {"base_url": url + self.info.emulator_base_path, "api_key": "emulator-key"}


def _check_line_sizes(lines: Any, limit: int, batch: InputBatch, provider: str) -> Iterator[bytes]:
    reqs = batch.requests
    for i, line in enumerate(lines):
        if len(line) > limit:
            raise ValidationError(
                ValidationIssue(
                    f"request is {len(line)} bytes once converted; {provider} allows {limit}",
                    custom_id=reqs[i].custom_id if i < len(reqs) else None,
                    field="messages",
                ),
                provider=provider,
            )
        yield line


class _Outcome:
    """What an observed call returned, filled in by the block that made it."""

    __slots__ = ("result",)

    def __init__(self) -> None:
        self.result: Any = None


def _ids(handle: BatchHandle) -> dict[str, Any]:
    return {"batch_id": handle.batch_id, "local_id": handle.local_id}


class _ResultStream:
    """A plugin's result stream that can be restarted after a transient failure, skipping what was
    already delivered; each attempt is one observed provider call."""

    def __init__(self, owner: ProviderHandle, handle: BatchHandle) -> None:
        self._owner = owner
        self._handle = handle
        # With a stable order, a restarted stream repeats exactly the results already delivered, so
        # a count is enough and memory stays flat; otherwise remember the delivered ids.
        self._stable = owner.info.capabilities.stable_result_order
        self._ids: set[str] = set()
        self.delivered = 0
        self._attempts = 0

    async def attempt(self) -> AsyncGenerator[RequestResult, None]:
        """(Re)open the plugin's stream and yield the results not delivered before."""
        owner = self._owner
        self._attempts += 1
        call = owner._call("fetch_results", attempt=self._attempts, **_ids(self._handle))
        async with owner._observing(call) as outcome:
            iterator: AsyncIterator[RequestResult] | None = None
            try:
                stream = await owner._invoke(
                    "fetch_results", handle=self._handle, context=owner.context
                )
                iterator = (
                    aiter(stream) if hasattr(stream, "__aiter__") else _in_thread(iter(stream))
                )
                stable, ids = self._stable, self._ids
                position = 0
                async for result in iterator:
                    position += 1
                    if stable:
                        if position <= self.delivered:
                            continue
                    elif result.custom_id in ids:
                        continue
                    else:
                        ids.add(result.custom_id)
                    self.delivered += 1
                    yield result
            except Exception as exc:
                raise owner._wrap(exc, "fetch_results") from exc
            finally:
                outcome.result = self.delivered  # what observers see: the results delivered
                aclose = getattr(iterator, "aclose", None)
                if aclose is not None:
                    await aclose()


async def _in_thread(iterator: Iterator[RequestResult]) -> AsyncIterator[RequestResult]:
    """A synchronous iterator pulled in chunks on a worker thread, so it never blocks the loop."""
    pull: Callable[[], list[RequestResult]] = lambda: list(itertools.islice(iterator, _SYNC_CHUNK))
    while True:
        chunk = await asyncio.to_thread(pull)
        if not chunk:
            return
        for item in chunk:
            yield item
