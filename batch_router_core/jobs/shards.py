"""Cutting a batch into provider jobs and writing each one's files, before anything is sent."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from batch_router_core.cost.estimate import (
    DEFAULT_EXPECTED_OUTPUT,
    CostEstimate,
    estimate_requests,
)
from batch_router_core.cost.tokens import token_counter
from batch_router_core.errors import BatchTooLargeError, ValidationError, ValidationIssue
from batch_router_core.files import GeneratedFiles, new_local_id, write_jsonl_lines
from batch_router_core.formats.unified import request_line
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.requests import InputBatch, InputRequest
from batch_router_core.registry.handle import ProviderHandle
from batch_router_core.tokens import estimate_input_tokens

__all__ = [
    "count_shards",
    "estimate_batch",
    "remove_shard_files",
    "token_issues",
    "validate_batches",
    "write_request_stream",
    "write_shards",
]


def count_shards(provider: ProviderHandle, batch: InputBatch) -> list[InputBatch]:
    """``batch`` cut into pieces of at most the provider's ``max_requests`` and, where the model
    has one, of at most its ``max_enqueued_tokens`` (estimated)."""
    pieces = list(_cut(batch.requests, provider, batch.configured_params))
    if len(pieces) == 1:
        return [batch]
    return [InputBatch(requests=piece, params=batch.params) for piece in pieces]


def _cut(
    requests: Iterable[InputRequest], provider: ProviderHandle, params: InferenceParams
) -> Iterator[tuple[InputRequest, ...]]:
    """Consecutive pieces of ``requests`` within the count and enqueued-token limits; read lazily,
    one piece at a time. A request alone over the token limit is a piece of its own (validation
    names it)."""
    limits = provider.info.limits
    count = limits.max_requests
    tokens = limits.enqueued_tokens_for(str(params.model_id))
    if count is None and tokens is None:
        yield from _whole(requests)
        return
    piece: list[InputRequest] = []
    used = 0
    for req in requests:
        cost = estimate_input_tokens(req, params) if tokens is not None else 0
        if piece and (
            (count is not None and len(piece) >= count)
            or (tokens is not None and used + cost > tokens)
        ):
            yield tuple(piece)
            piece, used = [], 0
        piece.append(req)
        used += cost
    if piece:
        yield tuple(piece)


def token_issues(provider: ProviderHandle, batch: InputBatch) -> list[ValidationIssue]:
    """A batch (or one request of it) over its model's enqueued-token limit, which the provider
    would refuse: the whole batch when it is to be one job, else each request alone."""
    params = batch.configured_params
    limit = provider.info.limits.enqueued_tokens_for(str(params.model_id))
    if limit is None:
        return []
    issues = []
    total = 0
    for req in batch.requests:
        cost = estimate_input_tokens(req, params)
        total += cost
        if cost > limit:
            issues.append(
                ValidationIssue(
                    f"about {cost} input tokens, over {provider.name}'s limit of {limit} "
                    f"enqueued tokens for {params.model_id}",
                    custom_id=req.custom_id,
                    field="messages",
                )
            )
    if total > limit and not issues:
        issues.append(
            ValidationIssue(
                f"about {total} input tokens, over {provider.name}'s limit of {limit} enqueued "
                f"tokens for {params.model_id} (split the batch, or let the router shard it)",
                field="requests",
            )
        )
    return issues


def write_shards(
    provider: ProviderHandle,
    batch: InputBatch,
    files: GeneratedFiles,
    *,
    shard: bool,
    validated: bool = False,
    expected_output: int = DEFAULT_EXPECTED_OUTPUT,
) -> list[dict[str, Any]]:
    """Split (when ``shard``) and write each shard's unified and provider files. No network.
    Each shard's record carries its cost estimate (``estimate``).

    A piece over the provider's byte limit is halved until it fits (when sharding).
    ``validated=True``: :func:`validate_batches` has passed this batch with the same ``shard``, so
    the provider's checks are not run again (any part of a valid piece is valid).

    Either every shard is written or none is: on an error the files written so far are removed.
    """
    pieces = count_shards(provider, batch) if shard else [batch]
    return _write_pieces(provider, pieces, files, shard, validated, expected_output)


def estimate_batch(
    provider: ProviderHandle, batch: InputBatch, expected_output: int = DEFAULT_EXPECTED_OUTPUT
) -> CostEstimate:
    """What ``batch`` will cost on ``provider``: tokens counted, priced at its model's rates."""
    params = batch.configured_params
    model = str(params.model_id)
    table = provider.info.price_table
    return estimate_requests(
        batch.requests,
        params,
        token_counter(provider.name, model),
        table.for_model(model),
        expected_output=expected_output,
        prices_as_of=table.as_of,
    )


def _write_pieces(
    provider: ProviderHandle,
    pieces: list[InputBatch],
    files: GeneratedFiles,
    halve: bool,
    validated: bool,
    expected_output: int = DEFAULT_EXPECTED_OUTPUT,
) -> list[dict[str, Any]]:
    """Write each piece's unified and provider files (halving, with ``halve``, a piece over the
    byte limit); all or none."""
    shards: list[dict[str, Any]] = []
    queue = list(pieces)
    try:
        while queue:
            piece = queue.pop(0)
            local_id = new_local_id()
            try:
                prepared = provider.prepare(piece, local_id=local_id, validated=validated)
            except BatchTooLargeError:
                if halve and len(piece.requests) > 1:
                    half = len(piece.requests) // 2
                    queue[:0] = [
                        InputBatch(requests=piece.requests[:half], params=piece.params),
                        InputBatch(requests=piece.requests[half:], params=piece.params),
                    ]
                    continue
                raise
            requests_path = files.path(provider.name, local_id, "requests")
            shards.append(
                {
                    "local_id": local_id,
                    "request_count": prepared.request_count,
                    "input_path": prepared.path,
                    "requests_path": requests_path,
                    "est_tokens": _tokens(provider, piece),
                    "estimate": estimate_batch(provider, piece, expected_output),
                }
            )
            write_jsonl_lines(requests_path, (request_line(r) for r in piece.requests))
    except BaseException:
        remove_shard_files(shards)
        raise
    return shards


