"""The plugin template can never rot: render it, pip-install it, run its tests, discover and run
it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import install_into

CLI = [sys.executable, "-m", "batch_router_core.cli"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("template")
    made = subprocess.run(
        [*CLI, "new-plugin", "acme", "--dir", str(root)], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    plugin = root / "batch-router-acme"
    target = root / "site"
    install_into(target, plugin)
    return plugin, target


def _env(target: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(target), "BATCH_ROUTER_RETRY_NO_WAIT": "1"}


def test_generated_plugin_passes_the_conformance_suite(installed: tuple[Path, Path]) -> None:
    plugin, target = installed
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-rs", "-p", "no:cacheprovider", "acme_tests"],
        cwd=plugin,
        capture_output=True,
        text=True,
        env=_env(target),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    for scenario in (
        "full_cycle_yields_one_result_per_request",
        "cancel_works_or_is_declared_unsupported",
        "transient_errors_are_retried",
        "permanent_errors_are_mapped_and_not_retried",
        "expiry_accounts_for_every_request",
        "partial_failure_is_isolated",
        "find_job_by_tag_or_declared_unsupported",
        "overrides_say_why",
    ):
        assert f"::test_{scenario} PASSED" in proc.stdout, (
            f"{scenario} did not pass:\n{proc.stdout[-3000:]}"
        )
    # Capabilities the made-up service lacks are skipped with the reason, not passed.
    assert "acme does not declare embedding mode" in proc.stdout
    assert "acme does not declare image content in chat mode" in proc.stdout


def test_generated_plugin_holds_the_projects_style(installed: tuple[Path, Path]) -> None:
    """What `new-plugin` writes passes ruff (lint and format) and mypy --strict as it stands, and
    the plugin module of a typical HTTP batch API stays under 200 lines."""
    plugin, _ = installed
    root = Path(__file__).resolve().parents[1]
    config = ["--config", str(root / "pyproject.toml")]
    for args in (
        ["ruff", "check", *config, "."],
        ["ruff", "format", "--check", *config, "."],
        # the repository's mypy cache: core is analysed once for this and tests/test_typing.py
        ["mypy", "--strict", "--cache-dir", str(root / ".mypy_cache"), "batch_router_acme"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", *args], cwd=plugin, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, f"{args[0]}: {proc.stdout[-2000:]}{proc.stderr[-1000:]}"
    assert len((plugin / "batch_router_acme" / "plugin.py").read_text().splitlines()) < 200


def test_generated_plugin_is_discovered_and_runs(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, target = installed
    listed = json.loads(
        subprocess.run(
            [*CLI, "providers", "--json"], capture_output=True, text=True, env=_env(target)
        ).stdout
    )
    acme = next(p for p in listed["providers"] if p["name"] == "acme")
    assert acme["distribution"] == "batch-router-acme"
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"custom_id": "a", "messages": [{"role": "user", "content": "hello there"}]}\n'
        '{"custom_id": "b", "messages": [{"role": "user", "content": "[fail] please"}]}\n'
    )
    out = tmp_path / "out.jsonl"
    run = subprocess.run(
        [
            *CLI,
            "run",
            str(questions),
            "-p",
            "acme",
            "-m",
            "acme-small",
            "--emulator",
            "-o",
            str(out),
            "--allow-errors",  # request "b" errors by design
        ],
        capture_output=True,
        text=True,
        env=_env(target),
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    results = {
        json.loads(line)["custom_id"]: json.loads(line) for line in out.read_text().splitlines()
    }
    assert results["a"]["text"] == "answer: hello there" and results["b"]["status"] == "errored"


def test_bad_names_are_refused(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*CLI, "new-plugin", "Bad-Name", "--dir", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 3 and "lowercase" in proc.stderr
