"""The documentation site: built with MkDocs in strict mode, and every code example in it run.

Strict mode turns every warning into a failure: a broken link between pages, a link to a missing
anchor, a page left out of the navigation. Every fenced example in ``docs/`` runs: Python and shell
against the hosted providers' emulators (the SDKs pointed at them by their usual environment
variables, as a user would), YAML through the configuration loader, JSON through the unified-format
readers, TOML through a TOML parser. A block that cannot run says why in a ``<!-- no-run: ... -->``
comment on the line before it, and points to the test that covers it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_NO_RUN = re.compile(r"<!-- no-run: (.+?) -->\s*$")


def _blocks() -> list[tuple[str, int, str, str, str | None]]:
    """(page, line, language, code, no-run reason) for every fenced block under docs/."""
    found = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        for m in _FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            reason = _NO_RUN.search(before)
            found.append(
                (page.name, line, m.group(1), m.group(2), reason.group(1) if reason else None)
            )
    return found


BLOCKS = _blocks()
RUNNABLE = [b for b in BLOCKS if b[4] is None]


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        # Material prints a banner about its successor on every build; the build's own warnings
        # are what this test reads.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    for page in DOCS.glob(
        "*.md"
    ):  # every page rendered (strict mode also refuses pages outside the nav)
        # The offline plugin writes page.html files (the site works from disk, file://).
        built = tmp_path / "site" / f"{page.stem}.html"
        assert built.exists(), f"{page.name} was not built"


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """The check can fail: the same site with one link to a missing anchor is refused."""
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    (docs / "index.md").write_text(
        (docs / "index.md").read_text() + "\nSee [nowhere](guide.md#no-such-section).\n"
    )
    config = (ROOT / "mkdocs.yml").read_text().replace("docs_dir: docs", f"docs_dir: {docs}")
    (tmp_path / "mkdocs.yml").write_text(config)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(tmp_path / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0 and "no-such-section" in proc.stderr, proc.stderr


def test_every_skipped_example_says_why_and_most_run() -> None:
    for page, line, _lang, _code, reason in BLOCKS:
        if reason is not None:
            assert len(reason) > 20 and "test" in reason, (
                f"{page}:{line}: say why and which test covers it"
            )
    assert len(RUNNABLE) >= 10, "most examples in the docs must run"


@pytest.fixture(scope="module")
def emulator_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The three hosted providers' emulators on loopback (an emulated hour per second), as SDK env
    vars."""
    from batch_router_anthropic.emulator.app import create_app as anthropic_app
    from batch_router_google.emulator.app import create_app as google_app
    from batch_router_openai.emulator import create_app as openai_app

    from batch_router_core.emulation.server import serve_in_thread

    servers = [
        serve_in_thread(app({"speed": 3600.0})) for app in (openai_app, anthropic_app, google_app)
    ]
    home = tmp_path_factory.mktemp("home")
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "OPENAI_BASE_URL": servers[0].url + "/v1",
        "OPENAI_API_KEY": "sk-docs-example",
        "ANTHROPIC_BASE_URL": servers[1].url,
        "ANTHROPIC_API_KEY": "sk-ant-docs-example",
        "GOOGLE_GEMINI_BASE_URL": servers[2].url,
        "GEMINI_API_KEY": "docs-example",
    }
    env.pop("BATCH_ROUTER_CONFIG", None)
    try:
        yield env
    finally:
        for server in servers:
            server.stop()


def _json_objects(code: str) -> Iterator[dict[str, object]]:
    decoder, pos = json.JSONDecoder(), 0
    while True:
        while pos < len(code) and code[pos].isspace():
            pos += 1
        if pos == len(code):
            return
        obj, pos = decoder.raw_decode(code, pos)
        yield obj


def _check_data(lang: str, code: str, tmp_path: Path) -> None:
    if lang == "toml":
        tomllib.loads(code)
    elif lang == "yaml":
        from batch_router_core.config import load_user_config
        from batch_router_core.registry import BatchProviderRegistry

        path = tmp_path / "batch-router.yaml"
        path.write_text(code)
        overrides = load_user_config(path)
        registry = BatchProviderRegistry(overrides=overrides)
        for name in yaml.safe_load(code)["providers"]:
            registry.info(name)  # the overrides apply cleanly to the plugin's defaults
    elif lang == "json":
        from batch_router_core.formats.unified import read_input, result_from_data

        objects = list(_json_objects(code))
        requests = [o for o in objects if "messages" in o]
        results = [o for o in objects if "status" in o]
        assert len(requests) + len(results) == len(objects), (
            "a JSON example that is neither input nor result"
        )
        if requests:
            path = tmp_path / "input.jsonl"
            path.write_text("".join(json.dumps(o) + "\n" for o in requests))
            assert [r.custom_id for r in read_input(path)] == [o["custom_id"] for o in requests]
        for data in results:
            assert result_from_data(data).custom_id == data["custom_id"]
    else:
        raise AssertionError(f"no way to run a {lang} example: add one here or mark it no-run")


@pytest.mark.parametrize(
    ("page", "line", "lang", "code", "_reason"), RUNNABLE, ids=[f"{b[0]}:{b[1]}" for b in RUNNABLE]
)
def test_example_runs(
    page: str,
    line: int,
    lang: str,
    code: str,
    _reason: None,
    tmp_path: Path,
    emulator_env: dict[str, str],
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    if lang == "python":
        command = [sys.executable, "-c", code]
    elif lang == "bash":
        command = ["bash", "-euo", "pipefail", "-c", code]
    else:
        _check_data(lang, code, tmp_path)
        return
    proc = subprocess.run(
        command,
        cwd=tmp_path,
        env=emulator_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, (
        f"docs/{page}:{line} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )
