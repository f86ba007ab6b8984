"""A vLLM job on disk, and what state its process is in.

Each job is a directory (user-only) holding ``job.json`` (what to run, written before launch),
``runner.json`` (the supervising process: pid and start time, written by it), ``engine.log``,
``progress.json`` (offline engine), ``output.jsonl``, ``cancel`` (a cancel was asked for) and
``exit.json`` (the engine's exit status, written by the runner). The state is read from those files
and from the process table, never guessed from the output file's size: any process can poll a job.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs

from batch_router_core.plugin import (
    proc_stat,
    write_json_atomic,
)

from .runner import EXIT_FILE, LOG_FILE, RUNNER_FILE

__all__ = ["JobState", "cancel_job", "launch", "read_job", "read_runner", "read_state"]

JOB_FILE = "job.json"
CANCEL_FILE = "cancel"
PROGRESS_FILE = "progress.json"
#: run_batch's tqdm line, e.g. "Running batch:  40% Completed | 2/5 [00:01<00:02, 2.11req/s]"
_PROGRESS_RE = re.compile(rb"Running batch:[^|\n\r]*\|\s*(\d+)/(\d+)")
_ERROR_RE = re.compile(r"^(?:[\w.]+(?:Error|Exception)|error:|Error:)\b.*", re.MULTILINE)
_LOG_TAIL = 64 * 1024

# Runners this process started: polling them reaps the exited ones (no zombies while we live).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@attrs.frozen(kw_only=True)
class JobState:
    """Where a job is: a raw status from the YAML status map, progress, and the failure reason."""

    raw_status: str
    total: int
    done: int = 0
    succeeded: int | None = None
    error: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    cancel_requested_at: float | None = None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def read_job(job_dir: Path) -> dict[str, Any] | None:
    """The job's ``job.json``, or None when there is no job there."""
    job = _read_json(job_dir / JOB_FILE)
    return dict(job) if job is not None else None


def read_runner(job_dir: Path) -> dict[str, Any] | None:
    """The runner's record (pid, start time), or None before it started."""
    runner = _read_json(job_dir / RUNNER_FILE)
    return dict(runner) if runner is not None else None


def _reap(runner: dict[str, Any]) -> None:
    # A runner this process started stays a zombie (its pid still taken) until waited for.
    child = _CHILDREN.get(int(runner.get("pid", 0)))
    if child is not None:
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return
        del _CHILDREN[child.pid]


def _alive(runner: dict[str, Any]) -> bool:
    pid = int(runner["pid"])
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        return False
    if Path("/proc/self").exists():
        fields = proc_stat(pid)
        if fields is None or fields[0] in "ZX":  # gone, or a zombie: it has ended
            return False
        recorded = runner.get("start_ticks")
        return recorded is None or int(fields[19]) == recorded  # else: the pid was reused
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_tail(job_dir: Path) -> bytes:
    path = job_dir / LOG_FILE
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - _LOG_TAIL))
            return fh.read()
    except FileNotFoundError:
        return b""


def failure_reason(job_dir: Path, returncode: int | None) -> str:
    """The engine's own last error line (an exception, or argparse's complaint), with its exit
    status."""
    text = _log_tail(job_dir).decode("utf-8", "replace").replace("\r", "\n")
    errors = _ERROR_RE.findall(text)
    last = (
        errors[-1].strip()
        if errors
        else next(
            (line.strip() for line in reversed(text.splitlines()) if line.strip()), "no output"
        )
    )
    how = f"exit status {returncode}" if returncode is not None else "no exit status recorded"
    if returncode is not None and returncode < 0:
        how = f"killed by {signal.Signals(-returncode).name}"
    return f"{last} ({how}; see {job_dir / LOG_FILE})"


def _output_counts(job: dict[str, Any]) -> tuple[int, int]:
    done = succeeded = 0
    try:
        with open(job["output"], "rb") as fh:
            for raw in fh:
                if raw.strip():
                    done += 1
                    succeeded += b'"error": null' in raw or b'"error":null' in raw
    except FileNotFoundError:
        pass
    return done, succeeded


