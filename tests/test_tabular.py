"""Tables in, tables out: CSV and Parquet rows become requests and get their results back beside
them, in input order; stdin input. Real subprocesses of the command line against the OpenAI
emulator (whose answers echo the prompt, so a row joined to the wrong result shows)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch_router_core import RequestResult, ResultStatus, ValidationError
from batch_router_core.formats.tabular import Columns, read_table, write_joined

CLI = [sys.executable, "-m", "batch_router_core.cli"]


def _cli(
    tmp_path: Path, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["BATCH_ROUTER_STATE_DIR"] = str(tmp_path / "state")
    return subprocess.run(
        [*CLI, *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
        env=env,
    )


def _run(tmp_path: Path, source: str, out: str, *extra: str, stdin: bytes | None = None) -> Any:
    proc = _cli(
        tmp_path,
        *("run", source, "-p", "openai", "-m", "gpt-4o-mini", "--emulator"),
        *("-o", out, "--json", *extra),
        stdin=stdin,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


PROMPTS = ["What is 2+2?", "Name a colour, please.", 'Say "hello" in French.', "Ünïcødé — ok?"]


def test_a_csv_without_ids_comes_back_joined_to_its_rows_in_order(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    lines = ["prompt,topic,max_output_tokens"]
    for i, p in enumerate(PROMPTS):
        quoted = '"' + p.replace('"', '""') + '"'
        lines.append(f"{quoted},topic-{i},{'' if i == 1 else 20 + i}")
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = _run(tmp_path, str(source), "out.csv")
    assert summary["counts"]["succeeded"] == 4
    import csv

    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["prompt"] for r in rows] == PROMPTS  # the input's order
    assert [r["topic"] for r in rows] == [f"topic-{i}" for i in range(4)]  # its own columns
    assert [r["custom_id"] for r in rows] == ["row-1", "row-2", "row-3", "row-4"]
    for r in rows:  # each row beside its own answer
        assert r["status"] == "succeeded" and r["answer"].endswith(r["prompt"])
        assert int(r["prompt_tokens"]) > 0 and r["error"] == ""
    assert oct((tmp_path / "out.csv").stat().st_mode & 0o777) == "0o600"


def test_a_parquet_file_with_ids_and_data_comes_back_as_parquet(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    table = pa.table(
        {
            "id": [f"item-{i}" for i in range(len(PROMPTS))],
            "question": PROMPTS,
            "system_prompt": ["Be brief."] * len(PROMPTS),
            "weight": [0.5, 1.0, 1.5, 2.0],
            "tags": [["a"], [], ["b", "c"], ["d"]],
        }
    )
    pq.write_table(table, source)
    _run(tmp_path, str(source), "out.parquet", "--id-column", "id", "--prompt-column", "question")
    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [r["id"] for r in out] == [f"item-{i}" for i in range(4)]
    assert [r["weight"] for r in out] == [0.5, 1.0, 1.5, 2.0]
    assert [r["tags"] for r in out] == [["a"], [], ["b", "c"], ["d"]]
    assert all(r["answer"].endswith(r["question"]) for r in out)
    assert "custom_id" not in out[0]  # the table's own id column says it


def test_stdin_is_read_as_jsonl(tmp_path: Path) -> None:
    lines = b"".join(
        json.dumps({"custom_id": f"s{i}", "messages": [{"role": "user", "content": p}]}).encode()
        + b"\n"
        for i, p in enumerate(PROMPTS)
    )
    summary = _run(tmp_path, "-", "out.jsonl", stdin=lines)
    assert summary["counts"]["succeeded"] == 4
    got = [
        json.loads(line)["custom_id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()
    ]
    assert sorted(got) == ["s0", "s1", "s2", "s3"]
    # The command's copy of stdin is gone with it (the job keeps its own copy of the requests).
    assert list((tmp_path / "state" / "generated" / "stdin").iterdir()) == []


def test_every_problem_of_a_table_is_named_before_anything_is_sent(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(
        "prompt,temperature,custom_id\nok,0.5,a\n,0.1,b\nfine,hot,c\nlast,9,d\nx,,a\n"
    )
    proc = _cli(tmp_path, "run", str(source), "-p", "openai", "-m", "gpt-4o-mini", "--emulator")
    assert proc.returncode == 3, proc.stderr
    assert "nothing was sent" in proc.stderr
    assert "bad.csv:3, custom_id='b', field 'prompt': the prompt is empty" in proc.stderr
    assert "bad.csv:4, custom_id='c', field 'temperature'" in proc.stderr
    assert "bad.csv:5, custom_id='d', field 'temperature'" in proc.stderr
    assert "bad.csv:6, custom_id='a'" in proc.stderr and "duplicate" in proc.stderr
    assert not (tmp_path / "results.jsonl").exists()


def test_results_are_joined_onto_a_table_afterwards(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("prompt,n\nfirst,1\nsecond,2\n")
    summary = _run(tmp_path, str(source), "plain.jsonl")
    job = summary["job_id"]
    proc = _cli(tmp_path, "results", job, "--join", str(source), "-o", "joined.parquet")
    assert proc.returncode == 0, proc.stderr
    out = pq.read_table(tmp_path / "joined.parquet").to_pylist()
    assert [(r["prompt"], r["n"], r["custom_id"]) for r in out] == [
        ("first", "1", "row-1"),
        ("second", "2", "row-2"),
    ]
    assert all(r["status"] == "succeeded" for r in out)
    bad = _cli(tmp_path, "results", job, "--join", str(source), "-o", "joined.jsonl")
    assert bad.returncode == 2 and "--join needs" in bad.stderr


def test_the_join_follows_the_input_order_whatever_the_results_order(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("prompt,answer\none,x\ntwo,y\nthree,z\n")
    requests = list(read_table(source))
    assert [r.custom_id for r in requests] == ["row-1", "row-2", "row-3"]
    results = {
        r.custom_id: RequestResult(
            custom_id=r.custom_id, status=ResultStatus.SUCCEEDED, text=f"re: {r.custom_id}"
        )
        for r in reversed(requests[1:])  # no result for row-1; the others backwards
    }
    assert write_joined(source, results, tmp_path / "out.csv") == 3
    import csv

    with (tmp_path / "out.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    # The table's own "answer" column stays; the result's is written result_answer.
    assert [(r["prompt"], r["answer"], r["result_answer"], r["status"]) for r in rows] == [
        ("one", "x", "", ""),
        ("two", "y", "re: row-2", "succeeded"),
        ("three", "z", "re: row-3", "succeeded"),
    ]


def test_a_missing_column_is_named_with_the_table_s_columns(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("text,n\nhello,1\n")
    with pytest.raises(Exception, match=r"no column 'prompt' \(--prompt-column\).*text, n"):
        list(read_table(source))
    got = list(read_table(source, Columns(prompt="text")))
    assert got[0].messages[0].contents[0].text == "hello"  # type: ignore[union-attr]
    with pytest.raises(ValidationError):
        list(read_table(_write(tmp_path / "empty.csv", "prompt\n\n ,\n")))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_metadata_rides_along_and_is_never_sent(tmp_path: Path) -> None:
    meta = [{"row": 7, "tags": ["a", "ü"]}, None, {"source": {"file": "x.pdf", "page": 2}}]
    lines = b""
    for i, m in enumerate(meta):
        line: dict[str, Any] = {
            "custom_id": f"m{i}",
            "messages": [{"role": "user", "content": f"question {i}"}],
        }
        if m is not None:
            line["metadata"] = m
        lines += json.dumps(line).encode() + b"\n"
    (tmp_path / "in.jsonl").write_bytes(lines)
    _run(tmp_path, "in.jsonl", "out.jsonl")
    results = {
        r["custom_id"]: r
        for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())
    }
    assert [results[f"m{i}"]["metadata"] for i in range(3)] == meta
    sent = list((tmp_path / "state" / "generated" / "openai").glob("*_input.jsonl"))
    assert len(sent) == 1 and b"metadata" not in sent[0].read_bytes()
    assert b"x.pdf" not in sent[0].read_bytes()


def test_metadata_that_is_not_a_json_object_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(
        '{"custom_id": "a", "messages": [{"role": "user", "content": "x"}], "metadata": 5}\n'
    )
    proc = _cli(tmp_path, "run", "in.jsonl", "-p", "openai", "-m", "gpt-4o-mini", "--emulator")
    assert proc.returncode == 3
    assert "in.jsonl:1, custom_id='a', field 'metadata'" in proc.stderr
