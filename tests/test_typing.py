"""Core's public API is typed (py.typed ships): mypy --strict must stay clean."""

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
