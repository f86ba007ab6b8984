"""Style is enforced, not hoped for: mypy --strict on core and on every plugin, ruff lint and ruff
format on the whole tree (the line length declared in pyproject.toml holds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ["batch_router_core", "plugins", "tests", "benchmarks", "scripts"]
PLUGINS = sorted(
    str(p.relative_to(ROOT)) for p in ROOT.glob("plugins/*/batch_router_*") if p.is_dir()
)


def _run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_core_and_every_plugin_pass_mypy_strict() -> None:
    # One run for all of them: mypy analyses core (which every plugin imports) once.
    proc = _run(
        "mypy", "--strict", "batch_router_core", *PLUGINS, "tests/fake_plugin/batch_router_fake.py"
    )
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_py_typed_marker_ships() -> None:
    assert (ROOT / "batch_router_core" / "py.typed").is_file()
    for package in PLUGINS:
        assert (ROOT / package / "py.typed").is_file(), package


def test_the_tree_passes_ruff() -> None:
    proc = _run("ruff", "check", *TREE, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_the_tree_is_ruff_formatted() -> None:
    proc = _run("ruff", "format", "--check", *TREE, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
