"""Real processes for lifecycle tests: emulators served by ``batch-router emulate`` and CLI runs.

Everything here is a real process speaking real HTTP: an emulator in its own process (optionally
failing a share of all calls with ``--chaos``), the ``batch-router`` command line as subprocesses
(which tests may ``kill -9`` at a crash point or at any moment), and a real SQLite ledger in each
run's directory. The crash, chaos and concurrency tests and ``benchmarks/chaos.py`` share it.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = ["CLI", "PROVIDER_ARGS", "EmulatorProcess", "cli", "cli_env", "write_questions"]

CLI = [sys.executable, "-m", "batch_router_core.cli"]

#: Model and parameters each hosted provider's emulator needs for a chat run.
PROVIDER_ARGS: Mapping[str, tuple[str, ...]] = {
    "openai": ("-m", "gpt-4o-mini"),
    "anthropic": ("-m", "claude-sonnet-4-5", "--max-output-tokens", "64"),
    "google": ("-m", "gemini-2.5-flash"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@attrs.define
class EmulatorProcess:
    """``batch-router emulate PROVIDER`` in its own process."""

    provider: str
    speed: float = 100000.0
    chaos: float = 0.0
    seed: int | None = None
    url: str = ""
    options: list[str] = attrs.field(factory=list)
    #: more ``batch-router emulate`` arguments (``--webhook-url URL``...)
    extra_args: list[str] = attrs.field(factory=list)
    _proc: subprocess.Popen[bytes] | None = None

    def start(self) -> EmulatorProcess:
        """Start it and wait until it answers."""
        from batch_router_core.registry import BatchProviderRegistry

        port = _free_port()
        args = [*CLI, "emulate", self.provider, "--port", str(port), "--speed", str(self.speed)]
        if self.chaos:
            args += ["--chaos", str(self.chaos)]
        if self.seed is not None:
            args += ["--chaos-seed", str(self.seed)]
        args += self.extra_args
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        handle = BatchProviderRegistry().get(self.provider)
        self.options = [f"{k}={v}" for k, v in handle.emulator_options(self.url).items()]
        deadline = time.monotonic() + 30
        while True:
            try:
                self.stats()
                return self
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.1)

    def stats(self) -> dict[str, Any]:
        """The emulator's counters: ``batches`` created, ``faults`` injected by kind, requests
        seen."""
        with urllib.request.urlopen(self.url + "/_emulator/stats", timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data

    def input_uploads(self) -> list[dict[str, Any]]:
        """The batch input files on an OpenAI emulator (read without faults: a control-free route is
        not available, so this retries until it gets an answer)."""
        key = next(o.split("=", 1)[1] for o in self.options if o.startswith("api_key="))
        request = urllib.request.Request(
            self.url + "/v1/files?purpose=batch", headers={"Authorization": f"Bearer {key}"}
        )
        for _ in range(50):
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    data: list[dict[str, Any]] = json.loads(response.read())["data"]
                return data
            except (
                OSError,
                ValueError,
                http.client.HTTPException,
            ):  # a fault injected on the listing
                time.sleep(0.05)
        raise RuntimeError("the emulator never answered the file listing")

    def stop(self) -> None:
        """Stop the process."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cli_env(crash: str | None = None, **extra: str) -> dict[str, str]:
    """An environment for CLI runs: no real keys, retries without sleeping, optional crash point."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "ANTHROPIC_", "GOOGLE_", "GEMINI_", "BATCH_ROUTER_CRASH"))
    }
    env["BATCH_ROUTER_RETRY_NO_WAIT"] = "1"
    if crash:
        env["BATCH_ROUTER_CRASH_AT"] = crash
    env.update(extra)
    return env


def cli(
    args: Sequence[str],
    cwd: Path,
    emulator: EmulatorProcess,
    *,
    crash: str | None = None,
    timeout: float = 180,
    background: bool = False,
    env: Mapping[str, str] | None = None,
) -> Any:
    """Run ``batch-router ARGS --option base_url=...`` against ``emulator`` in ``cwd``, the key in
    the provider's environment variable (the documented way: a key in ``--option`` warns).

    Returns the CompletedProcess, or the running Popen with ``background``.
    """
    from batch_router_core.registry import BatchProviderRegistry

    by_option = {
        o: e for e, o in BatchProviderRegistry().info(emulator.provider).env_options.items()
    }
    argv = [*CLI, *args]
    keys: dict[str, str] = {}
    for option in emulator.options:
        name, _, value = option.partition("=")
        if name == "api_key" and "api_key" in by_option:
            keys[by_option["api_key"]] = value
        else:
            argv += ["--option", option]
    environment = cli_env(crash, **{**keys, **dict(env or {})})
    # Each working directory is its own state directory, unless the caller says otherwise.
    if env is None or "BATCH_ROUTER_STATE_DIR" not in env:
        environment["BATCH_ROUTER_STATE_DIR"] = str(Path(cwd) / ".batch_router")
    if background:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    return subprocess.run(
        argv, capture_output=True, text=True, cwd=cwd, env=environment, timeout=timeout
    )


def write_questions(path: Path, count: int, *, prefix: str = "q") -> list[str]:
    """A unified input file of ``count`` distinct questions in varied scripts; returns the ids."""
    words = [
        "capital",
        "Größe",
        "évolution",
        "東京",
        "قمر",
        "вода",
        "río",
        "κύκλος",
        "🙂 emoji",
        "naïve",
    ]
    ids = [f"{prefix}{i}" for i in range(count)]
    with path.open("w", encoding="utf-8") as fh:
        for i, cid in enumerate(ids):
            text = f"Question {i}: tell me about {words[i % len(words)]} ({i * 7919 % 1000})."
            fh.write(
                json.dumps(
                    {"custom_id": cid, "messages": [{"role": "user", "content": text}]},
                    ensure_ascii=False,
                )
                + "\n"
            )
    return ids


@attrs.define
class ChaosFigures:
    """What a series of chaos runs saw: the figures ``docs/reliability.md`` records."""

    runs: int = 0
    clean_exits: int = 0
    faults: dict[str, int] = attrs.field(factory=dict)
    retries: int = 0
    provider_jobs: int = 0
    shards: int = 0
    duplicates: int = 0
    lost: int = 0
    #: input uploads left on the provider beside the ones its jobs use (OpenAI's emulator lists
    #: them)
    orphan_uploads: int = 0
    failures: list[str] = attrs.field(factory=list)

    def add(self, other: ChaosFigures) -> None:
        """Sum another series into this one."""
        for name in (
            "runs",
            "clean_exits",
            "retries",
            "provider_jobs",
            "shards",
            "duplicates",
            "lost",
            "orphan_uploads",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for kind, n in other.faults.items():
            self.faults[kind] = self.faults.get(kind, 0) + n
        self.failures += other.failures


def chaos_runs(
    provider: str,
    workdir: Path,
    *,
    runs: int,
    rate: float,
    seed: int = 0,
    requests: int = 10,
    shard_every: int = 2,
    shard_size: int = 4,
) -> ChaosFigures:
    """``runs`` CLI runs against one emulator failing ``rate`` of all calls; every other run
    sharded.

    Each run must exit 0 on its own, the emulator must hold exactly one provider job per shard, and
    the results must hold every custom_id exactly once, all succeeded.
    """
    import sqlite3

    figures = ChaosFigures()
    with EmulatorProcess(provider, chaos=rate, seed=seed) as emulator:
        for n in range(runs):
            run_dir = workdir / f"{provider}-{n}"
            run_dir.mkdir(parents=True)
            sharded = shard_every > 0 and n % shard_every == 0
            if sharded:
                (run_dir / "batch-router.yaml").write_text(
                    f"providers:\n  {provider}:\n    limits: {{max_requests: {shard_size}}}\n"
                )
            ids = write_questions(run_dir / "in.jsonl", requests, prefix=f"r{n}-")
            before = emulator.stats()["batches"]
            args = [
                "run",
                "in.jsonl",
                "-p",
                provider,
                *PROVIDER_ARGS[provider],
                "--poll-interval",
                "0.05",
                "-o",
                "out.jsonl",
                *(["--shard"] if sharded else []),
            ]
            proc = cli(args, run_dir, emulator)
            created = emulator.stats()["batches"] - before
            figures.runs += 1
            figures.retries += proc.stderr.count("retrying")
            ledger = sqlite3.connect(run_dir / ".batch_router" / "ledger.sqlite3")
            shards = ledger.execute("SELECT count(*) FROM provider_jobs").fetchone()[0]
            ledger.close()
            figures.shards += shards
            figures.provider_jobs += created
            figures.duplicates += max(0, created - shards)
            got: list[str] = []
            if proc.returncode == 0:
                figures.clean_exits += 1
                for line in (run_dir / "out.jsonl").read_text().splitlines():
                    record = json.loads(line)
                    if record["status"] == "succeeded":
                        got.append(record["custom_id"])
            else:
                figures.failures.append(
                    f"{provider} run {n}: exit {proc.returncode}: {proc.stderr[-600:]}"
                )
            figures.lost += len(set(ids) - set(got))
            figures.duplicates += len(got) - len(set(got))
            if "Traceback" in proc.stderr:
                figures.failures.append(f"{provider} run {n}: traceback: {proc.stderr[-600:]}")
        figures.faults = dict(emulator.stats()["faults"])
        if provider == "openai":
            figures.orphan_uploads = len(emulator.input_uploads()) - emulator.stats()["batches"]
    return figures
