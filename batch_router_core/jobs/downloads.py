"""Results on their way from the provider: the local copy every download is written to, and the
results of provider jobs that were never created."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

from batch_router_core.errors import FileOperationError
from batch_router_core.files import atomic_file, disk_error_message, iter_jsonl, iter_jsonl_lines
from batch_router_core.formats.unified import result_line
from batch_router_core.jobs.ledger import JobState, ProviderJob
from batch_router_core.models.enums import ResultStatus
from batch_router_core.models.results import RequestError, RequestResult, UsageInfo
from batch_router_core.plugin.crashpoints import crash_point

__all__ = [
    "UsageTotals",
    "request_metadata",
    "unsent_results",
    "with_metadata",
    "write_local_copy",
]


class UsageTotals:
    """Token usage summed over a download (as ints: a ``UsageInfo`` per addition costs per line)."""

    __slots__ = ("_seen", "_sums")

    def __init__(self) -> None:
        self._sums = [0, 0, 0, 0, 0, 0]
        self._seen = False

    def add(self, usage: UsageInfo) -> None:
        """Add one result's usage."""
        sums = self._sums
        sums[0] += usage.prompt_tokens
        sums[1] += usage.completion_tokens
        sums[2] += usage.total_tokens
        sums[3] += usage.cached_tokens or 0
        sums[4] += usage.cache_creation_tokens or 0
        sums[5] += usage.reasoning_tokens or 0
        self._seen = True

    def total(self) -> UsageInfo | None:
        """The sum, or None when no result carried usage."""
        if not self._seen:
            return None
        s = self._sums
        return UsageInfo(
            prompt_tokens=s[0],
            completion_tokens=s[1],
            total_tokens=s[2],
            cached_tokens=s[3],
            cache_creation_tokens=s[4],
            reasoning_tokens=s[5],
        )


async def write_local_copy(
    results: AsyncIterator[RequestResult], job: ProviderJob, path: Path, usage: UsageTotals
) -> AsyncIterator[tuple[RequestResult, bytes]]:
    """Yield ``results``, each with its unified line (:func:`result_line`, without ``raw``), while
    writing each with its provider record (``raw``) to ``path``: the local copy that outlives the
    provider's own files. The line is made once for both (a writer of results reuses it). Only a
    complete download ever has the final name; a partial one a crashed process left behind is
    removed first."""
    for stale in path.parent.glob(f".{path.name}.*.part"):
        stale.unlink(missing_ok=True)
    dumps = orjson.dumps
    try:
        with atomic_file(path, overwrite=True) as fh:
            written = 0
            halfway = max(1, job.request_count // 2)
            async for result in results:
                line = result_line(result)
                # ``result_line(result, include_raw=True)``, without serialising the rest twice:
                # ``raw`` is its last key.
                fh.write(b"".join((line[:-1], b',"raw":', dumps(result.raw), b"}\n")))
                written += 1
                if result.usage is not None:
                    usage.add(result.usage)
                if written == halfway:
                    fh.flush()
                    crash_point("download")
                yield result, line
    except OSError as exc:
        raise FileOperationError(
            f"results of {job.local_id}: {disk_error_message(exc, path)}; the provider still holds "
            "them",
            path=str(path),
        ) from exc


def request_metadata(path: Path) -> dict[str, Any]:
    """``custom_id -> metadata`` of the requests of a job's local copy that carry metadata (only
    those lines are parsed; a job without any costs one pass over its file's bytes)."""
    found: dict[str, Any] = {}
    for _, raw in iter_jsonl_lines(path):
        if b'"metadata"' in raw:
            data = orjson.loads(raw)
            if data.get("metadata") is not None:
                found[data["custom_id"]] = data["metadata"]
    return found


async def with_metadata(
    results: AsyncIterator[RequestResult], metadata: dict[str, Any]
) -> AsyncIterator[RequestResult]:
    """``results``, each given back its request's metadata."""
    async for result in results:
        meta = metadata.get(result.custom_id)
        yield result if meta is None else attrs.evolve(result, metadata=meta)


def unsent_results(job: ProviderJob) -> Iterator[RequestResult]:
    """A result per request of a provider job that was never created: errored with the provider's
    refusal, or cancelled before submission."""
    refused = job.state is JobState.FAILED
    if refused:
        error = RequestError(
            message=job.error or "the provider refused the batch", code="batch_refused"
        )
    else:
        error = RequestError(message="cancelled before it was submitted", code="batch_cancelled")
    status = ResultStatus.ERRORED if refused else ResultStatus.CANCELLED
    for _, data in iter_jsonl(job.requests_path):
        yield RequestResult(
            custom_id=data["custom_id"],
            provider=job.provider,
            model=job.model,
            status=status,
            error=error,
            metadata=data.get("metadata"),
        )
