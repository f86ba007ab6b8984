"""Core conversion path on the fake provider: unified requests -> JSONL file, result file -> unified.

Prints time and peak extra memory next to the floor measured in the same run: orjson writing the same
lines from prebuilt dicts, and orjson parsing the same result lines. Run:

    python benchmarks/bench_core_conversion.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_time, machine, peak_extra_bytes, row  # noqa: E402

from batch_router_core import (  # noqa: E402
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
)
from batch_router_core.emulation import ManualClock  # noqa: E402
from batch_router_core.files import GeneratedFiles, iter_jsonl, write_jsonl_lines  # noqa: E402
from batch_router_core.retry import RetryPolicy  # noqa: E402
from batch_router_core.testing.fake_provider import FakeProvider, FakeService, parse_result_line  # noqa: E402


def make_batch(n: int) -> InputBatch:
    reqs = [InputRequest(custom_id=f"request-{i:06d}",
                         messages=[InputMessage.user(f"Summarise document {i} in one sentence, please.")])
            for i in range(n)]
    return InputBatch(requests=reqs).with_params(InferenceParams(
        provider_id="fake", model_id="fake-1", system_prompt="You are a concise assistant.",
        max_output_tokens=64, temperature=0.2))


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="br-bench-"))
    reg = BatchProviderRegistry(autoload=False, overrides={}, files=GeneratedFiles(tmp / ".br"),
                                retry=RetryPolicy.no_wait())
    reg.register(FakeProvider())
    clock = ManualClock()
    svc = FakeService(clock=clock, workdir=tmp)
    fake = reg.get("fake", service=svc)
    batch = make_batch(n)

    # Floor: the same lines, prebuilt as dicts, written with orjson.
    prebuilt = [orjson.loads(line) for line in fake.prepare_payloads(batch).lines]
    floor_path = tmp / "floor.jsonl"

    def floor_write() -> None:
        floor_path.unlink(missing_ok=True)
        write_jsonl_lines(floor_path, (orjson.dumps(d) for d in prebuilt))

    def ours_write() -> None:
        # Remove the file again, as the floor does, so both write into the same amount of disk cache.
        fake.prepare(batch).path.unlink()

    t_floor_w = best_time(floor_write)
    t_ours_w = best_time(ours_write)
    m_ours_w = peak_extra_bytes(ours_write)

    # A real output file from the fake service, then parse it back.
    async def run_job() -> Path:
        handle = await fake.submit(fake.prepare(batch))
        clock.advance(100)
        await fake.poll_status(handle)
        return svc.jobs[handle.batch_id].output_path  # type: ignore[return-value]

    out = asyncio.run(run_job())

    def floor_parse() -> None:
        for _ in iter_jsonl(out):
            pass

    def ours_parse() -> None:
        for _, line in iter_jsonl(out):
            parse_result_line(line, "fake", "fake-1")

    t_floor_p = best_time(floor_parse)
    t_ours_p = best_time(ours_parse)
    m_ours_p = peak_extra_bytes(ours_parse)

    print(f"# core conversion, {n} requests - {machine()}")
    print(row("floor: orjson write of prebuilt dicts", t_floor_w, n))
    print(row("prepare (validate + convert + write file)", t_ours_w, n, t_floor_w, m_ours_w))
    print(row("floor: orjson parse of result lines", t_floor_p, n))
    print(row("parse result file -> RequestResult", t_ours_p, n, t_floor_p, m_ours_p))
    print(f"input file {out.stat().st_size / 1e6:.1f} MB output file")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
