"""Generated files: streaming, user-only permissions, malformed lines reported with their number."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest

from batch_router_core import FileOperationError, ValidationError
from batch_router_core.files import GeneratedFiles, iter_jsonl, new_local_id, write_jsonl_lines
from batch_router_core.formats.unified import read_requests


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_directories_and_files_are_user_only(tmp_path: Path) -> None:
    files = GeneratedFiles(tmp_path / ".batch_router")
    path = files.path("fake", "abc", "input")
    assert path.name == "batch_abc_input.jsonl"
    write_jsonl_lines(path, (orjson.dumps({"i": i}) for i in range(3)))
    assert mode(path) == 0o600
    assert mode(files.provider_dir("fake")) == 0o700
    assert mode(files.generated) == 0o700 and mode(files.root) == 0o700


def test_write_and_read_stream(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    count, size = write_jsonl_lines(path, (orjson.dumps({"i": i}) for i in range(2000)))
    assert count == 2000 and size == path.stat().st_size
    assert [d["i"] for _, d in iter_jsonl(path)] == list(range(2000))


def test_refuses_to_overwrite_and_leaves_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    write_jsonl_lines(path, [b"{}"])
    with pytest.raises(FileOperationError, match="refusing to overwrite"):
        write_jsonl_lines(path, [b"{}"])

    def boom():  # type: ignore[no-untyped-def]
        yield b"{}"
        raise RuntimeError("converter failed half-way")

    target = tmp_path / "y.jsonl"
    with pytest.raises(RuntimeError):
        write_jsonl_lines(target, boom())
    assert list(tmp_path.iterdir()) == [path]  # no y.jsonl, no temporary leftovers
    with pytest.raises(FileOperationError, match="exceeds the limit of 10 bytes"):
        write_jsonl_lines(target, [b'{"a": "0123456789"}'], max_bytes=10)
    assert not target.exists()


def test_malformed_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"ok": 1}\n\n{"ok": 2}\n{broken\n{"ok": 3}\n')
    got = []
    with pytest.raises(FileOperationError, match=r"bad.jsonl:4: invalid JSON") as exc:
        for _, d in iter_jsonl(path):
            got.append(d)
    assert exc.value.line == 4 and got == [{"ok": 1}, {"ok": 2}]


def test_local_ids_do_not_collide() -> None:
    ids = {new_local_id() for _ in range(5000)}
    assert len(ids) == 5000


def test_unified_input_errors_name_file_line_id_and_field(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"custom_id": "a", "messages": [{"role": "user", "content": "hi"}]}\n'
        '{"custom_id": "b", "messages": [{"role": "user", "content": "hi"}], "params": {"top_p": '
        "7}}\n"
    )
    it = read_requests(path)
    assert next(it).custom_id == "a"
    with pytest.raises(ValidationError) as exc:
        next(it)
    issue = exc.value.issues[0]
    assert (issue.path, issue.line, issue.custom_id, issue.field) == (
        str(path),
        2,
        "b",
        "params.top_p",
    )
    assert f"{path}:2, custom_id='b', field 'params.top_p': must be between 0 and 1" in str(
        exc.value
    )
    path.write_text("[1, 2]\n")
    with pytest.raises(ValidationError, match="expected a JSON object per line"):
        list(read_requests(path))
    path.write_text("nope\n")
    with pytest.raises(ValidationError, match=r"in.jsonl:1: invalid JSON"):
        list(read_requests(path))
