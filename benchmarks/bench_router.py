"""The router's own cost: N requests through BatchRouter (sharded) across three emulated providers.

The OpenAI, Anthropic and Google emulators each run in their own process (`batch-router emulate`),
so the CPU time measured here (`time.process_time()` of this process) is the router's: validation,
sharding, writing inputs, the ledger, polling, downloading and parsing results, writing unified
results. Also prints peak memory (tracemalloc) for two sizes to show whether it grows with N. Run:

    python benchmarks/bench_router.py [N]
"""

from __future__ import annotations

import asyncio
import gc
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

from batch_router_core import InferenceParams, InputBatch, InputMessage, InputRequest  # noqa: E402
from batch_router_core.files import GeneratedFiles  # noqa: E402
from batch_router_core.formats.unified import write_results_async  # noqa: E402
from batch_router_core.jobs.router import BatchRouter  # noqa: E402
from batch_router_core.registry import BatchProviderRegistry  # noqa: E402
from batch_router_core.retry import RetryPolicy  # noqa: E402

PROVIDERS = (
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-haiku-4-5"),
    ("google", "gemini-2.5-flash"),
)


def make_batches(n: int) -> list[InputBatch]:
    per = n // len(PROVIDERS)
    return [
        InputBatch(
            requests=[
                InputRequest(
                    custom_id=f"{name[:2]}-{i:06d}",
                    messages=[InputMessage.user(f"Summarise item {i} in five words.")],
                )
                for i in range(per)
            ]
        ).with_params(
            InferenceParams(
                provider_id=name, model_id=model, max_output_tokens=16, system_prompt="Be brief."
            )
        )
        for name, model in PROVIDERS
    ]


async def run(
    urls: dict[str, str], n: int, tmp: Path, *, traced: bool = False
) -> tuple[float, float, int]:
    # Limits lowered so every provider's batch is sharded into several jobs.
    reg = BatchProviderRegistry(
        files=GeneratedFiles(tmp / ".br"),
        overrides={name: {"limits": {"max_requests": 12_000}} for name, _ in PROVIDERS},
        retry=RetryPolicy.no_wait(),
    )
    router = BatchRouter(
        reg,
        root=tmp / ".br",
        shard=True,
        initial_interval=0.05,
        max_interval=0.2,
        provider_options={
            "openai": {"base_url": urls["openai"] + "/v1", "api_key": "bench"},
            "anthropic": {"base_url": urls["anthropic"], "api_key": "bench"},
            "google": {"base_url": urls["google"], "api_key": "bench", "mode": "file"},
        },
    )
    batches = make_batches(n)
    gc.collect()
    if traced:  # measure what the router adds on top of the input objects
        tracemalloc.reset_peak()
        run.base = tracemalloc.get_traced_memory()[0]  # type: ignore[attr-defined]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ids = await router.run_batches(batches, wait_for_completion=False)

    async def all_results():  # type: ignore[no-untyped-def]
        async for _, r in router.get_all_results(ids):
            yield r

    count = await write_results_async(tmp / "results.jsonl", all_results())
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    assert count == len(batches) * (n // len(PROVIDERS)), count
    return cpu, wall, count


def main(n: int) -> None:
    emulators = []
    urls: dict[str, str] = {}
    for name, _ in PROVIDERS:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        emulators.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "batch_router_core.cli",
                    "emulate",
                    name,
                    "--port",
                    str(port),
                    "--speed",
                    "1000000",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        urls[name] = f"http://127.0.0.1:{port}"
    try:
        for url in urls.values():
            for _ in range(300):
                try:
                    urllib.request.urlopen(url + "/_emulator/stats", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
        print(f"# router, 3 emulated providers in other processes - {machine()}")
        for size in (n // 5, n):
            tmp = Path(tempfile.mkdtemp(prefix="br-bench-router-"))
            cpu, wall, count = asyncio.run(run(urls, size, tmp))
            print(
                f"{count:>7} requests: router CPU {cpu:6.2f} s = {cpu / count * 1e6:5.1f} "
                f"us/request, "
                f"wall {wall:6.2f} s"
            )
        for size in (n // 5, n):
            tracemalloc.start()
            asyncio.run(
                run(urls, size, Path(tempfile.mkdtemp(prefix="br-bench-router-")), traced=True)
            )
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            extra = peak - run.base  # type: ignore[attr-defined]
            print(f"{size:>7} requests: peak memory above the input objects {extra / 1e6:7.1f} MB")
    finally:
        for emu in emulators:
            emu.terminate()
            emu.wait(10)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 99_999)
