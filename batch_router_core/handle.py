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
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .context import ProviderContext
from .errors import (
    BatchRouterError,
    ConfigError,
    FileOperationError,
    ProviderPermanentError,
    ProviderTransientError,
    UnsupportedOperationError,
    ValidationError,
    ValidationIssue,
)
from .files import disk_error_message, new_local_id, write_jsonl_lines
from .logging import get_logger
from .models.params import InferenceParams
from .models.provider import BatchHandle, PreparedBatch, PreparedPayloads, ProviderInfo
from .models.requests import InputBatch, InputRequest
from .models.results import BatchStatusReport, RequestResult
from .validation import validate_batch

if TYPE_CHECKING:
    from .registry import BatchProviderRegistry, PluginRecord

__all__ = ["ProviderHandle"]

_SYNC_CHUNK = 256  # results pulled per worker-thread hop from a synchronous fetch_results


class ProviderHandle:
    """Calls to one provider. Get one from :meth:`BatchProviderRegistry.get`.

    The network operations are coroutines; :meth:`prepare` and :meth:`prepare_payloads` are
    synchronous and touch no network.
    """

    def __init__(self, registry: BatchProviderRegistry, record: PluginRecord,
                 options: Mapping[str, Any]) -> None:
        assert record.info is not None
        self._registry = registry
        self._record = record
        self.context = ProviderContext(
            info=record.info,
            options=dict(options),
            files=registry.files,
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
            caller = self._registry.subset_caller(hook, self._record)
            self._callers[hook] = caller
            impls = [
                i for i in caller.get_hookimpls()
                if i.plugin is self._record.plugin
            ]
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
        # The contract says plugins map their SDK's errors; one that slipped through is a plugin bug,
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

    def prepare(self, batch: InputBatch, *, local_id: str | None = None) -> PreparedBatch:
        """Validate the batch and write the provider-native input file. No network.

        The file streams to ``.batch_router/generated/<provider>/batch_<local_id>_input.jsonl``;
        a batch over the provider's byte limit is refused (and no file is left behind).
        """
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
        except FileOperationError as exc:
            if limits.max_bytes is not None and "exceeds the limit" in str(exc):
                raise ValidationError(
                    f"the {self.name} input file would exceed {limits.max_bytes} bytes "
                    "(split the batch, or let the router shard it)",
                    provider=self.name, field="requests",
                ) from None
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
            provider=self.name, local_id=local_id, model=payloads.model, mode=payloads.mode,
            path=path, request_count=count, byte_size=size, metadata=payloads.metadata,
        )

    # -- network operations -------------------------------------------------------------------

    async def submit(self, prepared: PreparedBatch) -> BatchHandle:
        """Create the provider job. Retried only when the provider declares submit idempotent."""
        log = self.context.logger.bind(local_id=prepared.local_id)
        handle: BatchHandle = await self._registry.retry.call(
            lambda: self._invoke("submit", prepared=prepared, context=self.context),
            operation="submit", retry=self.info.idempotent_submit, log=log,
        )
        log.info("batch_submitted", batch_id=handle.batch_id, requests=handle.request_count)
        return handle

    async def poll_status(self, handle: BatchHandle) -> BatchStatusReport:
        """The job's current status (retried on transient errors)."""
        report: BatchStatusReport = await self._registry.retry.call(
            lambda: self._invoke("poll_status", handle=handle, context=self.context),
            operation="poll_status", log=self.context.logger.bind(batch_id=handle.batch_id),
        )
        return report

    async def cancel(self, handle: BatchHandle) -> BatchStatusReport:
        """Ask for cancellation; raises UnsupportedOperationError where the provider cannot."""
        if not self.info.capabilities.cancel:
            raise UnsupportedOperationError("this provider cannot cancel jobs", provider=self.name)
        log = self.context.logger.bind(batch_id=handle.batch_id)
        report: BatchStatusReport = await self._registry.retry.call(
            lambda: self._invoke("cancel", handle=handle, context=self.context),
            operation="cancel", log=log,
        )
        log.info("batch_cancel_requested", status=report.status.value)
        return report

    async def fetch_results(self, handle: BatchHandle, *,
                            retry_until: float | None = None) -> AsyncIterator[RequestResult]:
        """Stream unified results, one per request.

        A transient failure mid-stream restarts the plugin's stream (with the retry policy's backoff)
        and skips the results already delivered, so every ``custom_id`` comes out exactly once. The
        policy's attempts are the limit, or, with ``retry_until`` (a :func:`time.monotonic` deadline),
        that time: a long download then survives an outage of any length up to it.
        """
        policy = self._registry.retry
        log = self.context.logger.bind(batch_id=handle.batch_id)
        # With a stable order, a restarted stream repeats exactly the results already delivered, so a
        # count is enough and memory stays flat; otherwise remember the delivered ids.
        stable = self.info.capabilities.stable_result_order
        delivered: set[str] = set()
        count = 0
        attempt = 0
        while True:
            try:
                position = 0
                async for result in self._iterate_results(handle):
                    position += 1
                    if stable:
                        if position <= count:
                            continue
                    elif result.custom_id in delivered:
                        continue
                    else:
                        delivered.add(result.custom_id)
                    count += 1
                    yield result
                break
            except ProviderTransientError as exc:
                attempt += 1
                if attempt >= policy.attempts and (retry_until is None or time.monotonic() >= retry_until):
                    raise
                delay = policy.delay_for(attempt, exc)
                log.warning("fetch_results_retry", attempt=attempt, delivered=count,
                            wait_s=round(delay, 3), error=str(exc))
                if delay:
                    await asyncio.sleep(delay)
        log.info("results_fetched", results=count)

    async def _iterate_results(self, handle: BatchHandle) -> AsyncIterator[RequestResult]:
        stream = await self._invoke("fetch_results", handle=handle, context=self.context)
        try:
            if hasattr(stream, "__aiter__"):
                async for item in stream:
                    yield item
                return
            iterator: Iterator[RequestResult] = iter(stream)
            pull: Callable[[], list[RequestResult]] = lambda: list(
                itertools.islice(iterator, _SYNC_CHUNK)
            )
            while True:
                chunk = await asyncio.to_thread(pull)
                if not chunk:
                    return
                for item in chunk:
                    yield item
        except Exception as exc:
            raise self._wrap(exc, "fetch_results") from exc

    # -- optional hooks ------------------------------------------------------------------------

    async def find_job(self, local_id: str, request_count: int = 0,
                       known_batch_ids: frozenset[str] = frozenset()) -> BatchHandle | None:
        """The provider job tagged ``local_id``, or None; UnsupportedOperationError if the provider
        cannot look jobs up (it does not implement ``find_job``); UnverifiedCandidatesError when it
        found jobs that may be this one but cannot prove it. Jobs in ``known_batch_ids`` are never
        returned (the ledger already holds them)."""
        if not self.implements("find_job"):
            raise UnsupportedOperationError("this provider cannot look up jobs by tag", provider=self.name)
        kwargs = {"local_id": local_id, "request_count": request_count, "known_batch_ids": known_batch_ids,
                  "context": self.context}
        found: BatchHandle | None = await self._registry.retry.call(
            lambda: self._invoke("find_job", allow_none=True, **kwargs), operation="find_job",
            log=self.context.logger.bind(local_id=local_id))
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

    async def execute_now(self, requests: Sequence[InputRequest], params: InferenceParams) -> list[RequestResult]:
        """Run a small group now (online path); UnsupportedOperationError if the provider cannot."""
        if not self.implements("execute_now"):
            raise UnsupportedOperationError("this provider has no synchronous execution", provider=self.name)
        results: list[RequestResult] = await self._registry.retry.call(
            lambda: self._invoke("execute_now", requests=list(requests), params=params, context=self.context),
            operation="execute_now", log=self.context.logger)
        if len(results) != len(requests):
            raise ProviderPermanentError(f"execute_now returned {len(results)} results for "
                                         f"{len(requests)} requests", provider=self.name)
        return results

    async def delete_job(self, handle: BatchHandle) -> bool:
        """Delete an ended job; UnsupportedOperationError if the provider cannot delete jobs."""
        if not self.implements("delete_job"):
            raise UnsupportedOperationError("this provider cannot delete jobs", provider=self.name)
        result: bool = await self._registry.retry.call(
            lambda: self._invoke("delete_job", handle=handle, context=self.context),
            operation="delete_job", log=self.context.logger.bind(batch_id=handle.batch_id))
        return result

    def create_emulator(self, options: Mapping[str, Any] | None = None) -> Any:
        """The provider's emulator as an ASGI app; UnsupportedOperationError if it has none."""
        if not self.implements("create_emulator"):
            raise UnsupportedOperationError("this provider ships no emulator", provider=self.name)
        return self._caller("create_emulator")(options=dict(options or {}))

    def emulator_options(self, url: str) -> dict[str, str]:
        """Options pointing this provider at its emulator served at ``url``: ``base_url`` (the URL plus
        the provider's ``settings.emulator_base_path``) and a placeholder ``api_key``."""
        return {"base_url": url + str(self.info.settings.get("emulator_base_path", "")), "api_key": "emulator-key"}


def _check_line_sizes(lines: Any, limit: int, batch: InputBatch, provider: str) -> Iterator[bytes]:
    reqs = batch.requests
    for i, line in enumerate(lines):
        if len(line) > limit:
            raise ValidationError(
                ValidationIssue(
                    f"request is {len(line)} bytes once converted; {provider} allows {limit}",
                    custom_id=reqs[i].custom_id if i < len(reqs) else None, field="messages",
                ),
                provider=provider,
            )
        yield line
