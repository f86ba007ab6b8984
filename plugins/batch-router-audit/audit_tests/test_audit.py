"""The audit observer sees every call of an async provider (OpenAI, through its SDK and emulator),
retries included, with the awaited outcome: a real CLI run against a real emulator process that
fails a share of all calls."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from batch_router_core.testing.harness import EmulatorProcess, cli, write_questions

#: A full batch on the OpenAI plugin (async hooks, through the official SDK) against its emulator.
RUN = ["run", "in.jsonl", "-p", "openai", "-m", "gpt-4o-mini", "--poll-interval", "0.05",
       "-o", "out.jsonl"]  # fmt: skip


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_call_is_recorded_with_its_outcome(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    ids = write_questions(tmp_path / "in.jsonl", 8)
    with EmulatorProcess("openai", chaos=0.25, seed=7) as emulator:
        proc = cli(
            RUN,
            tmp_path,
            emulator,
            env={"BATCH_ROUTER_AUDIT_LOG": str(audit)},
        )
        faults = sum(emulator.stats()["faults"].values())
        key = next(o.split("=", 1)[1] for o in emulator.options if o.startswith("api_key="))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    assert key not in audit.read_text()

    records = _lines(audit)
    started = {r["call_id"]: r for r in records if r["event"] == "started"}
    finished = {r["call_id"]: r for r in records if r["event"] == "finished"}
    assert (
        started.keys() == finished.keys()
    )  # every call that started ended, and was seen by both hooks
    for call_id, end in finished.items():
        assert end["operation"] == started[call_id]["operation"] and end["provider"] == "openai"
        assert isinstance(end["duration_s"], float) and end["duration_s"] >= 0
        assert (end["outcome"] == "ok") == (end["error"] is None)

    ok = [r for r in finished.values() if r["outcome"] == "ok"]
    submits = [r for r in ok if r["operation"] == "submit"]
    assert len(submits) == 1 and submits[0]["result"]["request_count"] == len(ids)  # type: ignore[index]
    batch_id = submits[0]["result"]["batch_id"]  # type: ignore[index]
    polls = [r for r in ok if r["operation"] == "poll_status"]
    assert polls and polls[-1]["result"]["status"] == "completed"  # type: ignore[index]
    assert all(r["batch_id"] == batch_id for r in polls)
    downloads = [r for r in ok if r["operation"] == "fetch_results"]
    assert downloads and downloads[-1]["result"] == {"results": len(ids)}

    # The emulator failed some calls; each failure is one call the observer saw fail (a fault can
    # also land on a call the plugin makes outside a hook's first request, so at most, and at least
    # one).
    failed = [r for r in finished.values() if r["outcome"] != "ok"]
    assert faults > 0 and 1 <= len(failed) <= faults, (faults, failed)
    assert any(r["attempt"] > 1 for r in finished.values())  # core's retries are separate calls
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(r["custom_id"] for r in out) == sorted(ids)


def test_nothing_is_written_without_a_path(tmp_path: Path) -> None:
    ids = write_questions(tmp_path / "in.jsonl", 2)
    with EmulatorProcess("openai") as emulator:
        proc = cli(
            RUN,
            tmp_path,
            emulator,
        )
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == len(ids)
    assert not list(tmp_path.rglob("*audit*"))
