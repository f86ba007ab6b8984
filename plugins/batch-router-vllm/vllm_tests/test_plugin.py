"""The plugin's own logic, without vLLM: conversion of every parameter, input checks, clear
errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from batch_router_core import (
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    ProviderPermanentError,
    ValidationError,
)

from .conftest import MODEL, questions


def test_every_inference_param_maps_to_vllm_sampling(vllm_registry: BatchProviderRegistry) -> None:
    provider = vllm_registry.get("vllm")
    batch = InputBatch(
        requests=[InputRequest(custom_id="a", messages=[InputMessage.user("Hi")])],
        params=InferenceParams(
            provider_id="vllm",
            model_id=MODEL,
            system_prompt="Be brief.",
            max_output_tokens=7,
            temperature=0.3,
            top_p=0.9,
            top_k=40,
            stop_sequences=["\n\n"],
            presence_penalty=0.1,
            frequency_penalty=0.2,
            seed=5,
            provider_kwargs={"min_p": 0.05, "repetition_penalty": 1.1},
        ),
    )
    provider.validate(batch)
    [line] = [orjson.loads(x) for x in provider.prepare_payloads(batch).lines]
    assert line["url"] == "/v1/chat/completions" and line["custom_id"] == "a"
    assert line["body"] == {
        "model": MODEL,
        "max_tokens": 7,
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "stop": ["\n\n"],
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "seed": 5,
        "min_p": 0.05,
        "repetition_penalty": 1.1,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    }


def test_a_request_level_top_k_goes_in_that_request_body(
    vllm_registry: BatchProviderRegistry,
) -> None:
    provider = vllm_registry.get("vllm")
    reqs = [
        InputRequest(custom_id="a", messages=[InputMessage.user("Hi")]),
        InputRequest(
            custom_id="b", messages=[InputMessage.user("Ho")], params=InferenceParams(top_k=3)
        ),
    ]
    batch = InputBatch(requests=reqs, params=InferenceParams(provider_id="vllm", model_id=MODEL))
    lines = [orjson.loads(x) for x in provider.prepare_payloads(batch).lines]
    assert "top_k" not in lines[0]["body"] and lines[1]["body"]["top_k"] == 3


def test_embeddings_lines(vllm_registry: BatchProviderRegistry) -> None:
    provider = vllm_registry.get("vllm")
    batch = InputBatch(
        requests=[InputRequest(custom_id="e", messages=[InputMessage.user("text")])],
        params=InferenceParams(
            provider_id="vllm", model_id=MODEL, mode="embedding", embedding_dimensions=64
        ),
    )
    [line] = [orjson.loads(x) for x in provider.prepare_payloads(batch).lines]
    assert (
        line["url"] == "/v1/embeddings"
        and line["body"]["input"] == "text"
        and line["body"]["dimensions"] == 64
    )


async def test_a_malformed_line_is_refused_before_anything_starts(
    vllm_registry: BatchProviderRegistry,
) -> None:
    provider = vllm_registry.get("vllm")
    prepared = provider.prepare(questions(3))
    lines = prepared.path.read_bytes().splitlines()
    broken = orjson.loads(lines[1])
    del broken["body"]["messages"]
    lines[1] = orjson.dumps(broken)
    lines[2] = b"{not json"
    prepared.path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(ValidationError) as caught:
        await provider.submit(prepared)
    text = str(caught.value)
    assert f"{prepared.path}:2" in text and "q-1" in text and "body.messages" in text, text
    assert f"{prepared.path}:3" in text and "not JSON" in text, text
    assert not (vllm_registry.files.generated / "vllm" / "jobs").exists() or not any(
        (vllm_registry.files.generated / "vllm" / "jobs").iterdir()
    ), "a job was started"


async def test_missing_vllm_says_what_to_install(
    vllm_registry: BatchProviderRegistry, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    provider = vllm_registry.get("vllm", python=str(bare / "bin" / "python"))
    with pytest.raises(
        ProviderPermanentError, match=r"vLLM is not installed in .*batch-router-vllm\[cpu\]"
    ):
        await provider.submit(provider.prepare(questions(1)))


async def test_unknown_engine_is_refused(vllm_registry: BatchProviderRegistry) -> None:
    provider = vllm_registry.get("vllm", engine="turbo")
    with pytest.raises(ProviderPermanentError, match="unknown engine 'turbo'"):
        await provider.submit(provider.prepare(questions(1)))


def test_importing_the_plugin_imports_neither_vllm_nor_torch() -> None:
    code = (
        "import sys, batch_router_vllm.plugin, batch_router_vllm.jobs; "
        "print([m for m in ('vllm', 'torch', 'transformers') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
