"""A design probe, not the library's path: where would per-request settings cost least?

Requests that carry their own settings (the workload of ``bench_per_request.py``) are prepared at
3-3.5x the orjson floor. This probe measures the two changes that could close the gap, each
beside its floor in the same run, on the Anthropic line (the cheapest provider conversion):

* reading: ``orjson.loads`` of the unified lines against decoding them, checked, into compiled
  structs (msgspec ``Struct`` s mirroring the unified request; skipped if msgspec is not
  installed: it is not a dependency of batch-router);
* converting, each line made and dropped (no file: writing one costs this machine's kernel
  1.5-6 µs a line, varying between runs, which would hide the differences looked for here):
  orjson serialising prebuilt provider lines, against the plugin's own conversion
  (``prepare_payloads``: no validation) and against building the same line from the same
  objects without a merged settings object (each setting read from the request, else from the
  batch), from today's attrs objects and from structs.

python benchmarks/bench_settings_probe.py [N]     (default 50,000)
"""

# No ``from __future__ import annotations``: msgspec reads the annotations of the structs
# defined inside a function at run time.
import gc
import shutil
import sys
from collections import deque
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_time, machine, row, scratch_dir  # noqa: E402
from bench_per_request import write_input  # noqa: E402

from batch_router_core import (  # noqa: E402
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
)
from batch_router_core.files import GeneratedFiles  # noqa: E402
from batch_router_core.formats.unified import read_input  # noqa: E402

MODEL = "claude-haiku-4-5"


def line_without_merge(req: Any, base: Any, text_of: Any, dumps: Any = orjson.dumps) -> bytes:
    """The Anthropic line of a one-message request, each setting its own or else its batch's."""
    own = req.params
    body: dict[str, Any] = {"model": base.model_id}
    value = own.max_output_tokens if own is not None else None
    body["max_tokens"] = value if value is not None else base.max_output_tokens or 1024
    value = own.system_prompt if own is not None else None
    if value is None:
        value = base.system_prompt
    if value is not None:
        body["system"] = value
    value = own.temperature if own is not None else None
    if value is None:
        value = base.temperature
    if value is not None:
        body["temperature"] = value
    body["messages"] = [{"role": "user", "content": text_of(m)} for m in req.messages]
    return dumps({"custom_id": req.custom_id, "params": body})  # type: ignore[no-any-return]


def struct_types() -> Any:
    """msgspec structs mirroring the unified request (None when msgspec is not installed)."""
    try:
        import msgspec
    except ImportError:
        return None

    positive = Annotated[int, msgspec.Meta(gt=0)]

    class Params(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
        provider_id: str | None = None
        model_id: str | None = None
        system_prompt: str | None = None
        max_output_tokens: positive | None = None  # type: ignore[valid-type]
        temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
        top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
        top_k: positive | None = None  # type: ignore[valid-type]
        stop_sequences: list[str] | None = None
        presence_penalty: float | None = None
        frequency_penalty: float | None = None
        seed: int | None = None
        embedding_dimensions: positive | None = None  # type: ignore[valid-type]
        output_schema: dict[str, Any] | None = None
        tools: list[dict[str, Any]] | None = None
        tool_choice: str | None = None
        reasoning_effort: str | None = None
        thinking_budget: int | None = None
        provider_kwargs: dict[str, Any] = {}

    class Message(msgspec.Struct, forbid_unknown_fields=True):
        role: Literal["system", "user", "assistant", "tool"]
        content: str

    class Request(msgspec.Struct, forbid_unknown_fields=True):
        custom_id: Annotated[str, msgspec.Meta(min_length=1)]
        messages: list[Message]
        params: Params | None = None

    return msgspec, Params, Request


def main(n: int) -> None:
    tmp = scratch_dir("br-bench-probe-")
    src = tmp / "in.jsonl"
    write_input(src, n)
    raw = src.read_bytes().splitlines()
    print(machine())
    print(f"{n} requests, each with its own system prompt and settings (Anthropic lines)")

    requests = tuple(read_input(src))
    registry = BatchProviderRegistry(overrides={}, files=GeneratedFiles(tmp / ".br"))
    provider = registry.get("anthropic")
    base = InferenceParams(provider_id="anthropic", model_id=MODEL)
    batch = InputBatch(requests=requests).with_params(base)
    prebuilt = [orjson.loads(x) for x in provider.prepare_payloads(batch).lines]
    structs = struct_types()
    if structs is not None:
        msgspec, params_type, request_type = structs
        decode = msgspec.json.Decoder(request_type).decode
        sreqs = [decode(x) for x in raw]
        sbase = params_type(provider_id="anthropic", model_id=MODEL)
    # What the setup built stays out of the collector's way: otherwise every collection during
    # a timed step walks a few hundred thousand objects that are not the step's.
    gc.freeze()

    def read(parse: Any) -> Any:
        return lambda: deque((parse(x) for x in raw), maxlen=0)

    floor_read = best_time(read(orjson.loads), 3)
    print(row("floor: orjson parse of the input lines", floor_read, n))
    t = best_time(lambda: deque(read_input(src), maxlen=0), 3)
    print(row("read_input -> InputRequest (today)", t, n, floor_read))
    if structs is not None:
        t = best_time(read(decode), 3)
        print(row("msgspec: decode, checked, into structs", t, n, floor_read))

    def produced(lines: Any) -> Any:
        """A step that makes every line of ``lines()`` and drops it (no file: see above)."""
        return lambda: deque(lines(), maxlen=0)

    floor_write = produced(lambda: (orjson.dumps(d) for d in prebuilt))
    floor = best_time(floor_write, 3)
    ours = best_time(produced(lambda: provider.prepare_payloads(batch).lines), 3)
    floor = min(floor, best_time(floor_write, 3))
    print(row("floor: orjson.dumps of the Anthropic lines", floor, n))
    print(row("plugin conversion (merged settings, no checks)", ours, n, floor))

    def text_of(message: Any) -> str:
        return message.contents[0].text  # type: ignore[no-any-return]

    lines = [line_without_merge(r, base, text_of) for r in requests]
    assert lines == list(provider.prepare_payloads(batch).lines), "the probe must write the same"
    del lines
    t = best_time(produced(lambda: (line_without_merge(r, base, text_of) for r in requests)), 3)
    print(row("no merged object, today's objects", t, n, floor))
    t = best_time(lambda: deque((base.merged(r.params) for r in requests), maxlen=0), 3)
    print(row("merged settings, today (InferenceParams.merged)", t, n))
    if structs is not None:
        fields = params_type.__struct_fields__

        def merged(own: Any) -> Any:
            changes = {f: v for f in fields if (v := getattr(own, f)) is not None}
            changes.pop("provider_kwargs", None)
            return msgspec.structs.replace(sbase, **changes)

        t = best_time(lambda: deque((merged(r.params) for r in sreqs), maxlen=0), 3)
        print(row("merged settings, msgspec (structs.replace)", t, n))

        def content(message: Any) -> str:
            return message.content  # type: ignore[no-any-return]

        t = best_time(produced(lambda: (line_without_merge(r, sbase, content) for r in sreqs)), 3)
        print(row("no merged object, msgspec structs", t, n, floor))
    gc.unfreeze()
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
