"""Creating a provider job from an uploaded file without billing twice or leaving the upload behind.

Plugins whose APIs upload an input file and then create a job from it (OpenAI, Gemini) share this
step. A create call that fails in a way that says nothing was created (a refusal: a 4xx, including
429) discards the upload. One whose outcome is unknown (a 5xx, a timeout, a dropped connection or a
truncated answer) is settled at once by looking the job up by its tag: found, it is returned (the
create did land); certainly absent, the upload is discarded and the error raised for core to retry.

Core reads a 429 out of ``submit`` as "nothing was created and nothing is left behind" (the next try
needs no reconciliation). When an upload could not be deleted, the error that leaves ``submit`` is
therefore :func:`cleanup_pending`: transient, without a status, so the next try is a resubmission
that finds and deletes the leftover first.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any, TypeVar

from batch_router_core.errors import ProviderError, ProviderPermanentError, ProviderTransientError

__all__ = [
    "cleanup_pending",
    "create_from_upload",
    "delete_files",
    "discard_uploads",
    "is_refusal",
]

T = TypeVar("T")


def is_refusal(exc: ProviderError) -> bool:
    """True when the provider certainly did not act on the call (a permanent error or any 4xx)."""
    return isinstance(exc, ProviderPermanentError) or (
        exc.status_code is not None and 400 <= exc.status_code < 500
    )


def cleanup_pending(exc: ProviderError, what: str) -> ProviderTransientError:
    """A transient error (no status: never read as a refusal) saying an upload is still to
    delete."""
    return ProviderTransientError(
        f"{exc}; {what} could not be deleted yet (retried)", provider=exc.provider
    )


async def create_from_upload(
    create: Callable[[], Awaitable[T]],
    *,
    lookup: Callable[[], Awaitable[T | None]],
    discard: Callable[[], Awaitable[Any]],
    log: Any,
) -> T:
    """``create()``; on failure, settle what happened to the job and to the upload, then
    re-raise."""
    try:
        return await create()
    except ProviderError as exc:
        if not is_refusal(exc):
            try:
                found = await lookup()
            except ProviderError as lookup_error:
                # Cannot tell whether the job exists: the upload may be in use, so it stays.
                log.warning(
                    "create_outcome_unknown", error=str(exc), lookup_error=str(lookup_error)
                )
                raise exc from None
            if found is not None:
                log.info("create_landed_despite_error", error=str(exc))
                return found
        try:
            await discard()
        except ProviderError as cleanup_error:
            log.warning("upload_not_discarded", error=str(cleanup_error))
            raise cleanup_pending(exc, "the unused upload") from cleanup_error
        raise


async def discard_uploads(
    name: str,
    found: Callable[[], AsyncIterable[str]],
    delete: Callable[[str], Awaitable[Any]],
    log: Any,
    *,
    strict: bool = False,
) -> None:
    """Delete the uploads ``found`` yields (ids of files called ``name``: an earlier attempt's
    upload whose answer was lost).

    Best effort after a failed upload (that error is what matters, and the next attempt comes
    back here ``strict``); ``strict`` before a re-upload, so that a failure to clean up is
    retried (:func:`cleanup_pending`) rather than leaving an orphan behind. ``found`` and
    ``delete`` raise the core's errors (the plugin maps its SDK's).
    """
    try:
        async for file_id in found():
            await delete(file_id)
    except ProviderError as exc:
        if strict:
            raise cleanup_pending(exc, f"an earlier upload of {name}") from exc
        log.warning("upload_not_discarded", file=name, error=str(exc))


async def delete_files(
    file_ids: Iterable[str | None], delete: Callable[[str], Awaitable[Any]]
) -> None:
    """Delete each file (empty ids skipped); one already gone (404) counts as deleted."""
    for file_id in file_ids:
        if not file_id:
            continue
        try:
            await delete(file_id)
        except ProviderPermanentError as exc:
            if exc.status_code != 404:
                raise
