"""A plugin written against the 0.1 docs still installs, is discovered and passes the conformance
suite
unchanged; its old imports warn (DeprecationWarning) instead of failing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import install_into

LEGACY = Path(__file__).resolve().parent / "data" / "plugin-0.1" / "batch-router-legacy"
CLI = [sys.executable, "-m", "batch_router_core.cli"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("legacy")
    plugin = root / LEGACY.name
    shutil.copytree(LEGACY, plugin)
    target = root / "site"
    install_into(target, plugin)
    return plugin, target


def _env(target: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(target), "BATCH_ROUTER_RETRY_NO_WAIT": "1"}


def test_the_01_plugin_passes_the_conformance_suite_with_deprecation_warnings(
    installed: tuple[Path, Path],
) -> None:
    plugin, target = installed
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-v",
            "-p",
            "no:cacheprovider",
            "-W",
            "always::DeprecationWarning",
            "legacy_tests",
        ],
        cwd=plugin,
        capture_output=True,
        text=True,
        env=_env(target),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "::test_full_cycle_yields_one_result_per_request PASSED" in proc.stdout
    assert " failed" not in proc.stdout.splitlines()[-1]


def test_the_01_plugin_is_discovered_and_its_old_imports_warn(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, target = installed
    code = (
        "import warnings; warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    from batch_router_core import BatchProviderRegistry\n"
        "    info = BatchProviderRegistry().info('legacy')\n"
        "print(sorted({str(w.message).split(' ')[0].split(':')[0] for w in seen\n"
        "              if issubclass(w.category, DeprecationWarning)}), info.emulator_base_path == "
        "'')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(target),
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("]")[0] + "]" == str(
        ["batch_router_core.context", "batch_router_core.http_errors", "provider"]
    ), proc.stdout
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"custom_id": "a", "messages": [{"role": "user", "content": "hello"}]}\n')
    out = tmp_path / "out.jsonl"
    run = subprocess.run(
        [
            *CLI,
            "run",
            str(questions),
            "-p",
            "legacy",
            "-m",
            "legacy-small",
            "--emulator",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=_env(target),
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text())["text"] == "answer: hello"
