"""The plugin contract: the hooks a provider plugin implements. Declarations and documentation only.

Every provider is a plugin found through the ``batch_router`` entry-point group. A provider plugin
implements all six *operation* hooks below; the optional hooks add an emulator. The registry calls
an operation only on the selected provider's plugin. *Observer* plugins (those that implement no
``provider_info``: audit logs, cost caps, metrics) implement ``provider_call_started`` /
``provider_call_finished`` and see every provider call, sync or async, with its awaited outcome.

Conventions that hold for every hook:

* All operation hooks are ``firstresult``: exactly one provider plugin answers each call.
* Arguments are passed by keyword; an implementation may accept any subset of a hook's arguments.
* "May be async" means the implementation may be ``async def`` (or, for ``fetch_results``, an async
  generator); core awaits what needs awaiting. Synchronous implementations of network hooks are run
  in a worker thread so they never block the event loop.
* Network hooks raise :class:`~batch_router_core.errors.ProviderTransientError` for what a retry can
  fix and :class:`~batch_router_core.errors.ProviderPermanentError` otherwise. Core owns the retries
  (``submit`` is only retried when ``provider_info`` says it is idempotent). No SDK exception may
  escape.
* ``context`` is a :class:`~batch_router_core.plugin.context.ProviderContext`: the effective
provider info,
  the user's options (API key, base URL...; secret, never log them), the generated-files directory
  and a bound logger.

Hooks evolve only by gaining arguments; names and ``firstresult`` never change once published.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Iterable, Mapping, Sequence

    from batch_router_core.models import (
        BatchHandle,
        BatchStatusReport,
        InferenceParams,
        InputBatch,
        InputRequest,
        PreparedBatch,
        PreparedPayloads,
        ProviderCall,
        ProviderInfo,
        RequestResult,
    )
    from batch_router_core.plugin.context import ProviderContext
    from batch_router_core.webhooks.events import WebhookEvent

PROJECT_NAME = "batch_router"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -------------------------------------------------------------------------------------------------
# Identity
# -------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def provider_info() -> ProviderInfo:
    """Declare the provider: its name, modes, model patterns, limits, capabilities and status map.

    :returns: a :class:`~batch_router_core.models.ProviderInfo`, usually built from the YAML
    defaults
        the plugin ships with :func:`batch_router_core.config.load_provider_defaults`. The registry
        applies the user's ``batch-router.yaml`` overrides on top.

    Synchronous, no network, cheap: called by the registry when it loads plugins and by
    ``batch-router providers``. It must not import the provider's SDK. ``firstresult``. The returned
    ``name`` must equal the plugin's entry-point name. ``supports_model(model)`` is derived from it
    (``ProviderInfo.supports_model``); it is not a hook of its own.
    """


# -------------------------------------------------------------------------------------------------
# Lifecycle of a batch: prepare -> submit -> poll_status -> fetch_results (| cancel)
# -------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def prepare_payloads(batch: InputBatch, context: ProviderContext) -> PreparedPayloads:
    """Convert a configured unified batch into provider-native request lines.

    :param batch: an :class:`~batch_router_core.models.InputBatch` configured for this provider
        (``batch.params`` names the provider and model). Core has already checked it against the
        provider's declared capabilities and limits (roles, content types, params, duplicate ids).
    :param context: the provider context.
    :returns: a :class:`~batch_router_core.models.PreparedPayloads` whose ``lines`` yield one JSON
        document (bytes) per request, in input order, keeping every ``custom_id``. Yield lazily:
        core streams the lines into the generated input file and measures its size.

    Synchronous and pure: no network, no files, deterministic (the same batch gives the same bytes).
    Provider-specific rules core cannot express are checked here and raise
    :class:`~batch_router_core.errors.ValidationError` naming ``custom_id`` and field.
    Called by ``ProviderHandle.prepare`` (and so by the router and ``batch-router prepare``).
    ``firstresult``.
    """


@hookspec(firstresult=True)
def submit(prepared: PreparedBatch, context: ProviderContext) -> BatchHandle:
    """Create the provider job from a prepared batch (upload the file first where the API needs it).

    :param prepared: the :class:`~batch_router_core.models.PreparedBatch` on disk; tag the provider
        job with ``prepared.local_id`` (metadata or display name) so it can be found after a crash.
    :param context: the provider context.
    :returns: a :class:`~batch_router_core.models.BatchHandle` holding the provider's job id and
        whatever else later calls need (JSON-serialisable, no secrets).

    Network; may be async. Not retried by core unless ``provider_info().idempotent_submit`` is true,
    since a duplicate job is billed twice. Called by ``ProviderHandle.submit``. ``firstresult``.
    """


@hookspec(firstresult=True)
def poll_status(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Report the job's current state.

    :param handle: the handle ``submit`` returned (possibly restored from the ledger).
    :param context: the provider context.
    :returns: a :class:`~batch_router_core.models.BatchStatusReport`: the status normalised through
        the YAML status map (``context.normalize_status``; an unknown raw status is an error, never
        a guess), the raw status, request counts and timestamps.

    Network; may be async; retried on transient errors. Called by ``ProviderHandle.poll_status`` and
    the router's wait loop. ``firstresult``.
    """


