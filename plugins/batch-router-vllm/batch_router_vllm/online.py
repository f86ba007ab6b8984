"""Online groups on a warm engine in this process: the plugin's ``execute_now``.

A batch job starts an engine in its own process and pays the model load each time; an online
group cannot wait for that. The first group of a model loads ``vllm.LLM`` in the calling process
(once: seconds to minutes, like the job's) and keeps it warm; every later group of that model is
one generate call over the whole group, served by the same code the offline engine's worker runs
(:func:`batch_router_vllm.worker.serve_chunk`), so answers, errors and usage read the same.
:func:`close_engines` lets the engines go.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import orjson

from . import worker

__all__ = ["close_engines", "run_group"]

_ENGINES: dict[bytes, Any] = {}
_LOCK = threading.Lock()


def _engine(
    model_path: str,
    served: str,
    engine_args: Mapping[str, Any],
    mode: str,
    env: Mapping[str, Any],
) -> Any:
    key = orjson.dumps([model_path, served, dict(engine_args), mode], option=orjson.OPT_SORT_KEYS)
    with _LOCK:  # one load per model, however many groups arrive at once
        llm = _ENGINES.get(key)
        if llm is None:
            # The environment a job's engine process gets (VLLM_CPU_KVCACHE_SPACE: without it the
            # CPU backend wants 92% of the machine's memory free), unless the caller set it.
            for name, value in env.items():
                os.environ.setdefault(str(name), str(value))
            # One process: no engine-core subprocess outliving the caller.
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
            import vllm

            args = {"distributed_executor_backend": "uni", **engine_args}
            if mode == "embedding":
                args = {"runner": "pooling", "convert": "embed", **args}
            llm = vllm.LLM(model=model_path, served_model_name=served, **args)
            _ENGINES[key] = llm
        return llm


def run_group(
    model_path: str,
    served: str,
    engine_args: Mapping[str, Any],
    mode: str,
    lines: list[dict[str, Any]],
    env: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Serve OpenAI-format request ``lines`` in one generate call on the warm engine of the
    model (loaded with ``env`` set where this process has not set it); the output lines, in
    order (blocking: run it off the event loop)."""
    import vllm

    llm = _engine(model_path, served, engine_args, mode, env or {})
    return worker.serve_chunk(llm, lines, {"served_model_name": served, "mode": mode}, vllm)


def close_engines() -> None:
    """Let every warm engine go (their memory is freed as the objects are collected)."""
    with _LOCK:
        _ENGINES.clear()
