"""Plugins as real distributions: built in a temporary directory, pip-installed, discovered, run.

Each distribution is a ``pyproject.toml`` with an entry point and one module, exactly what a third
party ships. They are installed with pip into a target directory and used from a subprocess whose
``PYTHONPATH`` includes it, so the test venv is not changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import install_into

PLUGIN_MODULE = '''
"""A tiny third-party provider: answers every request with its custom_id reversed."""
import orjson
from batch_router_core import hookimpl, ProviderInfo, PreparedPayloads, BatchHandle
from batch_router_core import BatchStatusReport, BatchStatus, RequestResult, ResultStatus

@hookimpl
def provider_info():
    return ProviderInfo(name="{name}", models=("echo-*",), status_map={{"done": "completed"}})

@hookimpl
def prepare_payloads(batch, context):
    lines = (orjson.dumps({{"id": r.custom_id}}) for r in batch.requests)
    return PreparedPayloads(provider="{name}", model=batch.model, mode=batch.mode, lines=lines)

@hookimpl
def submit(prepared, context):
    return BatchHandle(provider="{name}", batch_id="job-1", local_id=prepared.local_id,
                       model=prepared.model, mode=prepared.mode,
                       request_count=prepared.request_count, data={{"path": str(prepared.path)}})

@hookimpl
async def poll_status(handle, context):
    return BatchStatusReport(provider="{name}", batch_id=handle.batch_id,
                             status=context.normalize_status("done"), raw_status="done")

@hookimpl
def fetch_results(handle, context):
    with open(handle.data["path"], "rb") as fh:
        for line in fh:
            cid = orjson.loads(line)["id"]
            yield RequestResult(custom_id=cid, status=ResultStatus.SUCCEEDED, text=cid[::-1])

@hookimpl
def cancel(handle, context):
    raise NotImplementedError
'''


def _dist(root: Path, dist: str, module: str, ep_name: str, source: str) -> Path:
    d = root / dist
    d.mkdir()
    (d / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "{dist}"
        version = "1.2.3"

        [project.entry-points.batch_router]
        {ep_name} = "{module}"

        [tool.hatch.build.targets.wheel]
        include = ["{module}.py"]
    """)
    )
    (d / f"{module}.py").write_text(source)
    return d


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dists")
    dists = [
        _dist(root, "batch-router-echo", "br_echo", "echo", PLUGIN_MODULE.format(name="echo")),
        _dist(root, "batch-router-broken", "br_broken", "broken", "import not_a_real_module\n"),
        _dist(
            root,
            "batch-router-echo-clone",
            "br_echo_clone",
            "echo",
            PLUGIN_MODULE.format(name="echo"),
        ),
    ]
    target = root / "site"
    install_into(target, *dists)
    return target


def _python(target: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(target), **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=target.parent,
        timeout=120,
    )


def test_installed_plugin_is_discovered_and_runs(installed: Path) -> None:
    code = textwrap.dedent("""
        import asyncio, json
        from batch_router_core import *
        reg = BatchProviderRegistry(overrides={})
        errors = {k: str(v) for k, v in reg.load_errors.items()}
        p = reg.get("echo")
        batch = InputBatch(requests=[InputRequest(custom_id=c, messages=[InputMessage.user("x")])
                                     for c in ("abc", "xyz")]).with_params(
            InferenceParams(provider_id="echo", model_id="echo-1"))
        async def main():
            h = await p.submit(p.prepare(batch))
            status = (await p.poll_status(h)).status.value
            texts = sorted([r.text async for r in p.fetch_results(h)])
            return status, texts
        status, texts = asyncio.run(main())
        print(json.dumps({"dist": [p.distribution, p.version], "status": status, "texts": texts,
                          "errors": errors, "names": reg.names()}))
    """)
    proc = _python(installed, code, BATCH_ROUTER_BLOCK_PLUGINS="fake")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "completed" and out["texts"] == ["cba", "zyx"]
    assert "broken" in out["errors"] and "not_a_real_module" in out["errors"]["broken"]
    assert "batch-router-broken" in out["errors"]["broken"]  # the message names the distribution
    assert "echo" in out["names"] and "broken" not in out["names"]  # the others still load
    assert out["dist"][1] == "1.2.3"


def test_duplicate_entry_points_are_an_error_naming_both(installed: Path) -> None:
    code = (
        "from batch_router_core import BatchProviderRegistry\n"
        "reg = BatchProviderRegistry(overrides={})\n"
        "print(reg.load_errors.get('echo'))"
    )
    proc = _python(installed, code)
    # Two distributions both declare `echo`; importlib.metadata may list the same name twice.
    assert proc.returncode == 0, proc.stderr
    assert "claimed by two plugins" in proc.stdout, proc.stdout
    assert "br_echo:" in proc.stdout or "br_echo (" in proc.stdout or "br_echo_clone" in proc.stdout


def test_cli_lists_installed_plugins_and_their_load_errors(installed: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    proc = subprocess.run(
        [sys.executable, "-m", "batch_router_core.cli", "providers", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    names = {p["name"]: p for p in data["providers"]}
    assert names["echo"]["version"] == "1.2.3"
    assert "broken" in data["errors"]


def test_allow_list_limits_what_loads(installed: Path) -> None:
    code = (
        "from batch_router_core import BatchProviderRegistry\n"
        "reg = BatchProviderRegistry(overrides={})\n"
        "print(reg.names(), sorted(reg.load_errors))"
    )
    proc = _python(installed, code, BATCH_ROUTER_PLUGINS="fake")
    assert proc.stdout.strip() == "['fake'] []", proc.stderr
