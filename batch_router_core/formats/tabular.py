"""Requests from the rows of a table (CSV, Parquet), and results written back beside those rows.

A row becomes a request through a column mapping (:class:`Columns`): the prompt column is the
user's text, an optional system column the system prompt, an optional id column the
``custom_id`` (without one, ids are made from the row's position: ``row-1``, ``row-2``...), and
columns named like a setting (``max_output_tokens``, ``temperature``, ``top_p``, ``top_k``,
``seed``) that row's own settings. Every other column is the row's own data: it is not sent, and
comes back beside the answer when results are joined onto the rows (:func:`write_joined`), in the
input's order.

CSV needs nothing beyond the standard library; Parquet needs ``pyarrow`` (the ``parquet`` extra).
Both are read as a stream (Parquet by row groups), so memory does not grow with the table; the
join keeps the results (not the rows) in memory, about 0.5 KB a result.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from batch_router_core.errors import ConfigError, ValidationError, ValidationIssue
from batch_router_core.files import atomic_file
from batch_router_core.models.enums import InputMessageRole
from batch_router_core.models.params import InferenceParams, new_params
from batch_router_core.models.requests import InputRequest, new_text_request
from batch_router_core.models.results import RequestResult

__all__ = [
    "TABLE_FORMATS",
    "Columns",
    "read_table",
    "requests_from_rows",
    "result_columns",
    "row_id",
    "row_ids",
    "table_format",
    "write_joined",
    "write_table",
]

#: File suffixes read and written as tables.
TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet"}
#: Settings a column may carry per row, and how a CSV cell's text becomes one.
_SETTINGS = {
    "max_output_tokens": int,
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "seed": int,
    "presence_penalty": float,
    "frequency_penalty": float,
}
#: What a joined row gains: the result's columns.
_RESULT_COLUMNS = (
    "custom_id",
    "status",
    "answer",
    "error",
    "prompt_tokens",
    "completion_tokens",
)


def table_format(path: Path | str) -> str | None:
    """``csv`` or ``parquet`` for a table's file name, None for anything else (JSONL)."""
    return TABLE_FORMATS.get(Path(path).suffix.lower())


def row_id(position: int) -> str:
    """The ``custom_id`` of the ``position``-th row (1-based) of a table without an id column."""
    return f"row-{position}"


@attrs.frozen(kw_only=True)
class Columns:
    """Which columns of a table make a request (None: the default name, when the table has it)."""

    #: the user's text
    prompt: str = "prompt"
    #: the custom_id (default: ``custom_id`` if the table has it, else ids from row positions)
    id: str | None = None
    #: the system prompt (default: ``system_prompt`` if the table has it)
    system: str | None = None

    def resolve(self, names: Iterable[str], where: str) -> Columns:
        """These columns checked against a table's column ``names`` (defaults filled in)."""
        have = list(names)
        missing = [
            (flag, name)
            for flag, name in (
                ("--prompt-column", self.prompt),
                ("--id-column", self.id),
                ("--system-column", self.system),
            )
            if name is not None and name not in have
        ]
        if missing:
            flag, name = missing[0]
            raise ConfigError(
                f"{where}: no column {name!r} ({flag}); its columns are {', '.join(have)}"
            )
        return Columns(
            prompt=self.prompt,
            id=self.id if self.id is not None else ("custom_id" if "custom_id" in have else None),
            system=(
                self.system
                if self.system is not None
                else ("system_prompt" if "system_prompt" in have else None)
            ),
        )


def _iter_rows(path: Path, fmt: str) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """The table's column names, and its rows as ``(line, row)``: the line of a CSV row in its
    file (the header is line 1), the 1-based position of a Parquet row."""
    if fmt == "csv":
        fh = path.open(newline="", encoding="utf-8-sig")
        reader = csv.DictReader(fh)
        names = list(reader.fieldnames or [])

        def csv_rows() -> Iterator[tuple[int, dict[str, Any]]]:
            with fh:
                for row in reader:
                    # A cell with a newline spans lines: the reader says where the row ended.
                    yield reader.line_num, row

        return names, csv_rows()
    pq = _parquet()
    parquet = pq.ParquetFile(path)
    names = list(parquet.schema_arrow.names)

    def parquet_rows() -> Iterator[tuple[int, dict[str, Any]]]:
        position = 0
        for chunk in parquet.iter_batches(batch_size=4096):
            for row in chunk.to_pylist():
                position += 1
                yield position, row

    return names, parquet_rows()


