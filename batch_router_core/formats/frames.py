"""Requests from DataFrames and Hugging Face datasets, and results back into them.

pandas, polars and ``datasets`` are optional (extras ``pandas``, ``polars``, ``datasets``); each
is imported only when its kind of object is used. Rows become requests by the same column rules
as CSV and Parquet files (:mod:`batch_router_core.formats.tabular`): a ``prompt`` column, an
optional ``custom_id`` (else ``row-1``, ``row-2``... by position), ``system_prompt`` and setting
columns. Results come back as a frame or dataset with a row per input row, in the input's order,
the input's columns first, then ``status``, ``answer``, ``error`` and token counts.

    batch = batch_from_frame(df, InferenceParams(provider_id="openai", model_id="gpt-4o-mini"))
    results = run(batch)
    answered = join_frame(df, results)          # same kind as df: pandas or polars
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from batch_router_core.formats.tabular import (
    Columns,
    requests_from_rows,
    result_columns,
    row_id,
)
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.requests import InputBatch
from batch_router_core.models.results import RequestResult

__all__ = [
    "batch_from_dataset",
    "batch_from_frame",
    "join_dataset",
    "join_frame",
    "results_frame",
]


def _kind(frame: Any) -> str:
    module = type(frame).__module__.split(".")[0]
    if module in ("pandas", "polars"):
        return module
    raise TypeError(f"expected a pandas or polars DataFrame, got {type(frame).__name__}")


def _frame_rows(frame: Any) -> tuple[list[str], Iterator[tuple[int, Mapping[str, Any]]]]:
    kind = _kind(frame)
    names = [str(c) for c in frame.columns]
    if kind == "pandas":
        records: Iterable[Mapping[str, Any]] = (
            {str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
        )
    else:
        records = frame.iter_rows(named=True)
    return names, ((i, row) for i, row in enumerate(records, 1))


def _plain(value: Any) -> Any:
    """pandas' missing values (NaN, NA, NaT) as None; numpy scalars as Python's."""
    try:
        import pandas as pd

        if pd.api.types.is_scalar(value) and pd.isna(value):
            return None
    except ImportError:  # pragma: no cover - only called with pandas objects
        pass
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, str | bytes) else value


def batch_from_frame(
    frame: Any, params: InferenceParams | None = None, columns: Columns | None = None
) -> InputBatch:
    """A batch with a request per row of a pandas or polars DataFrame (configured with
    ``params`` when given); every problem of every row is raised together, by row number."""
    names, rows = _frame_rows(frame)
    requests = list(requests_from_rows(names, rows, columns, label=f"{_kind(frame)} frame"))
    return InputBatch(requests=requests, params=params)


def batch_from_dataset(
    dataset: Any, params: InferenceParams | None = None, columns: Columns | None = None
) -> InputBatch:
    """A batch with a request per row of a Hugging Face ``datasets.Dataset``."""
    names = list(dataset.column_names)
    rows = ((i, row) for i, row in enumerate(dataset, 1))
    requests = list(requests_from_rows(names, rows, columns, label="dataset"))
    return InputBatch(requests=requests, params=params)


def _joined(
    names: list[str],
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    results: Iterable[RequestResult],
    columns: Columns | None,
) -> Iterator[dict[str, Any]]:
    cols = (columns or Columns()).resolve(names, "rows")
    by_id = {r.custom_id: r for r in results}
    for position, row in rows:
        cid = str(row.get(cols.id)) if cols.id is not None else row_id(position)
        extra = result_columns(by_id.get(cid))
        added = {(f"result_{k}" if k in names else k): v for k, v in extra.items()}
        yield {**row, **({} if cols.id is not None else {"custom_id": cid}), **added}


def join_frame(frame: Any, results: Iterable[RequestResult], columns: Columns | None = None) -> Any:
    """``frame`` with each row's result beside it, in the frame's order; the same kind of frame
    (pandas or polars)."""
    kind = _kind(frame)
    names, rows = _frame_rows(frame)
    records = list(_joined(names, rows, results, columns))
    if kind == "pandas":
        import pandas as pd

        return pd.DataFrame.from_records(records)
    import polars as pl

    return pl.from_dicts(records, infer_schema_length=None)


def join_dataset(
    dataset: Any, results: Iterable[RequestResult], columns: Columns | None = None
) -> Any:
    """``dataset`` with each row's result beside it, in its order, as a new ``datasets.Dataset``."""
    import datasets

    names = list(dataset.column_names)
    rows = ((i, row) for i, row in enumerate(dataset, 1))
    return datasets.Dataset.from_list(list(_joined(names, rows, results, columns)))


def results_frame(results: Iterable[RequestResult], kind: str = "pandas") -> Any:
    """Results as a DataFrame (``pandas`` or ``polars``): ``custom_id``, the result columns and
    ``metadata``, a row per result."""
    records = [
        {"custom_id": r.custom_id, **result_columns(r), "metadata": r.metadata} for r in results
    ]
    if kind == "pandas":
        import pandas as pd

        return pd.DataFrame.from_records(
            records, columns=["custom_id", *result_columns(None), "metadata"]
        )
    if kind == "polars":
        import polars as pl

        return pl.from_dicts(records, infer_schema_length=None)
    raise ValueError(f"kind must be 'pandas' or 'polars', got {kind!r}")
