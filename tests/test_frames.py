"""DataFrames and Hugging Face datasets in and out: rows become requests, results come back
beside the rows in the rows' order, whatever order the results arrive in (real pandas, polars and
datasets objects; the batch runs on the fake provider through the router)."""

from __future__ import annotations

import random
from pathlib import Path

import datasets
import pandas as pd
import polars as pl
import pytest

from batch_router_core import InferenceParams, RequestResult, ResultStatus, ValidationError, run
from batch_router_core.formats.frames import (
    batch_from_dataset,
    batch_from_frame,
    join_dataset,
    join_frame,
    results_frame,
)
from batch_router_core.formats.tabular import Columns

PARAMS = InferenceParams(provider_id="fake", model_id="fake-1")
PROMPTS = ["first question", "second — ü", "third", "fourth"]


def _shuffled(results: list[RequestResult]) -> list[RequestResult]:
    out = list(results)
    random.Random(7).shuffle(out)
    return out


def test_a_pandas_frame_round_trips_with_its_own_columns(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {"prompt": PROMPTS, "score": [1.5, None, 3.0, 4.0], "max_output_tokens": [16, 32, 8, 64]}
    )
    batch = batch_from_frame(df, PARAMS)
    assert [r.custom_id for r in batch.requests] == ["row-1", "row-2", "row-3", "row-4"]
    assert batch.requests[3].params is not None and batch.requests[3].params.max_output_tokens == 64
    results = run(batch, root=tmp_path, poll_interval=0.05)
    joined = join_frame(df, _shuffled(results))
    assert isinstance(joined, pd.DataFrame)
    assert list(joined["prompt"]) == PROMPTS and list(joined["custom_id"])[0] == "row-1"
    assert list(joined["status"]) == ["succeeded"] * 4
    assert all(isinstance(a, str) and a for a in joined["answer"])
    assert joined["score"].isna().tolist() == [False, True, False, False]
    table = results_frame(results)
    assert list(table.columns) == [
        "custom_id",
        "status",
        "answer",
        "error",
        "prompt_tokens",
        "completion_tokens",
        "metadata",
    ]
    assert len(table) == 4


def test_a_polars_frame_round_trips_with_an_id_column(tmp_path: Path) -> None:
    df = pl.DataFrame({"sku": ["a1", "b2", "c3", "d4"], "text": PROMPTS, "n": [1, 2, 3, 4]})
    cols = Columns(prompt="text", id="sku")
    batch = batch_from_frame(df, PARAMS, cols)
    results = run(batch, root=tmp_path, poll_interval=0.05)
    joined = join_frame(df, _shuffled(results), cols)
    assert isinstance(joined, pl.DataFrame)
    assert joined["sku"].to_list() == ["a1", "b2", "c3", "d4"]
    assert joined["n"].to_list() == [1, 2, 3, 4] and "custom_id" not in joined.columns
    assert joined["status"].to_list() == ["succeeded"] * 4


def test_a_dataset_round_trips(tmp_path: Path) -> None:
    ds = datasets.Dataset.from_dict({"prompt": PROMPTS, "label": [0, 1, 0, 1]})
    results = run(batch_from_dataset(ds, PARAMS), root=tmp_path, poll_interval=0.05)
    out = join_dataset(ds, _shuffled(results))
    assert isinstance(out, datasets.Dataset)
    assert out["prompt"] == PROMPTS and out["label"] == [0, 1, 0, 1]
    assert out["custom_id"] == ["row-1", "row-2", "row-3", "row-4"]
    assert out["status"] == ["succeeded"] * 4


def test_rows_without_a_result_stay_with_empty_result_columns() -> None:
    df = pd.DataFrame({"prompt": ["a", "b"]})
    only = [RequestResult(custom_id="row-2", status=ResultStatus.ERRORED)]
    joined = join_frame(df, only)
    assert joined["status"].tolist()[1] == "errored"
    assert joined["status"].isna().tolist()[0] and joined["answer"].isna().all()


def test_bad_rows_are_named_together() -> None:
    df = pd.DataFrame({"prompt": ["ok", None, "fine"], "temperature": [0.1, 0.2, 7.0]})
    with pytest.raises(ValidationError) as err:
        batch_from_frame(df, PARAMS)
    found = [(i.line, i.custom_id, i.field) for i in err.value.issues]
    assert found == [(2, "row-2", "prompt"), (3, "row-3", "temperature")]
