"""Anthropic plugin: prepare 50,000 requests and parse 50,000 result lines, next to the orjson
floor.

python benchmarks/bench_anthropic.py [N]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, measure_parse, measure_prepare, row  # noqa: E402
from batch_router_anthropic.emulator.app import EmulatorState  # noqa: E402
from batch_router_anthropic.parse import parse_line  # noqa: E402

from batch_router_core import (  # noqa: E402
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
)
from batch_router_core.emulation.clock import ManualClock  # noqa: E402
from batch_router_core.files import GeneratedFiles  # noqa: E402


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="br-bench-anthropic-"))
    provider = BatchProviderRegistry(overrides={}, files=GeneratedFiles(tmp / ".br")).get(
        "anthropic"
    )
    batch = InputBatch(
        requests=[
            InputRequest(
                custom_id=f"request-{i:06d}",
                messages=[
                    InputMessage.user(
                        f"Classify the sentiment of review #{i}: 'The battery lasts all day and "
                        f"the screen is great.'"
                    )
                ],
            )
            for i in range(n)
        ]
    ).with_params(
        InferenceParams(
            provider_id="anthropic",
            model_id="claude-haiku-4-5",
            max_output_tokens=16,
            temperature=0.0,
            system_prompt="You label product reviews as positive, negative or neutral.",
        )
    )
    t_floor_w, t_ours_w, m_ours_w = measure_prepare(provider, batch, tmp)

    # A real results file from the emulator's own processing.
    state = EmulatorState(clock=ManualClock(), per_request_s=0.0)
    prepared = provider.prepare(batch)
    emu_batch = state.create([orjson.loads(line) for line in prepared.iter_lines()])
    state.advance(emu_batch)
    out = tmp / "results.jsonl"
    out.write_bytes(b"\n".join(emu_batch.results or []) + b"\n")
    t_floor_p, t_ours_p, m_ours_p = measure_parse(
        out, lambda line: parse_line(line, "claude-haiku-4-5")
    )

    print(f"# anthropic plugin, {n} requests - {machine()}")
    print(row("floor: orjson write of prebuilt dicts", t_floor_w, n))
    print(row("prepare (validate + convert + write file)", t_ours_w, n, t_floor_w, m_ours_w))
    print(row("floor: orjson parse of result lines", t_floor_p, n))
    print(row("parse result file -> RequestResult", t_ours_p, n, t_floor_p, m_ours_p))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
