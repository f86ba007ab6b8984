"""OpenAI plugin: prepare a 50,000-request chat batch and parse a 50,000-line output file.

Figures are printed next to the orjson floor measured in the same run (prebuilt dicts written; the
same lines parsed). Also times the full download through the SDK from the emulator over loopback
HTTP, and `batch-router providers` (discovery must not import the openai SDK). Run:

    python benchmarks/bench_openai.py [N]
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, measure_parse, measure_prepare, row  # noqa: E402
from batch_router_openai.emulator import EmulatorState, OpenAIEmulator  # noqa: E402

from batch_router_core import (  # noqa: E402
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
)
from batch_router_core.emulation.clock import ManualClock  # noqa: E402
from batch_router_core.emulation.server import serve_in_thread  # noqa: E402
from batch_router_core.files import GeneratedFiles  # noqa: E402
from batch_router_core.formats.openai_batch.results import parse_line  # noqa: E402
from batch_router_core.retry import RetryPolicy  # noqa: E402


def make_batch(n: int) -> InputBatch:
    reqs = [
        InputRequest(
            custom_id=f"request-{i:06d}",
            messages=[
                InputMessage.user(
                    f"Classify the sentiment of review #{i}: "
                    "'The battery lasts all day and the screen is great.'"
                )
            ],
        )
        for i in range(n)
    ]
    return InputBatch(requests=reqs).with_params(
        InferenceParams(
            provider_id="openai",
            model_id="gpt-4o-mini",
            max_output_tokens=16,
            temperature=0.0,
            system_prompt="You label product reviews as positive, negative or neutral.",
        )
    )


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="br-bench-openai-"))
    reg = BatchProviderRegistry(
        overrides={}, files=GeneratedFiles(tmp / ".br"), retry=RetryPolicy.no_wait()
    )
    provider = reg.get("openai")
    batch = make_batch(n)

    t_floor_w, t_ours_w, m_ours_w = measure_prepare(provider, batch, tmp)

    # A real output file from the emulator's own processing.
    clock = ManualClock()
    state = EmulatorState(clock=clock, workdir=tmp / "emu", per_request_s=0.0)
    (tmp / "emu").mkdir()
    prepared = provider.prepare(batch)
    f = state.add_file(prepared.path.name, "batch", prepared.path.read_bytes())
    rec = state.create_batch(f.id, "/v1/chat/completions", "24h", None)
    clock.advance(60)
    state.get_batch(rec.id)
    out = state.files[rec.output_file_id].path  # type: ignore[index]

    t_floor_p, t_ours_p, m_ours_p = measure_parse(out, lambda line: parse_line(line, "gpt-4o-mini"))

    # Through the SDK over loopback HTTP (emulator in a thread of this process).
    emu = OpenAIEmulator(state)
    with serve_in_thread(emu) as server:
        http_provider = reg.get("openai", base_url=server.url + "/v1", api_key="bench")

        async def download() -> int:
            from batch_router_core import BatchHandle, BatchMode

            handle = BatchHandle(
                provider="openai",
                batch_id=rec.id,
                local_id="bench",
                model="gpt-4o-mini",
                mode=BatchMode.CHAT,
                request_count=n,
                data={"input_path": str(prepared.path)},
            )
            count = 0
            async for _ in http_provider.fetch_results(handle):
                count += 1
            return count

        t0 = time.perf_counter()
        got = asyncio.run(download())
        t_http = time.perf_counter() - t0
        assert got == n

    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "batch_router_core.cli", "providers"],
        check=True,
        capture_output=True,
    )
    t_providers = time.perf_counter() - t0
    code = "import sys, batch_router_openai.plugin; print('openai' in sys.modules)"
    sdk_loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    ).stdout.strip()

    print(f"# openai plugin, {n} chat requests - {machine()}")
    print(row("floor: orjson write of prebuilt dicts", t_floor_w, n))
    print(row("prepare (validate + convert + write file)", t_ours_w, n, t_floor_w, m_ours_w))
    print(row("floor: orjson parse of output lines", t_floor_p, n))
    print(row("parse output file -> RequestResult", t_ours_p, n, t_floor_p, m_ours_p))
    print(row("fetch_results via SDK over loopback HTTP", t_http, n))
    print(
        f"input file {prepared.byte_size / 1e6:.1f} MB, output file {out.stat().st_size / 1e6:.1f} "
        f"MB"
    )
    print(
        f"`batch-router providers` wall time: {t_providers * 1e3:.0f} ms; "
        f"importing the plugin imports the SDK: {sdk_loaded}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