@hookspec(firstresult=True)
def fetch_results(
    handle: BatchHandle, context: ProviderContext
) -> Iterable[RequestResult] | AsyncIterable[RequestResult]:
    """Stream the results of a finished job as unified results.

    :param handle: the handle of a job in a terminal status.
    :param context: the provider context.
    :returns: an iterable or async iterable (e.g. a generator) of
        :class:`~batch_router_core.models.RequestResult`, exactly one per submitted request:
        succeeded, errored (the provider's error), expired, or cancelled (a request that appears in
        no result file after a cancel). Read both output and error files where the API has two.

    Network; may be async (an async generator). Stream: never hold all results in memory. If the
    stream fails with a transient error core calls the hook again and skips results already
    delivered. Called by ``ProviderHandle.fetch_results``. ``firstresult``.
    """


@hookspec(firstresult=True)
def cancel(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Ask the provider to cancel the job.

    :param handle: the job to cancel.
    :param context: the provider context.
    :returns: the job's status right after the request (usually CANCELLING or CANCELLED).
    :raises UnsupportedOperationError: when the provider cannot cancel (and its
        ``capabilities.cancel`` is false).

    Network; may be async; retried on transient errors (cancelling twice is harmless). Called by
    ``ProviderHandle.cancel``. ``firstresult``.
    """


# -------------------------------------------------------------------------------------------------
# Optional: readiness
# -------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def check_credentials(context: ProviderContext) -> str | None:
    """Say what is missing before anything is recorded or sent: ``None`` when ready.

    :param context: the provider context (its options hold the user's key, if given there).
    :returns: ``None`` when the provider has the credentials it needs (from the options or the
        environment its SDK reads), else one line saying what is missing and how to provide it
        (never the value of anything secret).

    Optional (added in 0.2): a provider that needs no credentials (a local engine) leaves it out. No
    network: it checks presence, not validity (a wrong key is the provider's 401 at submit). Called
    by the router before it records a job and before it resumes one, so a missing key is a
    configuration error, never a job stuck or marked failed. ``firstresult``.
    """


# -------------------------------------------------------------------------------------------------
# Optional: online execution
# -------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def execute_now(
    requests: Sequence[InputRequest], params: InferenceParams, context: ProviderContext
) -> list[RequestResult]:
    """Execute a small group of requests now, synchronously with respect to the caller (no batch
    job).

    :param requests: the group (a few requests of one task and model).
    :param params: the generation settings (provider, model, mode...).
    :param context: the provider context.
    :returns: one :class:`~batch_router_core.models.RequestResult` per request, in order; a request
    the
        provider rejected is an ERRORED result (the online scheduler then retries it alone).

    Optional: used by the online micro-batching path (``batch_router_core.online``). Make one API
    call where the provider takes many inputs at once (embeddings), concurrent calls otherwise.
    Network; may be async; a failure of the whole call raises (the scheduler falls back to one call
    per request). ``firstresult``.
    """


# -------------------------------------------------------------------------------------------------
# Optional: crash recovery
# -------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def find_job(
    local_id: str, request_count: int, known_batch_ids: frozenset[str], context: ProviderContext
) -> BatchHandle | None:
    """Find a provider job by the tag ``submit`` gave it, after a crash lost the submit's answer.

    :param local_id: batch-router's id for the job (``PreparedBatch.local_id``), which ``submit``
    put
        in the job's metadata or display name.
    :param request_count: how many requests the job holds (lets providers whose jobs cannot carry a
        tag match on size and creation time instead).
    :param known_batch_ids: provider job ids the ledger already holds (for this job or any other):
        never one of these. (Added in 0.2; implementations may leave it out of their signature.)
    :param context: the provider context.
    :returns: the job's :class:`~batch_router_core.models.BatchHandle` if the provider has a job
    with
        that tag, else ``None`` (then the job was certainly never created and may be submitted).
        A provider whose jobs carry no tag never returns a match it cannot prove: it raises
        :class:`~batch_router_core.errors.UnverifiedCandidatesError` with every job that may be
        this one, and the router verifies them by their results before adopting one.

    Optional: providers that can list their jobs implement it (and declare
    ``capabilities.list_jobs``). Without it, ``resume`` cannot tell whether an interrupted submit
    created a job and leaves that job for the user to decide rather than risk paying twice.
    Network; may be async; retried on transient errors. Called by the router's ``resume``.
    ``firstresult``.
    """


@hookspec(firstresult=True)
def delete_job(handle: BatchHandle, context: ProviderContext) -> bool:
    """Delete an ended job (and what the provider keeps of it) when the user asks.

    :param handle: a job in a terminal status.
    :param context: the provider context.
    :returns: True once deleted.

    Optional: providers that can delete jobs implement it (and declare ``capabilities.delete``).
    Deleting a job that has not ended is a :class:`ProviderPermanentError`. Network; may be async.
    Called by ``ProviderHandle.delete_job``. ``firstresult``.
    """


@hookspec(firstresult=True)
def parse_webhook(
    body: bytes, headers: Mapping[str, str], secret: str, context: ProviderContext
) -> WebhookEvent | None:
    """Verify a webhook delivery with the provider's documented scheme; say which job it is about.

    :param body: the request body exactly as received (the signature covers these bytes).
    :param headers: the request's headers.
    :param secret: the endpoint's signing secret (never logged).
    :param context: the provider context.
    :returns: a :class:`~batch_router_core.webhooks.WebhookEvent` for an event that a batch ended;
        None for an event about anything else (a fine-tuning job, a response).

    Raises :class:`~batch_router_core.webhooks.WebhookRejectedError` for a delivery that is
    unsigned, wrongly signed, too old or too new, or malformed: it must never be acted upon. Use the
    SDK's own verifier where it has one. Optional: providers that push batch events implement it.
    Local, no network. Called by ``ProviderHandle.parse_webhook``. ``firstresult``.
    """


# -------------------------------------------------------------------------------------------------
# Optional: local emulator
# -------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def create_emulator(options: Mapping[str, Any]) -> Any:
    """Build a local emulator of the provider's batch API: an ASGI application.

    :param options: emulator settings (e.g. ``{"time_scale": 60.0}``); unknown keys are ignored.
    :returns: an ASGI application that the provider's official SDK can talk to over HTTP.

    Optional. Synchronous. Called by ``batch-router emulate PROVIDER`` and by
    :func:`batch_router_core.emulation.serve`, which serve it with uvicorn. ``firstresult``.
    """


# -------------------------------------------------------------------------------------------------
# Observers: cross-cutting plugins (audit logs, metrics, cost caps)
# -------------------------------------------------------------------------------------------------


@hookspec
def provider_call_started(call: ProviderCall) -> None:
    """A provider hook is about to be called (once per attempt: core's retries are separate calls).

    :param call: which operation of which provider, for which job, which attempt.

    Implemented by observer plugins, for every provider. May be async (awaited on the event loop
    before the call; keep it short). Raising stops the call: the error is what the caller gets, so a
    cost cap raises :class:`~batch_router_core.errors.ProviderPermanentError` to refuse a
    ``submit``.
    """


@hookspec
def provider_call_finished(
    call: ProviderCall, result: Any, error: BaseException | None, duration_s: float
) -> None:
    """A provider hook call ended, with its awaited outcome.

    :param call: the same object ``provider_call_started`` received.
    :param result: what the hook returned (a ``BatchHandle``, a ``BatchStatusReport``...); for
        ``fetch_results``, the number of results the stream delivered. None when it failed.
    :param error: the typed error the call raised (after mapping), or None.
    :param duration_s: wall-clock seconds from start to end (for ``fetch_results``, to the end of
        the stream).

    May be async. An observer's own failure here is logged and ignored: the call already happened.
    """
