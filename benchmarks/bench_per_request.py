"""The per-request workload: every request carries its own settings, beside the orjson floor.

A common shape the one-shared-system-prompt benchmarks flatter: per-item instructions, few-shot
examples, judges. Each of N requests has its own system prompt (a few hundred characters), varied
Unicode user text (a few hundred characters), its own max tokens and temperature. Measured:

* reading the unified JSONL file into requests (`read_input`) against orjson parsing the same file;
* each hosted provider's `ProviderHandle.prepare` (validate, convert, write) from the built
  requests against orjson writing the same provider lines from prebuilt dicts;
* the cost estimate a submit makes, against counting every request with the tokenizer.

python benchmarks/bench_per_request.py [N]     (default 50,000)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import attrs
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_time, machine, measure_prepare, row, scratch_dir  # noqa: E402

from batch_router_core import (  # noqa: E402
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
    InputRequest,
)
from batch_router_core.files import GeneratedFiles, iter_jsonl_lines  # noqa: E402
from batch_router_core.formats.unified import read_input  # noqa: E402
from batch_router_core.serialization import from_data  # noqa: E402

WORDS = (
    "the battery lasts all day",
    "Größe passt nicht",
    "évolution très lente",
    "東京の天気は晴れ",
    "قمر منير الليلة",
    "вода и лёд",
    "el río está crecido",
    "κύκλος ζωής",
    "🙂 works fine 👍",
    "naïve café crème",
    "데이터가 많다",
    "नमस्ते दुनिया",
)
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "google": "gemini-2.5-flash"}


def write_input(path: Path, n: int) -> None:
    with path.open("wb") as fh:
        for i in range(n):
            text = "; ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(16)) + f" (#{i})"
            system = (
                f"You are judge #{i % 97} for item {i}. Score the answer from 1 to 5 for accuracy, "
                f"tone and completeness; criteria set {i % 13}: be strict about facts, lenient "
                "about style. Reply with the score and one sentence of justification, nothing else."
            )
            line = {
                "custom_id": f"item-{i:07d}",
                "messages": [{"role": "user", "content": text}],
                "params": {
                    "system_prompt": system,
                    "max_output_tokens": 64 + i % 64,
                    "temperature": (i % 10) / 10,
                },
            }
            fh.write(orjson.dumps(line) + b"\n")


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="br-bench-per-request-"))
    src = tmp / "in.jsonl"
    write_input(src, n)
    print(machine())
    size = src.stat().st_size / 1e6
    print(f"{n} requests, each with its own system prompt and settings ({size:.1f} MB)")

    def floor_read() -> None:
        for _, raw in iter_jsonl_lines(src):
            orjson.loads(raw)

    def ours_read() -> None:
        for _ in read_input(src):
            pass

    def converter_read() -> None:  # the generic cattrs path every line took before
        for _, raw in iter_jsonl_lines(src):
            from_data(InputRequest, orjson.loads(raw))

    floor = best_time(floor_read, repeat=3)
    print(row("floor: orjson parse of the input lines", floor, n))
    print(row("read_input -> InputRequest", best_time(ours_read, repeat=3), n, floor))
    print(row("  the same through the generic converter", best_time(converter_read, 3), n, floor))

    requests = tuple(read_input(src))
    # Once writing to the disk, as a user's prepare does, and once to tmpfs: the kernel's share
    # of writing to this disk varies between runs, and on tmpfs what is compared is CPU work.
    memory = scratch_dir("br-bench-per-request-", memory=True)
    for where, out in (("disk", tmp), ("tmpfs", memory)):
        registry = BatchProviderRegistry(overrides={}, files=GeneratedFiles(out / ".br"))
        for provider_name, model in MODELS.items():
            provider = registry.get(provider_name)
            batch = InputBatch(requests=requests).with_params(
                InferenceParams(provider_id=provider_name, model_id=model)
            )
            t_floor, t_ours, mem = measure_prepare(provider, batch, out)
            print(row(f"floor: orjson write of {provider_name} lines ({where})", t_floor, n))
            print(row(f"{provider_name} prepare ({where})", t_ours, n, t_floor, mem))
    shutil.rmtree(memory)

    # Each request's effective settings: the merge as it was (attrs.evolve, every check again)
    # and as it is.
    base = InferenceParams(provider_id="openai", model_id="gpt-4o-mini", temperature=0.2)

    def evolve_merge() -> None:
        for req in requests:
            own = req.params
            assert own is not None
            changes = {k: getattr(own, k) for k in own.GENERATION_FIELDS if getattr(own, k)}
            attrs.evolve(base, **changes)

    def merge() -> None:
        for req in requests:
            base.merged(req.params)

    print(row("merged settings, attrs.evolve (before)", best_time(evolve_merge, 3), n))
    print(row("merged settings, InferenceParams.merged", best_time(merge, 3), n))

    # The cost estimate every submit makes: a sample counted with the tokenizer, the rest by
    # length; beside counting every request with it (the tokenizer's encoding loaded first).
    from batch_router_core.cost.estimate import request_tokens
    from batch_router_core.cost.tokens import token_counter
    from batch_router_core.jobs.shards import estimate_batch

    openai = registry.get("openai")
    batch = InputBatch(requests=requests).with_params(
        InferenceParams(provider_id="openai", model_id="gpt-4o-mini")
    )
    counter = token_counter("openai", "gpt-4o-mini")
    counter.count("load the encoding")

    def count_all() -> None:
        for req in requests:
            request_tokens(req, None, counter.count)

    print(row("floor: tokenizer over every request", best_time(count_all, 3), n))
    print(row("cost estimate (sampled)", best_time(lambda: estimate_batch(openai, batch), 3), n))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