def _parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            "reading or writing Parquet needs pyarrow: pip install 'batch-router-core[parquet]'"
        ) from None
    return pq


def _setting(name: str, value: Any) -> Any:
    """A cell as a setting's value (CSV cells are text); ValueError when it is not one."""
    kind = _SETTINGS[name]
    if isinstance(value, str):
        value = kind(value.strip())
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"expected {kind.__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_table(
    path: Path | str,
    columns: Columns | None = None,
    *,
    issues: list[ValidationIssue] | None = None,
) -> Iterator[InputRequest]:
    """Stream a CSV or Parquet file's rows as requests.

    Every problem names the file, the line (CSV) or row (Parquet), the custom_id and the column;
    with ``issues`` (a list) they are collected and every valid row is still yielded, otherwise
    they are raised together at the end.
    """
    path = Path(path)
    fmt = table_format(path)
    if fmt is None:
        raise ConfigError(f"{path}: not a table (expected one of {', '.join(TABLE_FORMATS)})")
    names, rows = _iter_rows(path, fmt)
    return requests_from_rows(names, rows, columns, label=str(path), issues=issues)


def requests_from_rows(
    names: Iterable[str],
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    columns: Columns | None = None,
    *,
    label: str = "rows",
    issues: list[ValidationIssue] | None = None,
) -> Iterator[InputRequest]:
    """Requests from ``(line, row)`` pairs of a table whose columns are ``names`` (the rows of a
    file, a DataFrame, a dataset); problems named by ``label`` and line, as in
    :func:`read_table`."""
    names = list(names)
    cols = (columns or Columns()).resolve(names, label)
    settings = [n for n in names if n in _SETTINGS]
    collect = issues is not None
    found: list[ValidationIssue] = [] if issues is None else issues
    seen: dict[tuple[tuple[str, Any], ...], InferenceParams] = {}
    for position, (line, row) in enumerate(rows, 1):
        cid = row.get(cols.id) if cols.id is not None else row_id(position)
        if cols.id is not None and (_blank(cid) or not isinstance(cid, str | int)):
            found.append(
                ValidationIssue("the id column is empty", path=label, line=line, field=cols.id)
            )
            continue
        cid = str(cid)
        text = row.get(cols.prompt)
        problems = []
        if _blank(text) or not isinstance(text, str):
            problems.append((cols.prompt, "the prompt is empty" if _blank(text) else "not text"))
        own: dict[str, Any] = {}
        for name in settings:
            if not _blank(row.get(name)):
                try:
                    own[name] = _setting(name, row[name])
                except ValueError as exc:
                    problems.append((name, f"{row[name]!r} is not a value of {name}: {exc}"))
        system = row.get(cols.system) if cols.system is not None else None
        if not _blank(system):
            if not isinstance(system, str):
                problems.append((str(cols.system), "not text"))
            else:
                own["system_prompt"] = system
        params = None
        if not problems and own:
            # Rows repeat their settings (a few max_output_tokens values over a whole table):
            # equal settings share one (immutable) object, built and checked once.
            key = tuple(own.items())
            params = seen.get(key)
            if params is None:
                try:
                    params = new_params(own)
                except ValidationError as exc:
                    problems.extend((i.field or "", i.message) for i in exc.issues)
                else:
                    if len(seen) >= 4096:  # bounded: per-row system prompts rarely repeat
                        seen.clear()
                    seen[key] = params
        if problems:
            found.extend(
                ValidationIssue(message, custom_id=cid, field=field, path=label, line=line)
                for field, message in problems
            )
            continue
        request = new_text_request(cid, [(InputMessageRole.USER, str(text))], params)
        if collect or not found:
            yield request
    if found and not collect:
        raise ValidationError(found)


