"""How close can parsing a result line come to orjson's parse of it, while results are objects?

For a realistic OpenAI output line (a long Unicode answer, the full usage block with its details),
per line, best of 5 over N lines:

* the floor: ``orjson.loads`` of the line;
* ``parse_line`` (core's OpenAI-format parser: the dict -> ``RequestResult`` with ``UsageInfo``);
* the objects alone: ``new_usage`` + ``new_result`` from values already at hand, which is what any
  parser that builds these two objects pays at the least, before reading a single field.

The ratio ``(floor + objects) / floor`` is the best any such parser can reach on this line.

python benchmarks/bench_parse_floor.py [N]     (default 200,000)
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

from batch_router_core.formats.openai_batch.results import parse_line  # noqa: E402
from batch_router_core.plugin import ResultStatus, new_result, new_usage  # noqa: E402

ANSWER = "Größe passt nicht; 東京の天気は晴れ — naïve café crème 🙂 the battery lasts all day. " * 4


def output_line(i: int) -> bytes:
    """One line of an OpenAI batch output file as the service writes it."""
    return orjson.dumps(
        {
            "id": f"batch_req_{i:08x}",
            "custom_id": f"item-{i:07d}",
            "response": {
                "status_code": 200,
                "request_id": f"req_{i:08x}",
                "body": {
                    "id": f"chatcmpl-{i:08x}",
                    "object": "chat.completion",
                    "created": 1733000000 + i,
                    "model": "gpt-4o-mini-2024-07-18",
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": ANSWER,
                                "refusal": None,
                                "annotations": [],
                            },
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": 120 + i % 50,
                        "completion_tokens": 80,
                        "total_tokens": 200 + i % 50,
                        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                        "completion_tokens_details": {
                            "reasoning_tokens": 0,
                            "audio_tokens": 0,
                            "accepted_prediction_tokens": 0,
                            "rejected_prediction_tokens": 0,
                        },
                    },
                    "service_tier": "default",
                    "system_fingerprint": "fp_0ba0d124f1",
                },
            },
            "error": None,
        }
    )


def per_line(fn: Callable[[], object], n: int) -> float:
    """Best of 5, in microseconds per call."""
    return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6


def main(n: int) -> None:
    print(machine())
    raw = output_line(7)
    line = orjson.loads(raw)
    succeeded = ResultStatus.SUCCEEDED
    floor = per_line(lambda: orjson.loads(raw), n)
    parse = per_line(lambda: parse_line(line, "gpt-4o-mini"), n)
    objects = per_line(
        lambda: new_result(
            "item-0000007",
            succeeded,
            "openai",
            "gpt-4o-mini",
            ANSWER,
            None,
            "stop",
            new_usage(127, 80, 207, 0, None, 0),
            None,
            line,
        ),
        n,
    )
    print(f"one output line of {len(raw)} bytes, {n} times")
    print(f"  floor: orjson.loads            {floor:6.2f} us   1.00x")
    print(f"  + parse_line                   {parse:6.2f} us   {(floor + parse) / floor:.2f}x")
    print(f"  + the two objects alone        {objects:6.2f} us   {(floor + objects) / floor:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
