"""Reasoning settings in the common vocabulary: ``reasoning_effort`` and ``thinking_budget`` as each
provider spells them, refused where a provider has no such setting, and accepted end to end by
the emulators through the official SDKs."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from batch_router_core import (
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    ResultStatus,
    ValidationError,
)
from batch_router_core.emulation.server import RunningServer

from .conftest import emulated_router

MODELS = {"openai": "gpt-5-mini", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash"}


def _batch(name: str, **params: object) -> InputBatch:
    return InputBatch(
        requests=[InputRequest(custom_id="a", messages=[InputMessage.user("Think, then say hi.")])]
    ).with_params(
        InferenceParams(
            provider_id=name,
            max_output_tokens=4096,
            **{"model_id": MODELS[name], **params},  # type: ignore[arg-type]
        )
    )


def _line(name: str, **params: object) -> dict:  # type: ignore[type-arg]
    handle = BatchProviderRegistry().get(name)
    [line] = list(handle.prepare_payloads(_batch(name, **params)).lines)
    return orjson.loads(line)  # type: ignore[no-any-return]


def test_each_provider_gets_its_own_words() -> None:
    openai = _line("openai", reasoning_effort="low")["body"]
    assert openai["reasoning_effort"] == "low"
    anthropic = _line("anthropic", reasoning_effort="high", thinking_budget=2048)["params"]
    assert anthropic["output_config"] == {"effort": "high"}
    assert anthropic["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert _line("anthropic", thinking_budget=0)["params"]["thinking"] == {"type": "disabled"}
    google = _line("google", thinking_budget=512)["request"]
    assert google["generation_config"]["thinking_config"] == {"thinking_budget": 512}
    gemini3 = _line("google", model_id="gemini-3-pro-preview", reasoning_effort="low")
    assert gemini3["request"]["generation_config"]["thinking_config"] == {"thinking_level": "low"}


def test_what_a_provider_cannot_take_is_refused_with_the_field() -> None:
    registry = BatchProviderRegistry()
    with pytest.raises(ValidationError, match="does not support thinking_budget"):
        registry.get("openai").validate(_batch("openai", thinking_budget=1000))
    with pytest.raises(ValidationError, match="at least 1024") as info:
        list(
            registry.get("anthropic")
            .prepare_payloads(_batch("anthropic", thinking_budget=10))
            .lines
        )
    assert info.value.issues[0].field == "params.thinking_budget"
    with pytest.raises(ValidationError, match="no minimal"):
        list(
            registry.get("anthropic")
            .prepare_payloads(_batch("anthropic", reasoning_effort="minimal"))
            .lines
        )
    with pytest.raises(ValidationError, match="reasoning_effort must be one of"):
        InferenceParams(reasoning_effort="extreme")
    with pytest.raises(ValidationError, match="not both"):
        _line("google", model_id="gemini-3-pro-preview", thinking_budget=1, reasoning_effort="low")


@pytest.mark.parametrize(
    ("name", "model", "params", "field"),
    [
        ("google", "gemini-2.5-flash", {"reasoning_effort": "low"}, "params.reasoning_effort"),
        ("google", "gemini-2.0-flash", {"thinking_budget": 512}, "params.thinking_budget"),
        (
            "anthropic",
            "claude-3-5-haiku-latest",
            {"thinking_budget": 2048},
            "params.thinking_budget",
        ),
        ("openai", "gpt-4o", {"reasoning_effort": "low"}, "params.reasoning_effort"),
        ("openai", "o3-mini", {"temperature": 0.2}, "params.temperature"),
    ],
)
def test_a_model_without_a_feature_is_refused_before_upload(
    name: str, model: str, params: dict[str, object], field: str
) -> None:
    batch = _batch(name, model_id=model, **params)
    with pytest.raises(ValidationError, match=f"model '{model}' does not support") as info:
        BatchProviderRegistry().get(name).validate(batch)
    assert [i.field for i in info.value.issues] == [field]
    assert info.value.issues[0].custom_id is None  # a batch-wide setting


async def test_the_emulators_take_them_through_the_sdks(
    tmp_path: Path, hosted: tuple[str, RunningServer]
) -> None:
    name, server = hosted
    router = emulated_router(tmp_path, name, server)
    # Gemini takes a thinking level (Gemini 3) or a budget, not both.
    settings = {
        "openai": {"reasoning_effort": "high"},
        "anthropic": {"reasoning_effort": "high", "thinking_budget": 2048},
        "google": {"reasoning_effort": "high", "model_id": "gemini-3-pro-preview"},
    }[name]
    [job] = await router.run_batches([_batch(name, **settings)])
    [result] = [r async for r in router.get_results(job)]
    assert result.status is ResultStatus.SUCCEEDED and result.text, result
