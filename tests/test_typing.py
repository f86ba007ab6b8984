"""Core's public API is typed (py.typed ships): mypy --strict must stay clean; ruff lints the tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_passes_mypy_strict() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "batch_router_core"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_py_typed_marker_ships() -> None:
    assert (ROOT / "batch_router_core" / "py.typed").is_file()


def test_vllm_plugin_passes_mypy_strict() -> None:
    # Its convert_gguf module imports torch: without vLLM installed mypy cannot follow it.
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports",
                           "plugins/batch-router-vllm/batch_router_vllm"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_the_tree_passes_ruff() -> None:
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "batch_router_core", "plugins", "tests",
                           "benchmarks", "scripts"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
