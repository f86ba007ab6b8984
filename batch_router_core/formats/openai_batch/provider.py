"""The hook implementations every provider with OpenAI's Files and Batches API shares.

OpenAI, Azure OpenAI and Groq take the same input lines, upload them the same way, create,
poll, cancel and list batches with the same objects and answer with the same output and error
files. :class:`OpenAIStyleProvider` implements the provider hooks once over an SDK client with
that surface (``files.create``, ``batches.create`` / ``retrieve`` / ``cancel`` / ``list``,
``files.with_streaming_response.content``, ``post``); a plugin subclasses it, says how to build
its client and where it differs, and names the class as its entry point::

    [project.entry-points.batch_router]
    groq = "batch_router_groq.plugin:GroqProvider"

Nothing here imports an SDK: subclasses build their client on first use.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar

from batch_router_core.formats.openai_batch.calls import (
    answer,
    call_bodies,
    embedding_answers,
    shares,
)
from batch_router_core.formats.openai_batch.requests import (
    COMPLETIONS,
    EMBEDDINGS,
    batch_lines,
    body_params,
    endpoint_for,
    request_payload,
)
from batch_router_core.formats.openai_batch.results import parse_line
from batch_router_core.plugin import (
    BatchHandle,
    BatchMode,
    BatchStatus,
    BatchStatusReport,
    InferenceParams,
    InputBatch,
    InputRequest,
    PreparedBatch,
    PreparedPayloads,
    ProviderContext,
    ProviderError,
    ProviderInfo,
    ProviderPermanentError,
    RequestCounts,
    RequestError,
    RequestResult,
    ResultStatus,
    SdkErrorMap,
    ValidationError,
    crash_point,
    create_from_upload,
    delete_files,
    discard_uploads,
    hookimpl,
    is_refusal,
    load_provider_defaults,
    per_loop,
    result_for_error,
)
from batch_router_core.plugin.fastjson import iter_jsonl_chunks

__all__ = [
    "TAG_KEY",
    "OpenAIStyleProvider",
    "openai_sdk_errors",
    "unaccounted",
    "window_hours",
]

#: Metadata key tagging every job with batch-router's local id (found again after a crash).
TAG_KEY = "batch_router_local_id"


def _dt(ts: int | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc) if ts is not None else None


def _mode_for(endpoint: str) -> BatchMode:
    # Azure names its endpoints without the /v1 the others write.
    if endpoint.endswith("/embeddings"):
        return BatchMode.EMBEDDING
    if endpoint.endswith("/completions") and not endpoint.endswith("/chat/completions"):
        return BatchMode.COMPLETION
    return BatchMode.CHAT


def _openai_sdk_classes() -> dict[str, tuple[type[BaseException], ...]]:
    import openai

    return {
        "status": (openai.APIStatusError,),
        "transient": (openai.APIConnectionError, openai.APITimeoutError),
        "permanent": (openai.OpenAIError,),
    }


def openai_sdk_errors(provider: str) -> SdkErrorMap:
    """The ``openai`` SDK's exceptions mapped onto the core error tree for ``provider``: OpenAI's,
    and every service reached through that SDK (Azure OpenAI's ``AzureOpenAI`` client)."""
    return SdkErrorMap(provider, _openai_sdk_classes)


def window_hours(window: str) -> int | None:
    """A completion window (``24h``, ``7d``) in hours, or None when it is not one."""
    m = re.fullmatch(r"([1-9][0-9]*)([hd])", window)
    if m is None:
        return None
    return int(m.group(1)) * (24 if m.group(2) == "d" else 1)


async def unaccounted(
    ids: AsyncIterable[str] | Iterable[str],
    seen: set[str],
    status: BatchStatus,
    *,
    provider: str,
    model: str | None,
    failure: str | None,
) -> AsyncIterator[RequestResult]:
    """A result for every submitted id (``ids``, in input order) not in ``seen``: the requests an
    ended job left in neither its output nor its error file. Cancelled and expired jobs leave
    the requests that never ran; a failed job (``failure`` says why) or a completed one missing
    lines leaves errors. ``seen`` is added to, so an id is answered once."""
    if status is BatchStatus.CANCELLED:
        outcome = (
            ResultStatus.CANCELLED,
            "batch_cancelled",
            "The batch was cancelled before this request ran.",
        )
    elif status is BatchStatus.EXPIRED:
        outcome = (
            ResultStatus.EXPIRED,
            "batch_expired",
            "The request was not executed before the batch's window or timeout ran out.",
        )
    else:
        outcome = (
            ResultStatus.ERRORED,
            "batch_failed" if status is BatchStatus.FAILED else "missing_result",
            failure or "No result was returned.",
        )

    async def each() -> AsyncIterator[str]:
        if isinstance(ids, AsyncIterable):
            async for cid in ids:
                yield cid
        else:
            for cid in ids:
                yield cid

    async for cid in each():
        if cid not in seen:
            seen.add(cid)
            yield RequestResult(
                custom_id=cid,
                status=outcome[0],
                provider=provider,
                model=model,
                error=RequestError(message=outcome[2], code=outcome[1]),
            )


class OpenAIStyleProvider:
    """A provider plugin for a service with OpenAI's Files and Batches API.

    Subclasses set :attr:`name`, :attr:`defaults_package`, :attr:`errors`, :attr:`key_env` and
    :attr:`client_options`, implement :meth:`build_client`, and override the methods below where
    their service differs.

    The completion window is the ``completion_window`` option, else the ``completion_window``
    setting of the provider's YAML (``24h`` when it has none); it must lie within the setting
    ``completion_window_range`` (``[shortest, longest]``; by default the one window).
    """

    #: the provider's name (its entry point's name and its YAML's ``name``)
    name: ClassVar[str]
    #: the package holding the provider's ``defaults.yaml``
    defaults_package: ClassVar[str]
    #: the SDK's exceptions mapped onto the core error tree
    errors: ClassVar[SdkErrorMap]
    #: the environment variable the SDK reads the key from
    key_env: ClassVar[str]
    #: the options that make a client (one client per distinct set, per event loop)
    client_options: ClassVar[tuple[str, ...]] = ("api_key", "base_url")

    # -- what a subclass supplies --------------------------------------------------------------

    def build_client(self, options: Mapping[str, Any]) -> Any:
        """A new async SDK client for these options (the SDK's own retries off: core retries)."""
        raise NotImplementedError

    def wire_endpoint(self, endpoint: str) -> str:
        """The service's name for an OpenAI endpoint (``/v1/chat/completions``...): in the input
        lines' ``url`` and at create."""
        return endpoint

    def sync_path(self, endpoint: str) -> str:
        """The path, relative to the client's base URL, of a synchronous call to ``endpoint``."""
        return endpoint.removeprefix("/v1")

    async def iter_batches(self, client: Any) -> AsyncIterator[Any]:
        """The account's batches, newest first."""
        async for batch in client.batches.list(limit=100):
            yield batch

    async def iter_batch_files(self, client: Any) -> AsyncIterator[Any]:
        """The account's files of purpose ``batch``."""
        async for f in client.files.list(purpose="batch"):
            yield f

    # -- plumbing --------------------------------------------------------------------------------

    def completion_window(self, context: ProviderContext) -> str:
        """The window jobs are created with, checked against the service's range."""
        settings = context.info.settings
        window = str(
            context.options.get("completion_window") or settings.get("completion_window", "24h")
        )
        low, high = (str(w) for w in settings.get("completion_window_range", (window, window)))
        hours, least, most = window_hours(window), window_hours(low), window_hours(high)
        if hours is None or least is None or most is None or not least <= hours <= most:
            span = low if low == high else f"from {low} to {high}"
            raise ValidationError(
                f"{self.name} takes a completion window {span} (hours: 24h, days: 7d), got "
                f"{window!r}",
                provider=self.name,
                field="completion_window",
            )
        return window

    def client_settings(self, context: ProviderContext) -> dict[str, Any]:
        """What a client is built from: the :attr:`client_options` the user gave (None where not
        given)."""
        return {k: context.options.get(k) for k in self.client_options}

    def client(self, context: ProviderContext) -> Any:
        """The client for these options, one per event loop (their pools are loop-bound)."""
        settings = self.client_settings(context)

        def build() -> Any:
            with self.errors.map("client"):
                return self.build_client(settings)

        return per_loop((self.name, *settings.values()), build)

    def _report(self, batch: Any, context: ProviderContext) -> BatchStatusReport:
        status = context.normalize_status(batch.status)
        rc = batch.request_counts
        total = rc.total if rc else 0
        done = rc.completed if rc else 0
        failed = rc.failed if rc else 0
        counts = RequestCounts(
            total=total,
            succeeded=done,
            errored=failed,
            processing=0 if status.is_terminal else max(0, total - done - failed),
        )
        errors = batch.errors.data if batch.errors and batch.errors.data else []
        error = None
        if errors:
            error = "; ".join(
                f"line {e.line}: {e.code}: {e.message}" if e.line else f"{e.code}: {e.message}"
                for e in errors[:20]
            )
        ended = batch.completed_at or batch.failed_at or batch.expired_at or batch.cancelled_at
        return BatchStatusReport(
            provider=self.name,
            batch_id=batch.id,
            status=status,
            raw_status=batch.status,
            request_counts=counts,
            created_at=_dt(batch.created_at),
            started_at=_dt(batch.in_progress_at),
            finalizing_at=_dt(batch.finalizing_at),
            ended_at=_dt(ended),
            expires_at=_dt(batch.expires_at),
            cancelling_at=_dt(batch.cancelling_at),
            error=error,
            raw=batch.model_dump(mode="json"),
            # The queue of enqueued tokens was full: nothing ran, and it can be created again
            # once earlier batches have finished.
            requeue=status is BatchStatus.FAILED
            and any(e.code == "token_limit_exceeded" for e in errors),
        )

    async def _lines(self, client: Any, file_id: str) -> AsyncIterator[dict[str, Any]]:
        """Stream a file's JSONL content from the API, line by line."""
        with self.errors.map("files.content", file_id=file_id):
            async with client.files.with_streaming_response.content(file_id) as response:
                async for line in iter_jsonl_chunks(response.iter_bytes(1 << 16)):
                    yield line

    async def _discard_uploads_named(
        self, client: Any, name: str, context: ProviderContext, *, strict: bool = False
    ) -> None:
        """Delete batch files called ``name`` (see
        :func:`~batch_router_core.plugin.discard_uploads`)."""

        async def found() -> AsyncIterator[str]:
            with self.errors.map("files.list"):
                async for f in self.iter_batch_files(client):
                    if f.filename == name:
                        yield f.id

        async def delete(file_id: str) -> None:
            with self.errors.map("files.delete", file_id=file_id):
                await client.files.delete(file_id)

        await discard_uploads(name, found, delete, context.logger, strict=strict)

    async def _input_ids(
        self, client: Any, handle: BatchHandle, context: ProviderContext
    ) -> AsyncIterator[str]:
        """The submitted custom_ids: from batch-router's local copy, else downloaded."""
        local = context.submitted_custom_ids(handle)
        if local is not None:
            for cid in local:
                yield cid
            return
        async for line in self._lines(client, handle.data["input_file_id"]):
            yield line["custom_id"]

    # -- hooks ---------------------------------------------------------------------------------

    @hookimpl
    def provider_info(self) -> ProviderInfo:
        """Declared in the plugin's ``defaults.yaml``."""
        return load_provider_defaults(self.defaults_package, "defaults.yaml")

    @hookimpl
    def check_credentials(self, context: ProviderContext) -> str | None:
        """A key from ``--option api_key`` or the environment variable the SDK reads."""
        if context.options.get("api_key") or os.environ.get(self.key_env):
            return None
        return f"no API key: set {self.key_env}, or pass --option api_key=... (api_key=... in code)"

    @hookimpl
    def prepare_payloads(self, batch: InputBatch, context: ProviderContext) -> PreparedPayloads:
        """Unified batch -> batch input lines (lazily)."""
        endpoint = self.wire_endpoint(endpoint_for(batch.configured_params))
        self.completion_window(context)  # refused before anything is written or sent
        return PreparedPayloads(
            provider=self.name,
            model=batch.model,
            mode=batch.mode,
            lines=batch_lines(batch, context.info.settings, url=endpoint, provider=self.name),
            metadata={"endpoint": endpoint},
        )

    @hookimpl
    async def submit(self, prepared: PreparedBatch, context: ProviderContext) -> BatchHandle:
        """Upload the input file (purpose ``batch``) and create the batch, tagged with the local
        id.

        An upload whose answer was lost is looked for by its file name and deleted; a create
        whose answer was lost is looked up by its tag (see
        :mod:`batch_router_core.plugin.uploads`).
        """
        client = self.client(context)
        endpoint = prepared.metadata["endpoint"]
        window = self.completion_window(context)
        if (
            prepared.resubmission
        ):  # an earlier attempt may have uploaded the file before it was lost
            await self._discard_uploads_named(client, prepared.path.name, context, strict=True)
        try:
            with self.errors.map("files.create"):
                with prepared.path.open("rb") as fh:
                    uploaded = await client.files.create(
                        file=(prepared.path.name, fh), purpose="batch"
                    )
        except ProviderError as exc:
            if not is_refusal(exc):
                # Best effort; the error (never a 429 here) makes the next try a resubmission
                # that cleans up.
                await self._discard_uploads_named(client, prepared.path.name, context)
            raise
        crash_point("after_upload")

        async def create() -> BatchHandle:
            with self.errors.map("batches.create"):
                batch = await client.batches.create(
                    input_file_id=uploaded.id,
                    endpoint=endpoint,
                    completion_window=window,
                    metadata={TAG_KEY: prepared.local_id},
                )
            return BatchHandle(
                provider=self.name,
                batch_id=batch.id,
                local_id=prepared.local_id,
                model=prepared.model,
                mode=prepared.mode,
                request_count=prepared.request_count,
                submitted_at=_dt(batch.created_at),
                data={
                    "endpoint": endpoint,
                    "input_file_id": uploaded.id,
                    "input_path": str(prepared.path),
                },
            )

        async def discard() -> None:
            with self.errors.map("files.delete"):
                await client.files.delete(uploaded.id)

        return await create_from_upload(
            create,
            lookup=lambda: self.find_job(local_id=prepared.local_id, context=context),
            discard=discard,
            log=context.logger.bind(local_id=prepared.local_id),
        )

    @hookimpl
    async def poll_status(self, handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
        """Retrieve the batch and normalise its status through the YAML map."""
        with self.errors.map("batches.retrieve", batch_id=handle.batch_id):
            batch = await self.client(context).batches.retrieve(handle.batch_id)
        return self._report(batch, context)

    @hookimpl
    async def cancel(self, handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
        """Ask the service to cancel (the batch goes ``cancelling``, then ``cancelled``)."""
        with self.errors.map("batches.cancel", batch_id=handle.batch_id):
            batch = await self.client(context).batches.cancel(handle.batch_id)
        return self._report(batch, context)

    @hookimpl
    async def delete_job(self, handle: BatchHandle, context: ProviderContext) -> bool:
        """Delete what the service keeps of an ended batch: its input, output and error files (a
        batch itself cannot be deleted). A file already gone counts as deleted."""
        client = self.client(context)
        with self.errors.map("batches.retrieve", batch_id=handle.batch_id):
            batch = await client.batches.retrieve(handle.batch_id)

        async def delete(file_id: str) -> None:
            with self.errors.map("files.delete", file_id=file_id):
                await client.files.delete(file_id)

        await delete_files((batch.input_file_id, batch.output_file_id, batch.error_file_id), delete)
        return True

    @hookimpl
    async def fetch_results(
        self, handle: BatchHandle, context: ProviderContext
    ) -> AsyncIterator[RequestResult]:
        """Stream the output file, then the error file; account for requests in neither."""
        client = self.client(context)
        with self.errors.map("batches.retrieve", batch_id=handle.batch_id):
            batch = await client.batches.retrieve(handle.batch_id)
        status = context.normalize_status(batch.status)
        if not status.is_terminal:
            raise ProviderPermanentError(
                f"batch {batch.id} has not ended ({batch.status})",
                provider=self.name,
                batch_id=batch.id,
            )
        rc = batch.request_counts
        # When the counts say every request has a line, nothing can be missing: no need to
        # remember ids (memory stays flat for the common, completed case).
        complete = (
            status is BatchStatus.COMPLETED
            and rc is not None
            and (rc.completed + rc.failed >= handle.request_count)
        )
        seen: set[str] = set()
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                async for line in self._lines(client, file_id):
                    result = parse_line(line, handle.model, provider=self.name)
                    if not complete:
                        seen.add(result.custom_id)
                    yield result
        if complete:
            return
        failure = self._report(batch, context).error
        ids = self._input_ids(client, handle, context)
        async for result in unaccounted(
            ids, seen, status, provider=self.name, model=handle.model, failure=failure
        ):
            yield result

    @hookimpl
    async def execute_now(
        self, requests: list[InputRequest], params: InferenceParams, context: ProviderContext
    ) -> list[RequestResult]:
        """Run a small group now: one call for all inputs of embeddings and of completions (a
        prompt list), concurrent calls otherwise."""
        client = self.client(context)
        endpoint = endpoint_for(params)
        base = body_params(params, endpoint, context.info.settings, None)
        path = self.sync_path(endpoint)
        model = str(params.model_id)

        if endpoint == EMBEDDINGS:
            texts = [request_payload(r, endpoint, None)["input"] for r in requests]
            with self.errors.map("embeddings.create"):
                resp = await client.post(path, body={**base, "input": texts}, cast_to=object)
            return embedding_answers(requests, texts, resp, model, self.name)
        if endpoint == COMPLETIONS and len(requests) > 1:
            # The completions endpoint takes a list of prompts: one call, a choice per prompt.
            prompts = [request_payload(r, endpoint, None)["prompt"] for r in requests]
            with self.errors.map("completions.create"):
                resp = await client.post(path, body={**base, "prompt": prompts}, cast_to=object)
            choices = sorted(resp["choices"], key=lambda c: c["index"])
            usage = resp.get("usage") or {}
            # The call reports one usage: each result gets its share of the prompt tokens (by
            # length) and of the completion tokens (by answer length).
            prompt_shares = shares(int(usage.get("prompt_tokens") or 0), [len(p) for p in prompts])
            answer_shares = shares(
                int(usage.get("completion_tokens") or 0),
                [len(c.get("text") or "") for c in choices],
            )
            out = []
            for r, choice, pt, ct in zip(
                requests, choices, prompt_shares, answer_shares, strict=True
            ):
                own = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
                body = {**resp, "choices": [{**choice, "index": 0}], "usage": own}
                out.append(answer(r.custom_id, body, model, self.name))
            return out
        body_of = call_bodies(params, endpoint, context.info.settings)

        async def one(req: InputRequest) -> RequestResult:
            try:
                with self.errors.map(endpoint.strip("/")):
                    body = await client.post(path, body=body_of(req), cast_to=object)
            except ProviderPermanentError as exc:
                return result_for_error(req.custom_id, exc, provider=self.name, model=model)
            return answer(req.custom_id, body, model, self.name)

        return list(await asyncio.gather(*(one(r) for r in requests)))

    @hookimpl
    async def find_job(self, local_id: str, context: ProviderContext) -> BatchHandle | None:
        """List batches (newest first) and return the one tagged ``local_id``, if any."""
        client = self.client(context)
        limit = context.info.limits.find_job_max_scan
        scanned = 0
        with self.errors.map("batches.list"):
            async for batch in self.iter_batches(client):
                if (batch.metadata or {}).get(TAG_KEY) == local_id:
                    return BatchHandle(
                        provider=self.name,
                        batch_id=batch.id,
                        local_id=local_id,
                        model=getattr(batch, "model", None) or "",
                        mode=_mode_for(batch.endpoint),
                        request_count=batch.request_counts.total if batch.request_counts else 0,
                        submitted_at=_dt(batch.created_at),
                        data={"endpoint": batch.endpoint, "input_file_id": batch.input_file_id},
                    )
                scanned += 1
                if scanned >= limit:
                    break
        return None
