"""Cost: price tables, the estimate before anything is sent, the cap, and actuals.

Estimates are checked against figures computed by hand from the plugins' price tables and a
direct count with the tokenizer; the cap against the emulator's request counter (nothing reaches
it); actuals against the usage the emulators report through the official SDKs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bpe_openai
import orjson
import pytest

from batch_router_core import (
    BatchProviderRegistry,
    ConfigError,
    CostLimitError,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    TextContent,
)
from batch_router_core.config import apply_overrides
from batch_router_core.cost import PriceTable, Rates, token_counter, usage_cost
from batch_router_core.cost.report import job_cost
from batch_router_core.emulation.server import RunningServer, serve_in_thread
from batch_router_core.models.results import UsageInfo

from .conftest import HOSTED_MODELS, emulated_router

O200K = bpe_openai.get_encoding("o200k_base")
#: Batch rates (USD per million tokens) of the test models, as their plugins' YAML gives them.
BATCH_RATES = {
    "openai": (0.15 / 2, 0.60 / 2),  # gpt-4o-mini: half the list price
    "anthropic": (3.00 / 2, 15.00 / 2),  # claude-sonnet-4-5
    "google": (0.30 / 2, 2.50 / 2),  # gemini-2.5-flash
}
TEXTS = ["Why is the sky blue?", "Summarise the plot of Hamlet in one line.", "Größe, 東京, café!"]


def _batch(name: str, texts: list[str] = TEXTS, **params: object) -> InputBatch:
    return InputBatch(
        requests=[
            InputRequest(custom_id=f"r{i}", messages=[InputMessage.user(t)])
            for i, t in enumerate(texts)
        ]
    ).with_params(
        InferenceParams(
            provider_id=name,
            model_id=HOSTED_MODELS[name],
            **{"max_output_tokens": 100, **params},  # type: ignore[arg-type]
        )
    )


@pytest.mark.parametrize("name", sorted(HOSTED_MODELS))
def test_an_estimate_equals_the_figure_computed_by_hand(name: str) -> None:
    from batch_router_core.jobs.shards import estimate_batch

    handle = BatchProviderRegistry().get(name)
    est = estimate_batch(handle, _batch(name), expected_output=40)
    framing = 0 if name == "google" else 3
    inputs = sum(len(O200K.encode(t)) + framing for t in TEXTS)
    assert est.input_tokens == inputs
    assert est.output_tokens_max == 300 and est.output_tokens_expected == 120
    rate_in, rate_out = BATCH_RATES[name]
    assert est.cost_max == pytest.approx((inputs * rate_in + 300 * rate_out) / 1e6)
    assert est.cost_expected == pytest.approx((inputs * rate_in + 120 * rate_out) / 1e6)
    # The synchronous price is twice the batch price for all three: the saving is half.
    assert est.cost_expected is not None
    assert est.sync_cost_expected == pytest.approx(2 * est.cost_expected)
    assert est.saving == pytest.approx(est.cost_expected)
    assert est.method.startswith("o200k_base")


def test_without_max_tokens_the_bound_is_the_models_most_output() -> None:
    from batch_router_core.jobs.shards import estimate_batch

    handle = BatchProviderRegistry().get("openai")
    batch = InputBatch(requests=_batch("openai").requests).with_params(
        InferenceParams(provider_id="openai", model_id="gpt-4o-mini")
    )
    assert estimate_batch(handle, batch).output_tokens_max == 3 * 16384
    unknown = InputBatch(requests=_batch("openai").requests).with_params(
        InferenceParams(provider_id="openai", model_id="gpt-9-experimental", max_output_tokens=5)
    )
    est = estimate_batch(handle, unknown)
    # A model without a price has an unknown cost, never zero.
    assert est.cost_expected is None and est.cost_max is None and est.input_tokens > 0


def test_estimates_sum_to_a_total_that_never_counts_an_unknown_price_as_zero() -> None:
    from batch_router_core.cost import CostEstimate
    from batch_router_core.cost.estimate import check_cost_cap
    from batch_router_core.jobs.shards import estimate_batch

    handle = BatchProviderRegistry().get("openai")
    one = estimate_batch(handle, _batch("openai"))
    two = estimate_batch(handle, _batch("openai", texts=TEXTS[:1]))
    total = CostEstimate.total([one, None, two])
    assert total is not None and total.requests == 4
    assert total.input_tokens == one.input_tokens + two.input_tokens
    assert one.cost_max is not None and two.cost_max is not None
    assert total.cost_max == pytest.approx(one.cost_max + two.cost_max)
    assert CostEstimate.total([]) is None and CostEstimate.total([None]) is None
    unpriced = estimate_batch(
        handle,
        InputBatch(requests=_batch("openai").requests).with_params(
            InferenceParams(provider_id="openai", model_id="gpt-9-experimental")
        ),
    )
    mixed = CostEstimate.total([one, unpriced])
    assert mixed is not None and mixed.cost_expected is None and mixed.cost_max is None
    # A cap cannot be shown to hold for an unknown price, nor for no estimate at all.
    for unbounded in (mixed, None):
        with pytest.raises(CostLimitError, match="cannot show the cost stays under the cap"):
            check_cost_cap(unbounded, 100.0)


def test_cached_and_written_tokens_are_priced_at_their_own_rates() -> None:
    rates = Rates(input=3.0, output=15.0, cached_input=0.3, cache_write=3.75)
    usage = UsageInfo(
        prompt_tokens=10_000,
        completion_tokens=1_000,
        total_tokens=11_000,
        cached_tokens=6_000,
        cache_creation_tokens=2_000,
    )
    # Each prompt token once: 2,000 fresh, 6,000 read from the cache, 2,000 written to it.
    expected = (2_000 * 3.0 + 6_000 * 0.3 + 2_000 * 3.75 + 1_000 * 15.0) / 1e6
    assert usage_cost(usage, rates) == pytest.approx(expected)


def test_prices_are_checked_and_overridable() -> None:
    info = BatchProviderRegistry().info("openai")
    cheaper = apply_overrides(
        info, {"prices": {"models": {"gpt-4o-mini*": {"input": 0.10, "output": 0.40}}}}
    )
    prices = cheaper.price_table.for_model("gpt-4o-mini-2024-07-18")
    assert prices is not None and prices.batch.input == pytest.approx(0.05)
    assert prices.max_output == 16384  # the rest of the entry is kept
    with pytest.raises(ConfigError, match="unknown price field"):
        PriceTable.from_config({"models": {"m": {"input": 1, "output": 1, "inptu": 2}}})
    with pytest.raises(ConfigError, match="non-negative number"):
        PriceTable.from_config({"models": {"m": {"input": -1, "output": 1}}})


def _cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATCH_ROUTER_STATE_DIR": str(tmp_path / "state")}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "batch_router_core.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def test_max_cost_below_the_estimate_refuses_before_anything_reaches_the_emulator(
    tmp_path: Path,
) -> None:
    handle = BatchProviderRegistry().get("openai")
    with serve_in_thread(handle.create_emulator({"speed": 100000.0})) as server:
        path = tmp_path / "in.jsonl"
        path.write_bytes(
            b"".join(
                orjson.dumps({"custom_id": f"q{i}", "messages": [{"role": "user", "content": t}]})
                + b"\n"
                for i, t in enumerate(TEXTS)
            )
        )
        common = ["-p", "openai", "-m", "gpt-4o-mini", "--max-output-tokens", "1000"]
        options = ["--option", f"base_url={server.url}/v1", "--option", "api_key=sk-test"]
        refused = _cli(["submit", str(path), *common, *options, "--max-cost", "0.0001"], tmp_path)
        assert refused.returncode == 11, refused.stderr
        assert "over the cap of $0.0001; nothing was sent" in refused.stderr
        assert server.app.requests_seen == {}
        assert not list((tmp_path / "state" / "generated").rglob("*.jsonl"))
        # A cap above the upper bound lets it through, and the estimate is printed.
        sent = _cli(["submit", str(path), *common, *options, "--max-cost", "1"], tmp_path)
        assert sent.returncode == 0, sent.stderr
        assert "estimated cost: $" in sent.stderr and "at most $0.0009" in sent.stderr
        assert server.app.requests_seen


async def test_a_runs_actual_cost_is_its_reported_usage_times_the_prices(
    tmp_path: Path, hosted: tuple[str, RunningServer]
) -> None:
    name, server = hosted
    router = emulated_router(tmp_path, name, server)
    [job_id] = await router.run_batches([_batch(name)])
    results = [r async for r in router.get_results(job_id)]
    prompt = sum(r.usage.prompt_tokens for r in results if r.usage)
    completion = sum(r.usage.completion_tokens for r in results if r.usage)
    rate_in, rate_out = BATCH_RATES[name]
    cost = job_cost(router.ledger.jobs_of(job_id))
    assert cost.priced == 1 and prompt > 0 and completion > 0
    assert cost.actual == pytest.approx((prompt * rate_in + completion * rate_out) / 1e6)
    assert cost.input_tokens == prompt


MIXED = [
    "A short one.",
    "Translate into French: the quick brown fox jumps over the lazy dog, twice, quickly. " * 6,
    "Résumé des ventes 2026 — Größe, naïve café, 東京の天気は晴れです。" * 4,
    "def add(a: int, b: int) -> int:\n    return a + b  # code, with symbols {}[]()!",
]


async def test_the_estimate_is_within_five_percent_of_the_input_tokens_reported(
    tmp_path: Path, hosted: tuple[str, RunningServer]
) -> None:
    name, server = hosted
    requests = [
        InputRequest(custom_id=f"m{i}", messages=[InputMessage.user(t)])
        for i, t in enumerate(MIXED)
    ]
    requests.append(
        InputRequest(
            custom_id="conversation",
            messages=[
                InputMessage.user("What is 2 + 2?"),
                InputMessage.assistant("4."),
                InputMessage(role="user", contents=[TextContent(text="And 3 + 3? " * 20)]),
            ],
        )
    )
    batch = InputBatch(requests=requests).with_params(
        InferenceParams(
            provider_id=name,
            model_id=HOSTED_MODELS[name],
            max_output_tokens=50,
            system_prompt="You are a careful assistant. Answer briefly.",
        )
    )
    router = emulated_router(tmp_path, name, server)
    [job_id] = await router.run_batches([batch])
    [estimate] = router.last_estimates.values()
    assert estimate is not None
    reported = sum([r.usage.prompt_tokens async for r in router.get_results(job_id) if r.usage])
    assert abs(estimate.input_tokens - reported) <= 0.05 * reported, (estimate, reported)


async def test_a_cached_prefix_is_priced_at_the_cache_rates(tmp_path: Path) -> None:
    handle = BatchProviderRegistry().get("anthropic")
    context = "The reference manual, section by section, for every question below. " * 200
    with serve_in_thread(handle.create_emulator({"speed": 100000.0})) as server:
        router = emulated_router(tmp_path, "anthropic", server)
        batch = InputBatch(
            requests=[
                InputRequest(
                    custom_id=f"c{i}",
                    messages=[
                        InputMessage(
                            role="user",
                            contents=[
                                TextContent(text=context, cache_breakpoint="5m"),
                                TextContent(text=f"Question {i}?"),
                            ],
                        )
                    ],
                )
                for i in range(4)
            ]
        ).with_params(
            InferenceParams(
                provider_id="anthropic", model_id="claude-sonnet-4-5", max_output_tokens=50
            )
        )
        [job_id] = await router.run_batches([batch])
        assert len([r async for r in router.get_results(job_id)]) == 4  # usage is recorded
        [job] = router.ledger.jobs_of(job_id)
    usage = job.usage
    assert usage is not None and usage.cached_tokens and usage.cache_creation_tokens
    # Anthropic batch rates for Sonnet 4.5: input 1.50, cache read 0.15, cache write 1.875,
    # output 7.50 (USD per million tokens).
    fresh = usage.prompt_tokens - usage.cached_tokens - usage.cache_creation_tokens
    expected = (
        fresh * 1.50
        + usage.cached_tokens * 0.15
        + usage.cache_creation_tokens * 1.875
        + usage.completion_tokens * 7.50
    ) / 1e6
    cost = job_cost([job])
    assert cost.actual == pytest.approx(expected)
    # Billing the cached tokens at the full input rate as well would cost far more.
    assert cost.actual < (usage.prompt_tokens * 1.50 + usage.completion_tokens * 7.50) / 1e6


async def test_the_router_cap_refuses_before_anything_is_recorded(tmp_path: Path) -> None:
    from batch_router_core.files import GeneratedFiles
    from batch_router_core.jobs.router import BatchRouter

    registry = BatchProviderRegistry(files=GeneratedFiles(tmp_path / ".br"))
    # Nothing listens there: a call that were made would fail the test.
    nowhere = {"openai": {"api_key": "sk-test", "base_url": "http://127.0.0.1:9/v1"}}
    router = BatchRouter(registry, root=tmp_path / ".br", max_cost=1e-9, provider_options=nowhere)
    with pytest.raises(CostLimitError, match="over the cap") as info:
        await router.run_batches([_batch("openai")])
    assert info.value.estimate.cost_max > 1e-9
    assert router.ledger.logical_jobs() == []
    unknown = InputBatch(requests=_batch("openai").requests).with_params(
        InferenceParams(provider_id="openai", model_id="gpt-9-experimental", max_output_tokens=5)
    )
    with pytest.raises(CostLimitError, match="no known price"):
        await BatchRouter(
            registry, root=tmp_path / ".br", max_cost=100.0, provider_options=nowhere
        ).run_batches([unknown])


def test_the_counter_for_each_family() -> None:
    assert token_counter("openai", "gpt-4o-mini").method == "o200k_base"
    assert token_counter("openai", "gpt-4-0613").method == "cl100k_base"
    assert token_counter("anthropic", "claude-sonnet-4-5").method.endswith("for anthropic)")
    assert token_counter("google", "gemini-2.5-flash").per_message == 0


def test_a_large_batch_is_counted_from_a_sample_within_two_percent() -> None:
    from batch_router_core.cost.estimate import request_tokens
    from batch_router_core.jobs.shards import estimate_batch

    words = "the quick brown fox Größe 東京 café naïve jumps évolution вода 🙂 {x: [1, 2]}".split()
    requests = [
        InputRequest(
            custom_id=f"r{i}",
            messages=[
                InputMessage.user(
                    " ".join(words[(i * 7 + k) % len(words)] for k in range(i % 90 + 5))
                )
            ],
        )
        for i in range(6000)
    ]
    batch = InputBatch(requests=requests).with_params(
        InferenceParams(provider_id="openai", model_id="gpt-4o-mini", max_output_tokens=10)
    )
    est = estimate_batch(BatchProviderRegistry().get("openai"), batch)
    counter = token_counter("openai", "gpt-4o-mini")
    exact = sum(request_tokens(r, None, counter.count) for r in requests)
    assert "2,000 of 6,000 requests counted" in est.method
    assert abs(est.input_tokens - exact) <= 0.02 * exact, (est.input_tokens, exact)


def test_a_large_jobs_sample_is_counted_in_a_child_process() -> None:
    """The tokenizer's encoding (~130 MB) stays out of a process that holds a large job: the
    sample is counted by a child process, with the same counts."""
    import subprocess
    import sys

    code = (
        "from batch_router_core.cost import tokens\n"
        "c = tokens.token_counter('openai', 'gpt-4o-mini')\n"
        "texts = ['hello world'] * 5 + ['Größe passt nicht, 東京の天気は晴れ 🙂', '']\n"
        "away = c.count_many(texts, offload=True)\n"
        "assert not tokens._LOADED, tokens._LOADED\n"
        "here = c.count_many(texts)\n"
        "assert tokens._LOADED == {'o200k_base'}, tokens._LOADED\n"
        "assert away == here and here[-1] == 0 and all(n > 0 for n in here[:-1]), (away, here)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