def row_ids(path: Path | str, columns: Columns | None = None) -> Iterator[tuple[int, str]]:
    """``(line, custom_id)`` of every row, the ids as :func:`read_table` makes them (to name the
    line of a request a later check found wrong)."""
    path = Path(path)
    fmt = table_format(path)
    if fmt is None:
        return
    names, rows = _iter_rows(path, fmt)
    cols = (columns or Columns()).resolve(names, str(path))
    for position, (line, row) in enumerate(rows, 1):
        yield line, (str(row.get(cols.id)) if cols.id is not None else row_id(position))


def result_columns(result: RequestResult | None) -> dict[str, Any]:
    """The columns a result adds to its row (all empty for a row without a result)."""
    if result is None:
        return dict.fromkeys(_RESULT_COLUMNS[1:])
    usage = result.usage
    return {
        "status": result.status.value,
        "answer": result.text,
        "error": result.error.message if result.error is not None else None,
        "prompt_tokens": usage.prompt_tokens if usage is not None else None,
        "completion_tokens": usage.completion_tokens if usage is not None else None,
    }


def write_table(path: Path | str, rows: Iterable[Mapping[str, Any]], names: list[str]) -> int:
    """Write ``rows`` (mappings with the keys ``names``, in that order) as CSV or Parquet,
    created user-only and atomically; returns how many were written."""
    path = Path(path)
    fmt = table_format(path)
    count = 0
    if fmt == "csv":
        with atomic_file(path) as raw:
            import io

            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            out = csv.DictWriter(text, fieldnames=names)
            out.writeheader()
            for row in rows:
                out.writerow(row)
                count += 1
            text.flush()
            text.detach()
        return count
    if fmt != "parquet":
        raise ConfigError(f"{path}: not a table (expected one of {', '.join(TABLE_FORMATS)})")
    pq = _parquet()
    import pyarrow as pa

    with atomic_file(path) as raw:
        writer: Any = None
        chunk: list[Mapping[str, Any]] = []

        def flush() -> None:
            nonlocal writer
            table = pa.Table.from_pylist([dict(r) for r in chunk])
            table = table.select(names) if names else table
            if writer is None:
                writer = pq.ParquetWriter(raw, table.schema)
            writer.write_table(table.cast(writer.schema))
            chunk.clear()

        for row in rows:
            chunk.append(row)
            count += 1
            if len(chunk) >= 4096:
                flush()
        if chunk or writer is None:
            if not chunk:  # an empty table still has its columns
                chunk.append(dict.fromkeys(names))
                flush()
                count = 0
            else:
                flush()
        assert writer is not None
        writer.close()
    return count


def write_joined(
    table: Path | str,
    results: Mapping[str, RequestResult],
    out: Path | str,
    columns: Columns | None = None,
) -> int:
    """Each row of ``table``, in its order, with its result's columns beside it (``status``,
    ``answer``, ``error``, token counts; ``custom_id`` too when the table had no id column), as
    CSV or Parquet by ``out``'s suffix. A result column whose name the table already uses is
    written ``result_<name>``. Returns the number of rows."""
    table = Path(table)
    fmt = table_format(table)
    if fmt is None:
        raise ConfigError(f"{table}: not a table (expected one of {', '.join(TABLE_FORMATS)})")
    names, rows = _iter_rows(table, fmt)
    cols = (columns or Columns()).resolve(names, str(table))
    added = [c for c in _RESULT_COLUMNS if c != "custom_id" or cols.id is None]
    renamed = {c: (f"result_{c}" if c in names else c) for c in added}

    def joined() -> Iterator[dict[str, Any]]:
        for position, (_, row) in enumerate(rows, 1):
            cid = str(row.get(cols.id)) if cols.id is not None else row_id(position)
            extra = result_columns(results.get(cid))
            extra["custom_id"] = cid
            yield {**row, **{renamed[c]: extra[c] for c in added}}

    return write_table(out, joined(), [*names, *renamed.values()])
