"""The command line's contract with scripts: exit codes, unknown ids, the state directory, option
keys, every input problem at once, progress on a terminal, and the documented cron recipe.

Real subprocesses of ``batch-router`` against real emulator processes (official SDKs over HTTP).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from batch_router_core.testing.harness import (
    CLI,
    PROVIDER_ARGS,
    EmulatorProcess,
    cli,
    cli_env,
    write_questions,
)

ROOT = Path(__file__).resolve().parent.parent
OPENAI = ["-p", "openai", *PROVIDER_ARGS["openai"]]


def _control(emulator: EmulatorProcess, route: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        emulator.url + route, data=json.dumps(body).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=5).read()


def _stall_next_job(emulator: EmulatorProcess) -> None:
    """The next job takes hours of emulated time (seconds per request at the emulator's speed)."""
    _control(emulator, "/_emulator/errors", {"per_request_s": 1e6})


def _plain(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


# -- exit codes --------------------------------------------------------------------------------


def test_every_exit_code_of_a_job(tmp_path: Path) -> None:
    """0, 2, 3, 4, 5, 7, 8, 9 from real runs (6 is the adoption tests', 130/143 the signal
    tests', 10 the next test's)."""
    ids = write_questions(tmp_path / "in.jsonl", 4)
    # An emulated day lasts 15 minutes here: a stalled job stays running, and does not expire.
    with EmulatorProcess("openai", speed=100.0) as emulator:
        ok = cli(
            ["run", "in.jsonl", *OPENAI, "--poll-interval", "0.05", "--json"], tmp_path, emulator
        )
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["outcome"] == "succeeded"

        # 2: a timeout or polling interval that cannot be meant
        for bad in (["--timeout", "0"], ["--poll-interval", "0"], ["--timeout", "soon"]):
            proc = cli(["run", "in.jsonl", *OPENAI, *bad], tmp_path, emulator)
            assert proc.returncode == 2, proc.stderr
        # 3: an option key the provider does not read; nothing reaches the emulator
        before = emulator.stats()["requests"]
        typo = cli(
            ["run", "in.jsonl", *OPENAI, "--option", "base_ulr=http://x"], tmp_path, emulator
        )
        assert typo.returncode == 3
        assert "did you mean 'base_url'?" in typo.stderr, typo.stderr
        assert emulator.stats()["requests"] == before
        # 4: a provider that is not installed
        assert cli(["run", "in.jsonl", "-p", "nope", "-m", "x"], tmp_path, emulator).returncode == 4
        # 7: an output path that cannot be written is found before anything is sent
        batches = emulator.stats()["batches"]
        bad_out = cli(
            ["run", "in.jsonl", *OPENAI, "-o", str(tmp_path / "no" / "such" / "dir.jsonl")],
            tmp_path,
            emulator,
        )
        assert bad_out.returncode == 7 and "does not exist" in bad_out.stderr, bad_out.stderr
        assert emulator.stats()["batches"] == batches

        # 8: some requests errored; the reason is counted, and --max-error-rate accepts it
        _control(emulator, "/_emulator/errors", {"custom_ids": [ids[0]]})
        partial = cli(
            ["run", "in.jsonl", *OPENAI, "--poll-interval", "0.05", "--json"], tmp_path, emulator
        )
        assert partial.returncode == 8, partial.stderr
        summary = json.loads(partial.stdout)
        assert summary["outcome"] == "partial" and summary["counts"]["errored"] == 1
        job = summary["job_id"]
        status = cli(["status", job, "--json"], tmp_path, emulator)
        assert status.returncode == 8 and json.loads(status.stdout)["counts"]["errored"] == 1
        assert cli(["status", job, "--max-error-rate", "0.25"], tmp_path, emulator).returncode == 0
        assert cli(["status", job, "--allow-errors"], tmp_path, emulator).returncode == 0
        _control(emulator, "/_emulator/errors", {"custom_ids": []})

        # 5: results of a running job, and a wait that times out
        _stall_next_job(emulator)
        submitted = cli(["submit", "in.jsonl", *OPENAI], tmp_path, emulator)
        running = submitted.stdout.strip()
        assert submitted.returncode == 0 and running.startswith("job-"), submitted.stderr
        early = cli(["results", running, "-o", "early.jsonl"], tmp_path, emulator)
        assert early.returncode == 5 and "wait for it first" in early.stderr, early.stderr
        assert not (tmp_path / "early.jsonl").exists()
        waited = cli(
            ["wait", running, "--timeout", "1s", "--poll-interval", "0.2"], tmp_path, emulator
        )
        assert waited.returncode == 5, waited.stderr
        assert cli(["status", running], tmp_path, emulator).returncode == 0  # running is fine

        # 9: the job as a whole was cancelled
        assert cli(["cancel", running], tmp_path, emulator).returncode == 0
        ended = cli(["wait", running, "--poll-interval", "0.05", "--json"], tmp_path, emulator)
        assert ended.returncode == 9, ended.stderr
        record = json.loads(ended.stdout)
        assert record["outcome"] == "cancelled" and record["counts"]["processing"] == 0
        assert record["counts"]["cancelled"] + record["counts"]["succeeded"] == 4


def test_unknown_job_ids_exit_10_for_every_command(tmp_path: Path) -> None:
    env = cli_env(BATCH_ROUTER_STATE_DIR=str(tmp_path / "state"))
    commands = [
        ["status", "nope"],
        ["wait", "nope"],
        ["results", "nope", "-o", "out.jsonl"],
        ["cancel", "nope"],
        ["retry-failed", "nope"],
        ["cleanup", "nope"],
    ]
    # Without a ledger: every id is unknown, and none is created by asking.
    for args in commands:
        proc = _plain(args, tmp_path, env)
        assert proc.returncode == 10, (args, proc.stderr)
        assert "no job 'nope'" in proc.stderr and str(tmp_path / "state") in proc.stderr
    assert not (tmp_path / "state" / "ledger.sqlite3").exists()
    # With a ledger that holds other jobs.
    write_questions(tmp_path / "in.jsonl", 2)
    made = _plain(
        ["run", "in.jsonl", "-p", "fake", "-m", "fake-1", "--poll-interval", "0.05"], tmp_path, env
    )
    assert made.returncode == 0, made.stderr
    for args in commands:
        proc = _plain([*args, "--json"] if args[0] != "results" else args, tmp_path, env)
        assert proc.returncode == 10, (args, proc.stderr)


# -- state directory, options, credentials ------------------------------------------------------


def test_the_state_directory_is_found_from_any_working_directory(tmp_path: Path) -> None:
    home, here, there = tmp_path / "home", tmp_path / "project", tmp_path / "elsewhere"
    for d in (home, here, there):
        d.mkdir()
    write_questions(here / "in.jsonl", 3)
    with EmulatorProcess("openai") as emulator:
        env = cli_env(HOME=str(home), OPENAI_API_KEY="emulator-key")
        env.pop("BATCH_ROUTER_STATE_DIR", None)
        env.pop("XDG_STATE_HOME", None)
        base_url = f"base_url={emulator.url}/v1"
        sub = _plain(
            ["submit", "in.jsonl", "-p", "openai", "-m", "gpt-4o-mini", "--option", base_url],
            here,
            env,
        )
        assert sub.returncode == 0, sub.stderr
        job = sub.stdout.strip()
        default = home / ".local" / "state" / "batch-router"
        assert (default / "ledger.sqlite3").is_file() and str(default) in sub.stderr
        assert not (here / ".batch_router").exists()
        # From another directory, with only the job id: the base URL was remembered with the job.
        waited = _plain(["wait", job, "--poll-interval", "0.05"], there, env)
        assert waited.returncode == 0, waited.stderr
        listed = _plain(["jobs"], there, env)
        assert (
            job in listed.stdout and "succeeded" in listed.stdout and str(default) in listed.stdout
        )
        got = _plain(["results", job, "-o", "-"], there, env)
        assert got.returncode == 0 and len(got.stdout.splitlines()) == 3, got.stderr
        assert not (there / "-").exists()
        # --state-dir and the environment variable choose another one; asking creates nothing.
        other = tmp_path / "other"
        empty = _plain(["--state-dir", str(other), "jobs"], there, env)
        assert empty.returncode == 0 and "no jobs in" in empty.stdout and not other.exists()
        same = _plain(["jobs", "--json"], there, {**env, "BATCH_ROUTER_STATE_DIR": str(default)})
        assert json.loads(same.stdout.splitlines()[0])["job_id"] == job
        # A ledger left in ./.batch_router by an earlier version is pointed out, not used silently.
        (here / ".batch_router").mkdir()
        (here / ".batch_router" / "ledger.sqlite3").write_bytes(b"")
        noted = _plain(["jobs"], here, env)
        assert "--state-dir .batch_router" in noted.stderr


def test_keys_come_from_the_environment_and_are_never_stored(tmp_path: Path) -> None:
    write_questions(tmp_path / "in.jsonl", 2)
    with EmulatorProcess("openai") as emulator:
        env = cli_env(BATCH_ROUTER_STATE_DIR=str(tmp_path / "state"))
        base_url = f"base_url={emulator.url}/v1"
        args = ["submit", "in.jsonl", "-p", "openai", "-m", "gpt-4o-mini", "--option", base_url]
        missing = _plain(args, tmp_path, env)
        assert missing.returncode == 3 and "OPENAI_API_KEY" in missing.stderr, missing.stderr
        assert "Traceback" not in missing.stderr and emulator.stats()["batches"] == 0
        visible = _plain([*args, "--option", "api_key=emulator-key"], tmp_path, env)
        assert visible.returncode == 0, visible.stderr
        assert "visible to other users in the process list" in visible.stderr
    ledger = (tmp_path / "state" / "ledger.sqlite3").read_bytes()
    assert b"emulator-key" not in ledger and emulator.url.encode() in ledger


# -- input problems ----------------------------------------------------------------------------


def test_a_file_with_ten_kinds_of_problems_is_reported_in_one_run(tmp_path: Path) -> None:
    def msg(role: str, text: str) -> dict[str, Any]:
        return {"role": role, "content": text}

    lines: list[Any] = [
        {"custom_id": "ok-1", "messages": [msg("user", "fine")]},  # 1: fine
        '{"custom_id": "broken", ',  # 2: not JSON
        {"custom_id": "sys", "messages": [msg("system", "be brief"), msg("user", "x")]},  # 3
        {"custom_id": "top-p", "messages": [msg("user", "x")], "params": {"top_p": 5}},  # 4
        {"custom_id": "ok-1", "messages": [msg("user", "again")]},  # 5: duplicate id
        {"custom_id": "has space!", "messages": [msg("user", "x")]},  # 6: id pattern
        {"custom_id": "seed", "messages": [msg("user", "x")], "params": {"seed": 3}},  # 7
        {"custom_id": "first", "messages": [msg("assistant", "x"), msg("user", "y")]},  # 8
        {"custom_id": "twice", "messages": [msg("user", "x"), msg("user", "y")]},  # 9
        ["not", "an", "object"],  # 10
        {"messages": [msg("user", "no id")]},  # 11: no custom_id
        {"custom_id": "temp", "messages": [msg("user", "x")], "params": {"temperature": 9}},  # 12
        {"custom_id": "ok-2", "messages": [msg("user", "fine too")]},  # 13: fine
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    env = cli_env(BATCH_ROUTER_STATE_DIR=str(tmp_path / "state"))
    args = ["prepare", str(bad), "-p", "anthropic", "-m", "claude-3-5-haiku-latest"]
    proc = _plain([*args, "--max-output-tokens", "64"], tmp_path, env)
    assert proc.returncode == 3
    for line in range(2, 13):
        assert f"{bad}:{line}" in proc.stderr, (line, proc.stderr)
    assert f"{bad}:1," not in proc.stderr and f"{bad}:13" not in proc.stderr
    assert "--system" in proc.stderr  # a hint in the command's terms, not a Python name
    as_json = _plain([*args, "--max-output-tokens", "64", "--json"], tmp_path, env)
    issues = json.loads(as_json.stdout)["issues"]
    assert sorted({i["line"] for i in issues}) == list(range(2, 13))
    assert all(i["path"] == str(bad) for i in issues)
    # A batch-wide problem names the flag that fixes it.
    fine = tmp_path / "fine.jsonl"
    write_questions(fine, 2)
    missing = _plain([*args[:1], str(fine), *args[2:]], tmp_path, env)
    assert missing.returncode == 3 and "--max-output-tokens" in missing.stderr, missing.stderr


def test_flags_override_the_lines_of_an_openai_file(tmp_path: Path) -> None:
    src = tmp_path / "openai.jsonl"
    src.write_text(
        "".join(
            json.dumps(
                {
                    "custom_id": f"r{i}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {
                        "model": "gpt-4o",
                        "messages": [{"role": "user", "content": f"question {i}"}],
                        "max_tokens": 50,
                        "temperature": 0.5,
                    },
                }
            )
            + "\n"
            for i in range(5)
        )
    )
    env = cli_env(BATCH_ROUTER_STATE_DIR=str(tmp_path / "state"))
    base = ["prepare", str(src), "-p", "anthropic", "-m", "claude-3-5-haiku-latest", "--json"]
    as_is = _plain(base, tmp_path, env)  # the lines' max_tokens is enough for Anthropic
    assert as_is.returncode == 0, as_is.stderr
    capped = _plain([*base, "--max-output-tokens", "7", "--shard"], tmp_path, env)
    assert capped.returncode == 0, capped.stderr
    info = json.loads(capped.stdout)
    assert info["requests"] == 5 and len(info["files"]) == 1
    sent = [json.loads(x)["params"] for x in Path(info["path"]).read_text().splitlines()]
    # The flag wins where it is given; the lines' own settings stay where it is not.
    assert {(p["max_tokens"], p["temperature"]) for p in sent} == {(7, 0.5)}
    kept = [
        json.loads(x)["params"]
        for x in Path(json.loads(as_is.stdout)["path"]).read_text().splitlines()
    ]
    assert {p["max_tokens"] for p in kept} == {50}


# -- progress a person can read ------------------------------------------------------------------


def _on_a_terminal(
    argv: list[str], cwd: Path, env: dict[str, str]
) -> tuple[int, list[tuple[float, str]]]:
    """Run ``argv`` with stderr on a pseudo-terminal; return its exit code and what appeared on
    the terminal, with when."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL
    )
    os.close(slave)
    seen: list[tuple[float, str]] = []
    start = time.monotonic()
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen.append((time.monotonic() - start, chunk.decode(errors="replace")))
        elif proc.poll() is not None:
            break
        assert time.monotonic() - start < 120, "the run did not end"
    os.close(master)
    return proc.wait(), seen


def test_progress_on_a_terminal_redraws_and_notices_never_break_it(tmp_path: Path) -> None:
    ids = write_questions(tmp_path / "in.jsonl", 4)
    with EmulatorProcess("openai", speed=1.5) as emulator:
        _control(emulator, "/_emulator/errors", {"custom_ids": [ids[0]]})
        _control(
            emulator,
            "/_emulator/faults",
            {"route": "GET /v1/batches/*", "kind": "rate_limit", "times": 2, "retry_after": 1},
        )
        env = cli_env(
            BATCH_ROUTER_STATE_DIR=str(tmp_path / "state"),
            OPENAI_API_KEY="emulator-key",
            COLUMNS="200",
        )
        env.pop("BATCH_ROUTER_RETRY_NO_WAIT")  # a person waits for real
        argv = [
            *CLI,
            "run",
            "in.jsonl",
            "-p",
            "openai",
            "-m",
            "gpt-4o-mini",
            "--option",
            f"base_url={emulator.url}/v1",
            "--poll-interval",
            "1",
        ]
        code, seen = _on_a_terminal(argv, tmp_path, env)
    screen = "".join(text for _, text in seen)
    assert code == 8, screen  # one request errored by design
    frames = screen.split("\r\x1b[2K")
    waiting = [f for f in frames if f.startswith("waiting")]
    # The line is redrawn while nothing else changes: the clock moves, the next check counts down.
    elapsed = {m.group(1) for f in waiting for m in [re.search(r"elapsed (\d+s)", f)] if m}
    assert len(elapsed) >= 3, waiting
    assert any("next check in" in f for f in waiting)
    assert any("batch_" in f for f in waiting), "the provider batch id is shown"
    assert any("1 errored" in f for f in frames), frames[-6:]
    # Each retry notice is a line of its own above the status line, never through it.
    # (429 as a word: a random batch id on the status line may contain those digits)
    notices = [f for f in frames if re.search(r"\b429\b", f) or "retrying" in f]
    assert notices, screen
    for frame in notices:
        assert frame.endswith("\n") and frame.count("\n") == 1 and "[#" not in frame, frame
    assert "event=" not in screen and "provider_call_retry" not in screen
    assert "partial" in frames[-1] or "partial" in screen.splitlines()[-1]
    # Plain lines when stderr is not a terminal: no escape sequences at all.
    assert seen and all(t >= 0 for t, _ in seen)


def test_plain_status_lines_when_not_a_terminal(tmp_path: Path) -> None:
    write_questions(tmp_path / "in.jsonl", 3)
    env = cli_env(BATCH_ROUTER_STATE_DIR=str(tmp_path / "state"))
    proc = _plain(
        ["run", "in.jsonl", "-p", "fake", "-m", "fake-1", "--poll-interval", "0.05"], tmp_path, env
    )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stderr and "\r" not in proc.stderr
    assert "waiting" in proc.stderr and "3/3 done" in proc.stderr


def test_plain_progress_through_many_results_is_a_line_every_tenth() -> None:
    import io

    from batch_router_core.cli.progress import Display

    log = io.StringIO()
    display = Display(quiet=False, label="writing results", stream=log)
    for done in range(0, 1_000_001, 256):
        display.items(done, 1_000_000)
    display.items(1_000_000, 1_000_000)
    lines = log.getvalue().splitlines()
    assert 10 <= len(lines) <= 12, lines
    assert lines[-1].startswith("writing results") and "1000000/1000000 done" in lines[-1]


def test_escape_sequences_in_answers_are_neutralised() -> None:
    from batch_router_core.cli.progress import neutralize

    assert neutralize("ok\x1b]0;pwned\x07 \x1b[2Jdone") == "ok\\x1b]0;pwned\\x07 \\x1b[2Jdone"
    assert neutralize("naïve 東京 🙂") == "naïve 東京 🙂"


# -- emulators fit to share a machine ----------------------------------------------------------


def test_an_emulator_with_a_key_guards_its_control_routes_and_cleans_up() -> None:
    from batch_router_core.emulation.server import serve_in_thread
    from batch_router_core.registry import BatchProviderRegistry

    app = BatchProviderRegistry().get("openai").create_emulator({"speed": 1000, "api_key": "k1"})
    workdir = app.state.workdir
    assert workdir.is_dir()
    with serve_in_thread(app) as server:
        stats = urllib.request.Request(server.url + "/_emulator/stats")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(stats, timeout=5)
        assert refused.value.code == 401
        stats.add_header("Authorization", "Bearer k1")
        assert json.loads(urllib.request.urlopen(stats, timeout=5).read())["requests"] == {}
        wrong = urllib.request.Request(
            server.url + "/v1/batches", headers={"Authorization": "Bearer other"}
        )
        with pytest.raises(urllib.error.HTTPError) as unauthorized:
            urllib.request.urlopen(wrong, timeout=5)
        assert unauthorized.value.code == 401
    assert not workdir.exists(), "the emulator's temporary files outlived it"


def test_emulate_prints_the_environment_that_points_the_sdk_at_it(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*CLI, "emulate", "anthropic", "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=cli_env(),
    )
    try:
        lines: list[str] = []
        assert proc.stderr is not None
        while not any("or: --option" in line for line in lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = "".join(lines)
    assert "export ANTHROPIC_BASE_URL=http://127.0.0.1:0" in text and "(base path )" not in text


# -- cleanup, retries ------------------------------------------------------------------------------


def test_cleanup_removes_finished_jobs_and_their_provider_files(tmp_path: Path) -> None:
    write_questions(tmp_path / "in.jsonl", 3)
    with EmulatorProcess("openai") as emulator:
        run = cli(
            ["run", "in.jsonl", *OPENAI, "--poll-interval", "0.05", "-o", "out.jsonl"],
            tmp_path,
            emulator,
        )
        assert run.returncode == 0, run.stderr
        generated = tmp_path / ".batch_router" / "generated"
        assert any(generated.rglob("*.jsonl"))
        dry = cli(["cleanup", "--dry-run"], tmp_path, emulator)
        assert dry.returncode == 0 and "would remove 1 jobs" in dry.stdout, dry.stdout
        assert any(generated.rglob("*.jsonl"))
        files_before = len(emulator.input_uploads())
        done = cli(["cleanup", "--provider-files", "--json"], tmp_path, emulator)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert len(report["removed"]) == 1 and report["bytes"] > 0
        assert not any(generated.rglob("*.jsonl")) and (tmp_path / "out.jsonl").exists()
        assert len(emulator.input_uploads()) == files_before - 1
        assert "no jobs" not in cli(["jobs"], tmp_path, emulator).stdout
        assert cli(["jobs", "--json"], tmp_path, emulator).stdout.strip() == ""


def test_counts_after_retry_failed_are_those_of_the_job(tmp_path: Path) -> None:
    ids = write_questions(tmp_path / "in.jsonl", 5)
    with EmulatorProcess("openai") as emulator:
        _control(emulator, "/_emulator/errors", {"custom_ids": ids[:2]})
        first = cli(
            ["run", "in.jsonl", *OPENAI, "--poll-interval", "0.05", "--json"], tmp_path, emulator
        )
        assert first.returncode == 8, first.stderr
        job = json.loads(first.stdout)["job_id"]
        retried = cli(["retry-failed", job], tmp_path, emulator)
        assert retried.returncode == 0 and "retried 2 requests" in retried.stdout, retried.stderr
        waited = cli(["wait", job, "--poll-interval", "0.05", "--json"], tmp_path, emulator)
        record = json.loads(waited.stdout)
        assert record["counts"]["total"] == 5, record["counts"]
        assert waited.returncode in (0, 8)


# -- the documented cron recipe --------------------------------------------------------------------


def _recipe() -> str:
    text = (ROOT / "docs" / "cli.md").read_text()
    section = text.split("### A nightly cron job", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_nightly_cron_recipe_runs_as_documented(tmp_path: Path) -> None:
    home, cron_cwd = tmp_path / "home", tmp_path / "cron"
    (home / "data").mkdir(parents=True)
    cron_cwd.mkdir()
    ids = write_questions(home / "data" / "tonight.jsonl", 6)
    script = tmp_path / "nightly.sh"
    script.write_text(_recipe())
    with EmulatorProcess("openai") as emulator:
        env = cli_env(
            HOME=str(home),
            OPENAI_BASE_URL=f"{emulator.url}/v1",
            OPENAI_API_KEY="emulator-key",
            BATCH_ROUTER_RUN_POLL_INTERVAL="0.1",
            BATCH_ROUTER_RESUME_POLL_INTERVAL="0.1",
            PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        )
        env.pop("BATCH_ROUTER_STATE_DIR", None)
        env.pop("XDG_STATE_HOME", None)
        night = subprocess.run(
            ["sh", str(script)], cwd=cron_cwd, env=env, capture_output=True, text=True, timeout=300
        )
        assert night.returncode == 0, night.stdout + night.stderr
        assert "labelled, results in" in night.stdout, night.stdout + night.stderr
        [labels] = (home / "data").glob("labels-*.jsonl")
        assert sorted(
            json.loads(x)["custom_id"] for x in labels.read_text().splitlines()
        ) == sorted(ids)
        assert (home / ".local" / "state" / "batch-router" / "ledger.sqlite3").is_file()
        # A night on which too many requests fail says so, and the script still ends cleanly.
        _control(emulator, "/_emulator/errors", {"custom_ids": ids[:2]})
        bad = subprocess.run(
            ["sh", str(script)], cwd=cron_cwd, env=env, capture_output=True, text=True, timeout=300
        )
        assert bad.returncode == 0 and "more than 2% of the requests failed" in bad.stdout, (
            bad.stdout + bad.stderr
        )


def test_shell_completion_is_generated_as_documented(tmp_path: Path) -> None:
    env = {**cli_env(), "_BATCH_ROUTER_COMPLETE": "bash_source"}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("batch-router"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "complete -o nosort -F" in proc.stdout, proc.stdout


def test_keys_from_a_credentials_file_only_its_owner_can_read(tmp_path: Path) -> None:
    write_questions(tmp_path / "in.jsonl", 2)
    creds = tmp_path / "credentials.yaml"
    creds.write_text("openai:\n  api_key: emulator-key\n")
    with EmulatorProcess("openai") as emulator:
        env = cli_env(
            BATCH_ROUTER_STATE_DIR=str(tmp_path / "state"), BATCH_ROUTER_CREDENTIALS=str(creds)
        )
        args = ["submit", "in.jsonl", "-p", "openai", "-m", "gpt-4o-mini"]
        args += ["--option", f"base_url={emulator.url}/v1"]
        creds.chmod(0o644)
        shared = _plain(args, tmp_path, env)
        assert shared.returncode == 3 and "chmod 600" in shared.stderr, shared.stderr
        assert emulator.stats()["batches"] == 0
        creds.chmod(0o600)
        owned = _plain(args, tmp_path, env)
        assert owned.returncode == 0, owned.stderr
        assert "visible to other users" not in owned.stderr
        assert emulator.stats()["batches"] == 1
    assert b"emulator-key" not in (tmp_path / "state" / "ledger.sqlite3").read_bytes()