def read_state(job_dir: Path) -> JobState:
    """The job's state now, from its files and its process."""
    job = _read_json(job_dir / JOB_FILE)
    if job is None:
        raise FileNotFoundError(f"no vLLM job in {job_dir}")
    total = int(job["request_count"])
    runner = _read_json(job_dir / RUNNER_FILE) or {}
    ended = _read_json(job_dir / EXIT_FILE)
    cancel = _read_json(job_dir / CANCEL_FILE)
    cancel_at = cancel["at"] if cancel else None
    started = runner.get("started_at")
    if ended is not None:
        _reap(runner)
        done, succeeded = _output_counts(job)
        if cancel is not None:
            return JobState(
                raw_status="cancelled",
                total=total,
                done=done,
                succeeded=succeeded,
                started_at=started,
                ended_at=ended["ended_at"],
                cancel_requested_at=cancel_at,
            )
        if ended["returncode"] == 0 and done == total:
            return JobState(
                raw_status="completed",
                total=total,
                done=done,
                succeeded=succeeded,
                started_at=started,
                ended_at=ended["ended_at"],
            )
        reason = failure_reason(job_dir, ended["returncode"])
        if ended["returncode"] == 0:
            reason = f"the engine exited normally but wrote {done} of {total} results ({reason})"
        return JobState(
            raw_status="failed",
            total=total,
            done=done,
            succeeded=succeeded,
            error=reason,
            started_at=started,
            ended_at=ended["ended_at"],
        )
    if not runner or not _alive(runner):
        if not runner and time.time() - float(job["created_at"]) < 60:
            return JobState(raw_status="loading", total=total)  # launched, the runner is starting
        # The supervisor is gone without recording how the engine ended (killed, machine crash).
        done, succeeded = _output_counts(job)
        status = "cancelled" if cancel is not None else "failed"
        return JobState(
            raw_status=status,
            total=total,
            done=done,
            succeeded=succeeded,
            started_at=started,
            error=None
            if cancel
            else "the job's process died without recording an exit status: "
            + failure_reason(job_dir, None),
            ended_at=time.time(),
            cancel_requested_at=cancel_at,
        )
    if cancel is not None:
        return JobState(
            raw_status="cancelling", total=total, started_at=started, cancel_requested_at=cancel_at
        )
    progress = _read_json(job_dir / PROGRESS_FILE)
    if progress is not None:
        return JobState(
            raw_status="running",
            total=total,
            done=int(progress["done"]),
            succeeded=int(progress["succeeded"]),
            started_at=started,
        )
    matches = _PROGRESS_RE.findall(_log_tail(job_dir))
    if matches:
        return JobState(
            raw_status="running", total=total, done=int(matches[-1][0]), started_at=started
        )
    return JobState(raw_status="loading", total=total, started_at=started)


def launch(job_dir: Path, job: dict[str, Any], *, wait_s: float = 30.0) -> dict[str, Any]:
    """Write ``job.json`` and start the runner in a new session; returns the runner's record."""
    write_json_atomic(job_dir / JOB_FILE, job)
    log = os.open(job_dir / "runner.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch_router_vllm.runner", str(job_dir)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    os.close(log)
    _CHILDREN[proc.pid] = proc
    deadline = time.monotonic() + wait_s
    while True:
        runner = _read_json(job_dir / RUNNER_FILE)
        if runner is not None:
            return dict(runner)
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = (job_dir / "runner.log").read_text(errors="replace").strip().splitlines()[
                -1:
            ] or ["no output"]
            raise RuntimeError(f"the job runner did not start: {tail[0]}")
        time.sleep(0.02)


def cancel_job(job_dir: Path, grace_s: float) -> None:
    """Ask the job's process group to stop (SIGTERM), and kill it if it outlives ``grace_s``."""
    cancel = _read_json(job_dir / CANCEL_FILE)
    if cancel is None:
        cancel = {"at": time.time()}
        write_json_atomic(job_dir / CANCEL_FILE, cancel)
    runner = _read_json(job_dir / RUNNER_FILE)
    if not runner or (job_dir / EXIT_FILE).exists() or not _alive(runner):
        return
    sig = signal.SIGKILL if time.time() - cancel["at"] > grace_s else signal.SIGTERM
    try:
        os.killpg(int(runner["pid"]), sig)  # the runner leads its own session: its group is the job
    except ProcessLookupError:
        pass
