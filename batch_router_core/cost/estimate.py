"""What a batch will cost, before anything is sent: tokens counted, then priced.

Input tokens are counted per request (:mod:`.tokens`): every request of a batch of up to
``SAMPLE`` (2,000) requests, and an evenly spread sample of about that many in a larger one, whose
tokens per character then count the rest (a tokenizer costs ~0.2 µs a token; the sample keeps an
estimate of a large job near 1.5 µs a request, within a fraction of a percent on varied text).
Output tokens have an upper bound, each request's ``max_output_tokens`` (else the model's most
output in the price table; unknown without either), and an expected value:
``expected_output_tokens`` a request (256 unless configured), capped by the upper bound. The
expected figure is a planning aid; the upper bound is what a cost cap checks. Both are priced at
the batch rates, and the expected cost also at the synchronous rates (what the same requests would
cost one by one: the saving).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import orjson

from batch_router_core.cost.tokens import (
    CHARS_PER_TOKEN,
    PER_MEDIA_PART,
    PER_MESSAGE,
    TokenCounter,
)
from batch_router_core.errors import CostLimitError
from batch_router_core.models.content import TextContent
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.prices import ModelPrices
from batch_router_core.models.requests import InputRequest
from batch_router_core.models.tools import ToolCallContent, ToolResultContent

__all__ = [
    "DEFAULT_EXPECTED_OUTPUT",
    "CostEstimate",
    "check_cost_cap",
    "estimate_requests",
    "request_texts",
    "request_tokens",
]

#: Output tokens expected of a request when nothing says otherwise.
DEFAULT_EXPECTED_OUTPUT = 256
#: About how many requests of a large batch are counted with the tokenizer.
SAMPLE = 2000


def request_texts(
    request: InputRequest, system: str | tuple[str, ...] | None, per_message: int = PER_MESSAGE
) -> tuple[list[str], int]:
    """The texts one request sends (its own system prompt, else ``system``; its text parts, tool
    calls and results) and its tokens that are not text (message framing, media parts)."""
    own = request.params.system_prompt if request.params is not None else None
    sp = own if own is not None else system
    texts: list[str] = [] if sp is None else [sp] if isinstance(sp, str) else list(sp)
    fixed = 0
    for message in request.messages:
        fixed += per_message
        for part in message.contents:
            if type(part) is TextContent:
                texts.append(part.text)
            elif type(part) is ToolResultContent:
                texts.append(part.content)
            elif type(part) is ToolCallContent:
                texts += (part.name, orjson.dumps(dict(part.arguments)).decode())
            else:
                fixed += PER_MEDIA_PART
    return texts, fixed


def request_tokens(
    request: InputRequest,
    system: str | tuple[str, ...] | None,
    count: Callable[[str], int],
    per_message: int = PER_MESSAGE,
) -> int:
    """The input tokens of one request (its own system prompt, else ``system``)."""
    texts, fixed = request_texts(request, system, per_message)
    return fixed + sum(count(t) for t in texts)


@attrs.frozen(kw_only=True)
class CostEstimate:
    """Tokens and money of a batch (or one provider job of it), before anything is sent.

    Costs are USD, None where the model has no known price (never 0 for "unknown").
    ``cost_max`` is also None when some request's output has no upper bound.
    """

    requests: int
    input_tokens: int
    output_tokens_expected: int
    output_tokens_max: int | None
    cost_expected: float | None
    cost_max: float | None
    sync_cost_expected: float | None
    method: str
    prices_as_of: str | None = None
    #: The batch rates used (kept with the job: actuals are priced the same way).
    rates: dict[str, float] | None = None

    @property
    def saving(self) -> float | None:
        """The expected saving against synchronous calls, in USD."""
        if self.cost_expected is None or self.sync_cost_expected is None:
            return None
        return self.sync_cost_expected - self.cost_expected

    def __add__(self, other: CostEstimate) -> CostEstimate:
        def plus(a: Any, b: Any) -> Any:
            return None if a is None or b is None else a + b

        return CostEstimate(
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens_expected=self.output_tokens_expected + other.output_tokens_expected,
            output_tokens_max=plus(self.output_tokens_max, other.output_tokens_max),
            cost_expected=plus(self.cost_expected, other.cost_expected),
            cost_max=plus(self.cost_max, other.cost_max),
            sync_cost_expected=plus(self.sync_cost_expected, other.sync_cost_expected),
            method=self.method if self.method == other.method else "mixed",
            prices_as_of=self.prices_as_of or other.prices_as_of,
            rates=self.rates if self.rates == other.rates else None,
        )

    @classmethod
    def total(cls, estimates: Iterable[CostEstimate | None]) -> CostEstimate | None:
        """The sum of the estimates given (those that are None are left out); None if none is
        left. A sum's cost is None when any part's is: an unknown price is never counted as 0."""
        out: CostEstimate | None = None
        for est in estimates:
            if est is not None:
                out = est if out is None else out + est
        return out

    def to_data(self) -> dict[str, Any]:
        """JSON-ready, as ``--json`` prints it and the ledger keeps it."""
        data = attrs.asdict(self)
        data["saving"] = self.saving
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CostEstimate:
        """The inverse of :meth:`to_data`."""
        names = {a.name for a in attrs.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def estimate_requests(
    requests: Iterable[InputRequest],
    params: InferenceParams,
    counter: TokenCounter,
    prices: ModelPrices | None,
    *,
    expected_output: int = DEFAULT_EXPECTED_OUTPUT,
    prices_as_of: str | None = None,
) -> CostEstimate:
    """Count and price ``requests`` run with the batch's ``params`` (each request's own settings
    override them)."""
    framing = counter.per_message
    system = params.system_prompt
    batch_max = params.max_output_tokens
    model_max = prices.max_output if prices is not None else None
    reqs = requests if isinstance(requests, Sequence) else tuple(requests)
    n = len(reqs)
    # A tokenizer costs ~0.2 us a token: every request of a small batch is counted, a sample of
    # about SAMPLE spread over a large one (the rest by their characters at the sample's ratio).
    stride = max(1, n // SAMPLE)
    fixed = counted_chars = other_chars = expected = 0
    most: int | None = 0
    sample: list[str] = []
    for i, req in enumerate(reqs):
        texts, framing_and_media = request_texts(req, system, framing)
        fixed += framing_and_media
        if i % stride == 0:
            sample.extend(texts)
            counted_chars += sum(map(len, texts))
        else:
            other_chars += sum(map(len, texts))
        own = req.params.max_output_tokens if req.params is not None else None
        bound = own if own is not None else batch_max if batch_max is not None else model_max
        expected += expected_output if bound is None else min(expected_output, bound)
        most = None if most is None or bound is None else most + bound
    # A large job's sample is counted in a child process: the tokenizer's encoding (~130 MB) then
    # never adds to the memory of the process that holds the job.
    counted = sum(counter.count_many(sample, offload=n > SAMPLE))
    ratio = counted / counted_chars if counted_chars else 1 / CHARS_PER_TOKEN
    inputs = fixed + counted + round(other_chars * ratio)
    method = counter.method
    if stride > 1:
        method += f"; {len(range(0, n, stride)):,} of {n:,} requests counted, the rest by length"
    unpriced = CostEstimate(
        requests=n,
        input_tokens=inputs,
        output_tokens_expected=expected,
        output_tokens_max=most,
        cost_expected=None,
        cost_max=None,
        sync_cost_expected=None,
        method=method,
    )
    if prices is None:  # unknown, never zero
        return unpriced
    batch, sync = prices.batch, prices.sync
    return attrs.evolve(
        unpriced,
        cost_expected=batch.cost(inputs, expected, requests=n),
        cost_max=None if most is None else batch.cost(inputs, most, requests=n),
        sync_cost_expected=sync.cost(inputs, expected, requests=n),
        prices_as_of=prices_as_of,
        rates=batch.to_data(),
    )


def check_cost_cap(estimate: CostEstimate | None, cap: float) -> None:
    """Raise :class:`CostLimitError` unless ``estimate``'s upper bound is known and within ``cap``
    (USD); no estimate at all is refused too."""
    if estimate is None or estimate.cost_max is None:
        why = (
            "no estimate was made"
            if estimate is None
            else "its model has no known price"
            if estimate.cost_expected is None
            else "a request has no max output tokens and its model no known most output"
        )
        raise CostLimitError(
            f"cannot show the cost stays under the cap of ${cap:g}: {why} (set "
            "max_output_tokens, or add the model's prices to batch-router.yaml); nothing "
            "was sent",
            estimate=estimate,
            cap=cap,
        )
    if estimate.cost_max > cap:
        raise CostLimitError(
            f"the cost could reach ${estimate.cost_max:.4f} ({estimate.requests} requests, "
            f"{estimate.input_tokens} input tokens, up to {estimate.output_tokens_max} output "
            f"tokens; expected ${estimate.cost_expected or 0:.4f}), over the cap of ${cap:g}; "
            "nothing was sent",
            estimate=estimate,
            cap=cap,
        )
