"""Core conversion path on the fake provider: unified requests -> JSONL file, result file ->
unified.

Prints time and peak extra memory next to the floor measured in the same run: orjson writing the
same lines from prebuilt dicts, and orjson parsing the same result lines. Run:

    python benchmarks/bench_core_conversion.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, measure_parse, measure_prepare, row  # noqa: E402

from batch_router_core import (  # noqa: E402
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
)
from batch_router_core.emulation import ManualClock  # noqa: E402
from batch_router_core.files import GeneratedFiles  # noqa: E402
from batch_router_core.retry import RetryPolicy  # noqa: E402
from batch_router_core.testing.fake_provider import FakeProvider, FakeService, parse_result_line  # noqa: E402


def make_batch(n: int) -> InputBatch:
    reqs = [
        InputRequest(
            custom_id=f"request-{i:06d}",
            messages=[InputMessage.user(f"Summarise document {i} in one sentence, please.")],
        )
        for i in range(n)
    ]
    return InputBatch(requests=reqs).with_params(
        InferenceParams(
            provider_id="fake",
            model_id="fake-1",
            system_prompt="You are a concise assistant.",
            max_output_tokens=64,
            temperature=0.2,
        )
    )


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="br-bench-"))
    reg = BatchProviderRegistry(
        autoload=False, overrides={}, files=GeneratedFiles(tmp / ".br"), retry=RetryPolicy.no_wait()
    )
    reg.register(FakeProvider())
    clock = ManualClock()
    svc = FakeService(clock=clock, workdir=tmp)
    fake = reg.get("fake", service=svc)
    batch = make_batch(n)

    t_floor_w, t_ours_w, m_ours_w = measure_prepare(fake, batch, tmp)

    # A real output file from the fake service, then parse it back.
    async def run_job() -> Path:
        handle = await fake.submit(fake.prepare(batch))
        clock.advance(100)
        await fake.poll_status(handle)
        return svc.jobs[handle.batch_id].output_path  # type: ignore[return-value]

    out = asyncio.run(run_job())

    t_floor_p, t_ours_p, m_ours_p = measure_parse(
        out, lambda line: parse_result_line(line, "fake", "fake-1")
    )

    print(f"# core conversion, {n} requests - {machine()}")
    print(row("floor: orjson write of prebuilt dicts", t_floor_w, n))
    print(row("prepare (validate + convert + write file)", t_ours_w, n, t_floor_w, m_ours_w))
    print(row("floor: orjson parse of result lines", t_floor_p, n))
    print(row("parse result file -> RequestResult", t_ours_p, n, t_floor_p, m_ours_p))
    print(f"input file {out.stat().st_size / 1e6:.1f} MB output file")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
