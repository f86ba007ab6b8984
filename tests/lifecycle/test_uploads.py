"""Uploads that end up unused are deleted: a run killed right after uploading its input file (its
batch never created) is resumed with one upload on the provider, not two (OpenAI's is covered in its
own
crash tests; this is Gemini's file mode)."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

from batch_router_core.testing.harness import PROVIDER_ARGS, EmulatorProcess, cli, write_questions

from .conftest import result_ids


def _uploads(emulator: EmulatorProcess) -> list[str]:
    request = urllib.request.Request(
        emulator.url + "/v1beta/files?pageSize=100", headers={"x-goog-api-key": "emulator-key"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return [f["displayName"] for f in json.loads(response.read()).get("files", [])]


def test_gemini_upload_of_a_crashed_submit_is_deleted_on_resume(tmp_path: Path) -> None:
    ids = write_questions(tmp_path / "in.jsonl", 4)
    run = [
        "run",
        "in.jsonl",
        "-p",
        "google",
        *PROVIDER_ARGS["google"],
        "--poll-interval",
        "0.05",
        "-o",
        "out.jsonl",
        "--option",
        "mode=file",
    ]
    with EmulatorProcess("google") as emulator:
        crashed = cli(run, tmp_path, emulator, crash="after_upload")
        assert crashed.returncode == -signal.SIGKILL
        assert len(_uploads(emulator)) == 1
        resumed = cli(
            ["resume", "--poll-interval", "0.05", "--json", "--option", "mode=file"],
            tmp_path,
            emulator,
        )
        assert resumed.returncode == 0, resumed.stderr
        [job_id] = json.loads(resumed.stdout)["resumed"]
        assert len(_uploads(emulator)) == 1, "the crashed attempt's upload was left behind"
        assert emulator.stats()["batches"] == 1
        assert cli(["results", job_id, "-o", "out.jsonl"], tmp_path, emulator).returncode == 0
    assert sorted(result_ids(tmp_path / "out.jsonl")) == sorted(ids)
