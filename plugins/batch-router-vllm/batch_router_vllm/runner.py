"""The supervisor of one vLLM job: ``python -m batch_router_vllm.runner JOB_DIR``.

It starts the engine command recorded in ``JOB_DIR/job.json`` as its child, sends the engine's
output to ``engine.log``, and when the engine ends writes ``exit.json`` with its exit status. It is
started in a new session, so the runner, the engine and every process vLLM spawns share one process
group that cancel terminates at once. It exists because the process that submitted a job cannot
learn the exit status of a process it did not start (after a crash, or when polling from another
process): the runner is always the engine's parent and writes the status down. Only the standard
library is used.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from batch_router_core.plugin import (
    proc_stat,
    write_json_atomic,
)

RUNNER_FILE = "runner.json"
EXIT_FILE = "exit.json"
LOG_FILE = "engine.log"


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    fields = proc_stat(pid)
    return int(fields[19]) if fields else None


def group_members(group: int) -> list[int]:
    """Live processes of process group ``group``, this one excepted (Linux; elsewhere none are
    known).

    Zombies are left out: they have ended and only wait for their parent (or init) to reap them.
    """
    me, found = os.getpid(), []
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        fields = proc_stat(int(entry.name))
        if fields and int(fields[2]) == group and fields[0] not in "ZX":
            found.append(int(entry.name))
    return found


def _sweep(grace_s: float) -> None:
    """Stop what the engine left behind in the group (workers of a killed engine), SIGKILL after
    grace."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 0.0)):
        members = group_members(os.getpgrp())
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and group_members(os.getpgrp()):
            time.sleep(0.1)


def main(argv: list[str]) -> int:
    """Run the job in ``argv[1]`` and record how it ended."""
    job_dir = Path(argv[1])
    job = json.loads((job_dir / "job.json").read_text())
    os.umask(
        0o077
    )  # whatever the engine writes (output, caches, logs) is readable by this user only
    env = {**os.environ, **job.get("env", {})}
    log = os.open(job_dir / LOG_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    child = subprocess.Popen(
        job["command"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=job_dir,
    )
    os.close(log)
    write_json_atomic(
        job_dir / RUNNER_FILE,
        {
            "pid": os.getpid(),
            "start_ticks": process_start_ticks(os.getpid()),
            "engine_pid": child.pid,
            "started_at": time.time(),
        },
    )

    def forward(signum: int, _frame: Any) -> None:
        # Cancel signals the whole group; a signal sent to the runner alone is passed on.
        if child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    returncode = child.wait()
    # The exit status is recorded only once no process of the job is left.
    _sweep(float(job.get("kill_grace_s", 10)))
    write_json_atomic(job_dir / EXIT_FILE, {"returncode": returncode, "ended_at": time.time()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
