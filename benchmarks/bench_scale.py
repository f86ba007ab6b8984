"""A large job as a user runs it: `batch-router run --shard` against the OpenAI emulator.

The emulator runs in its own process (`batch-router emulate openai`), so the client's figures are
the command line's own: reading and validating the input file, sharding, writing provider files,
the ledger, uploading, polling, downloading and parsing results, writing unified results. For each
size the client's wall time, CPU time per request (user + system, from the kernel's accounting of
the child process) and peak resident memory are printed beside a floor measured in the same run: a
Python process that reads the same input file with orjson and writes one result line per request.

The input is realistic: every request has its own system prompt some of the time, varied Unicode
text of a few hundred characters, and its own max tokens. Run:

    python benchmarks/bench_scale.py [N ...]      (default: 100000 400000)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

from batch_router_core.testing.harness import CLI, EmulatorProcess, cli_env  # noqa: E402

WORDS = (
    "capital",
    "Größe",
    "évolution",
    "東京の天気",
    "قمر منير",
    "вода и лёд",
    "río",
    "κύκλος",
    "🙂 emoji",
    "naïve café",
    "데이터",
    "नमस्ते",
)


def write_input(path: Path, n: int) -> int:
    """``n`` unified requests; every fourth with its own system prompt and max tokens."""
    with path.open("wb") as fh:
        for i in range(n):
            text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(24)) + f" #{i}"
            line: dict[str, object] = {
                "custom_id": f"r-{i}",
                "messages": [{"role": "user", "content": text}],
            }
            if i % 4 == 0:
                line["params"] = {
                    "system_prompt": f"You label item {i}. " + "Answer briefly and exactly. " * 6,
                    "max_output_tokens": 64 + i % 32,
                }
            fh.write(orjson.dumps(line) + b"\n")
    return path.stat().st_size


FLOOR = """
import sys, orjson
with open(sys.argv[1], "rb") as src, open(sys.argv[2], "wb") as out:
    for raw in src:
        d = orjson.loads(raw)
        out.write(orjson.dumps({"custom_id": d["custom_id"], "status": "succeeded",
                                "text": d["messages"][0]["content"]}) + b"\\n")
"""


def measured(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float, int]:
    """(wall s, cpu s, peak RSS MB, exit code) of a child process, from the kernel's accounting."""
    start = time.perf_counter()
    with (cwd / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write((cwd / "stderr.txt").read_text()[-3000:])
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 400_000]
    print(machine())
    print(
        f"{'requests':>9} {'input MB':>8}  {'':<10} {'wall s':>7} {'CPU s':>7} {'µs/req':>7} "
        f"{'peak RSS MB':>11}"
    )
    with EmulatorProcess("openai", speed=1_000_000.0) as emulator:
        base_url = next(o for o in emulator.options if o.startswith("base_url="))
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                d = Path(tmp)
                size = write_input(d / "in.jsonl", n)
                env = cli_env(
                    OPENAI_API_KEY="emulator-key", BATCH_ROUTER_STATE_DIR=str(d / "state")
                )
                floor = measured([sys.executable, "-c", FLOOR, "in.jsonl", "floor.jsonl"], d, env)
                run = measured(
                    [
                        *CLI,
                        "run",
                        "in.jsonl",
                        "-p",
                        "openai",
                        "-m",
                        "gpt-4o-mini",
                        "--shard",
                        "--option",
                        base_url,
                        "--poll-interval",
                        "0.2",
                        "-o",
                        "out.jsonl",
                    ],
                    d,
                    env,
                )
                lines = sum(1 for _ in (d / "out.jsonl").open("rb")) if run[3] == 0 else 0
                for label, (wall, cpu, rss, code) in (("floor", floor), ("run --shard", run)):
                    print(
                        f"{n:>9} {size / 1e6:>8.1f}  {label:<10} {wall:>7.1f} {cpu:>7.1f} "
                        f"{cpu / n * 1e6:>7.1f} {rss:>11.0f}" + (f"  exit {code}" if code else "")
                    )
                assert run[3] != 0 or lines == n, f"{lines} results for {n} requests"


if __name__ == "__main__":
    main()
