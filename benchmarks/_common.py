"""Helpers shared by the benchmarks: timing, peak memory, machine description."""

from __future__ import annotations

import gc
import os
import platform
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any


def best_time(fn: Callable[[], Any], repeat: int = 5) -> float:
    """Best wall time of ``repeat`` runs (seconds); GC collected before each."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_extra_bytes(fn: Callable[[], Any]) -> int:
    """Peak memory allocated by ``fn`` above what existed before it ran (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base


def machine() -> str:
    """One line describing where the figures were measured."""
    cpu = platform.processor() or platform.machine()
    return (
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()} "
        f"({cpu}), {os.cpu_count()} CPUs"
    )


def row(
    label: str, seconds: float, n: int, floor: float | None = None, mem: int | None = None
) -> str:
    """A printed result line."""
    ratio = f"  {seconds / floor:5.2f}x floor" if floor else ""
    m = f"  peak extra {mem / 1e6:7.2f} MB" if mem is not None else ""
    return f"{label:<46} {seconds * 1e3:8.1f} ms  {seconds / n * 1e6:6.2f} us/req{ratio}{m}"


def measure_prepare(
    provider: Any, batch: Any, tmp: Any, repeat: int = 5
) -> tuple[float, float, int]:
    """(floor seconds, prepare seconds, prepare peak extra bytes) for one batch.

    The floor writes the same lines, prebuilt as dicts, with orjson. Both sides remove their file
    after each run so they write the same amount to the disk cache, and they run in turns (floor,
    prepare, floor, ...), each keeping its best: on this machine's disk the kernel's share of
    writing a file swings between runs (1.4 µs a line on tmpfs, 2.4-6 µs on ext4 for the same
    800-byte lines), and timing all of one side before the other once made a floor look twice as
    costly as it was. To compare the CPU work alone, put both files on tmpfs: a ``tmp`` from
    :func:`scratch_dir` with ``memory=True``, and the provider's generated files (where
    ``prepare`` writes) in the same folder, as ``bench_per_request.py`` does.
    """
    import orjson

    from batch_router_core.files import write_jsonl_lines

    prebuilt = [orjson.loads(line) for line in provider.prepare_payloads(batch).lines]
    floor_path = tmp / "floor.jsonl"

    def floor_write() -> None:
        floor_path.unlink(missing_ok=True)
        write_jsonl_lines(floor_path, (orjson.dumps(d) for d in prebuilt))

    def ours_write() -> None:
        provider.prepare(batch).path.unlink()

    floor = ours = float("inf")
    for _ in range(repeat):
        floor = min(floor, best_time(floor_write, 1))
        ours = min(ours, best_time(ours_write, 1))
    return floor, ours, peak_extra_bytes(ours_write)


def scratch_dir(prefix: str, *, memory: bool = False) -> Path:
    """A new temporary folder; with ``memory``, on tmpfs (``/dev/shm``) where there is one, so
    that writing files costs the kernel no disk work and only CPU work is compared."""
    shm = Path("/dev/shm")
    where = str(shm) if memory and shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=where))


def measure_parse(path: Any, parse: Callable[[Any], Any]) -> tuple[float, float, int]:
    """(floor seconds, parse seconds, parse peak extra bytes) for a result file.

    The floor reads and orjson-parses every line; ours also turns each into a unified result.
    """
    from batch_router_core.files import iter_jsonl

    def floor_parse() -> None:
        for _ in iter_jsonl(path):
            pass

    def ours_parse() -> None:
        for _, line in iter_jsonl(path):
            parse(line)

    return best_time(floor_parse), best_time(ours_parse), peak_extra_bytes(ours_parse)
