"""The unified JSONL formats: requests in, results out (documented in docs/formats.md).

Reading streams line by line; a bad line raises a ValidationError naming the file, the line, the
``custom_id`` (when it could be read) and the field. Writing streams too and creates user-only files.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from .errors import ValidationError, ValidationIssue
from .files import iter_jsonl_lines, write_jsonl_lines
from .models.requests import InputRequest
from .models.results import RequestResult
from .serialization import from_data, to_data

__all__ = ["read_requests", "result_line", "write_results", "write_results_async"]


def read_requests(path: Path | str) -> Iterator[InputRequest]:
    """Stream :class:`InputRequest` objects from a unified JSONL file.

    Each line is ``{"custom_id": ..., "messages": [...], "params": {...}?}``. Problems on any line
    raise a :class:`ValidationError` whose issues carry path, line, custom_id and field.
    """
    label = str(path)
    for number, raw in iter_jsonl_lines(path):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(ValidationIssue(f"invalid JSON: {exc}", path=label, line=number)) from None
        if not isinstance(data, dict):
            raise ValidationError(ValidationIssue(
                f"expected a JSON object per line, got {type(data).__name__}", path=label, line=number))
        try:
            yield from_data(InputRequest, data)
        except ValidationError as exc:
            cid = data.get("custom_id") if isinstance(data.get("custom_id"), str) else None
            raise ValidationError([
                ValidationIssue(i.message, custom_id=i.custom_id or cid, field=i.field,
                                path=label, line=number)
                for i in exc.issues
            ]) from None


def result_line(result: RequestResult, *, include_raw: bool = False) -> bytes:
    """One unified result as a JSON line (without the provider's raw record unless asked)."""
    data: dict[str, Any] = to_data(result)
    if not include_raw:
        data.pop("raw", None)
    return orjson.dumps(data)


def write_results(path: Path | str, results: Iterable[RequestResult], *,
                  include_raw: bool = False, overwrite: bool = True) -> int:
    """Write results as unified JSONL (user-only file); returns how many were written."""
    count, _ = write_jsonl_lines(
        path, (result_line(r, include_raw=include_raw) for r in results), overwrite=overwrite
    )
    return count


async def write_results_async(path: Path | str, results: AsyncIterable[RequestResult], *,
                              include_raw: bool = False) -> int:
    """Write an async stream of results as unified JSONL, streaming; returns the count."""
    import os
    import secrets

    p = Path(path)
    tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    count = 0
    try:
        with os.fdopen(fd, "wb") as fh:
            async for r in results:
                fh.write(result_line(r, include_raw=include_raw) + b"\n")
                count += 1
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count

