"""Google plugin (file mode): prepare 50,000 requests and parse 50,000 result lines, next to the
floor.

python benchmarks/bench_google.py [N]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, measure_parse, measure_prepare, row  # noqa: E402
from batch_router_google.emulator.app import EmulatorState, Job  # noqa: E402
from batch_router_google.parse import parse_item  # noqa: E402

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
    tmp = Path(tempfile.mkdtemp(prefix="br-bench-google-"))
    provider = BatchProviderRegistry(overrides={}, files=GeneratedFiles(tmp / ".br")).get("google")
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
            provider_id="google",
            model_id="gemini-2.5-flash",
            max_output_tokens=16,
            temperature=0.0,
            system_prompt="You label product reviews as positive, negative or neutral.",
        )
    )
    t_floor_w, t_ours_w, m_ours_w = measure_prepare(provider, batch, tmp)

    # A real responses file from the emulator's own processing (file mode: key after response).
    import orjson

    state = EmulatorState(clock=ManualClock(), per_request_s=0.0, pending_s=0.0)
    prepared = provider.prepare(batch)
    items = [
        (line["key"], line["request"], None) for line in map(orjson.loads, prepared.iter_lines())
    ]
    job = Job(
        id="bench",
        model="gemini-2.5-flash",
        kind="generate",
        display_name="bench",
        input_config={"fileName": "files/x"},
        items=items,
        created_at=state.clock.now(),
        per_request_s=0.0,
    )
    state.advance(job)
    out = tmp / "responses.jsonl"
    out.write_bytes(state.files["batch-bench"].data)
    t_floor_p, t_ours_p, m_ours_p = measure_parse(
        out, lambda line: parse_item(line["key"], line, "gemini-2.5-flash")
    )

    print(f"# google plugin (file mode), {n} requests - {machine()}")
    print(row("floor: orjson write of prebuilt dicts", t_floor_w, n))
    print(row("prepare (validate + convert + write file)", t_ours_w, n, t_floor_w, m_ours_w))
    print(row("floor: orjson parse of result lines", t_floor_p, n))
    print(row("parse result file -> RequestResult", t_ours_p, n, t_floor_p, m_ours_p))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