def remove_shard_files(shards: Iterable[Mapping[str, Any]]) -> None:
    """Remove the files :func:`write_shards` wrote."""
    for shard in shards:
        for key in ("input_path", "requests_path"):
            Path(shard[key]).unlink(missing_ok=True)


def validate_batches(
    provider: Callable[[str], ProviderHandle], batches: Sequence[InputBatch], *, shard: bool
) -> None:
    """Everything checkable before spending, for batches about to be submitted: providers, models,
    limits, content, unique ids within each batch (checked shard by shard as :func:`write_shards`
    would cut them, and across its shards). Raises :class:`ValidationError` with every problem.

    ``provider`` gives the handle for a provider name (:class:`ProviderNotFoundError` names what is
    installed). A custom_id may repeat across batches: the same batch can run on two providers.
    """
    issues: list[ValidationIssue] = []
    for index, batch in enumerate(batches):
        handle = provider(batch.provider)
        found: list[ValidationIssue] = []
        pieces = count_shards(handle, batch) if shard else [batch]
        for piece in pieces:
            try:
                handle.validate(piece)
            except ValidationError as exc:
                found.extend(exc.issues)
            found.extend(token_issues(handle, piece))
        if len(pieces) > 1:
            found.extend(_duplicate_ids(batch))
        issues.extend(
            ValidationIssue(
                i.message,
                custom_id=i.custom_id,
                field=f"batches[{index}].{i.field}" if i.field else f"batches[{index}]",
            )
            for i in found
        )
    if issues:
        raise ValidationError(issues)


def _duplicate_ids(batch: InputBatch) -> list[ValidationIssue]:
    seen: set[str] = set()
    issues = []
    for req in batch.requests:
        if req.custom_id in seen:
            issues.append(
                ValidationIssue(
                    "duplicate custom_id; custom_ids must be unique within a batch",
                    custom_id=req.custom_id,
                    field="custom_id",
                )
            )
        seen.add(req.custom_id)
    return issues


def write_request_stream(
    provider: ProviderHandle,
    requests: Iterable[InputRequest],
    params: InferenceParams,
    files: GeneratedFiles,
    *,
    shard: bool,
    issues: list[ValidationIssue] | None = None,
    expected_output: int = DEFAULT_EXPECTED_OUTPUT,
) -> list[dict[str, Any]]:
    """Validate and write a stream of requests (a generator over a large file) as provider jobs,
    holding one shard of requests in memory at a time, never the whole input.

    With ``shard`` the stream is read ``max_requests`` at a time and each piece is validated and
    written (halved further if over the byte limit) before the next is read; without it the stream
    is one provider job. Problems are collected over the whole stream, after any already in
    ``issues`` (the input file's own): if there are any, every file written so far is removed and
    one :class:`ValidationError` lists them all. custom_ids are unique across the whole stream (a
    set of the ids is kept: tens of bytes a request, not the requests).
    """
    found: list[ValidationIssue] = [] if issues is None else issues
    seen: set[str] = set()
    shards: list[dict[str, Any]] = []
    try:
        pieces = _cut(requests, provider, params) if shard else _whole(requests)
        for chunk in pieces:
            batch = InputBatch(requests=chunk, params=params)
            for req in chunk:
                if req.custom_id in seen:
                    found.append(
                        ValidationIssue(
                            "duplicate custom_id (used by an earlier shard); custom_ids must be "
                            "unique within a batch",
                            custom_id=req.custom_id,
                            field="custom_id",
                        )
                    )
            seen.update(req.custom_id for req in chunk)
            try:
                provider.validate(batch)
            except ValidationError as exc:
                found.extend(exc.issues)
            found.extend(token_issues(provider, batch))
            if not found:  # once something is wrong, only look for more problems
                # Already cut to the limits: only the byte limit can split it further.
                shards.extend(_write_pieces(provider, [batch], files, shard, True, expected_output))
        if not seen:  # an empty stream: the provider's check says so
            try:
                provider.validate(InputBatch(requests=(), params=params))
            except ValidationError as exc:
                found.extend(exc.issues)
        if found:
            raise ValidationError(found)
    except BaseException:
        remove_shard_files(shards)
        raise
    return shards


def _whole(requests: Iterable[InputRequest]) -> Iterator[tuple[InputRequest, ...]]:
    everything = tuple(requests)
    if everything:
        yield everything


def _tokens(provider: ProviderHandle, piece: InputBatch) -> int:
    """The piece's estimated input tokens, where its model has an enqueued-token limit (else 0:
    nothing is paced by tokens, and nothing is spent estimating)."""
    params = piece.configured_params
    if provider.info.limits.enqueued_tokens_for(str(params.model_id)) is None:
        return 0
    return sum(estimate_input_tokens(req, params) for req in piece.requests)
