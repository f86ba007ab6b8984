"""The import graph keeps the layering docs/architecture.md describes: no cycle in core, plugins
import core's plugin kit (never core's machinery) and never each other, nothing imports a deprecated
alias."""

from __future__ import annotations

import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.name for p in (ROOT / "plugins").glob("*/batch_router_*") if p.is_dir())

#: The 0.1 import paths kept as deprecated aliases (they re-export a moved module).
ALIASES = (
    "context",
    "uploads",
    "http_errors",
    "clients",
    "fastjson",
    "crashpoints",
    "handle",
    "status",
    "ledger",
    "claims",
    "router",
    "sync",
    "unified_io",
)

#: What a plugin may import from core: the kit, the wire formats, the emulation kit, the contract.
PLUGIN_MAY_IMPORT = (
    "batch_router_core.plugin",
    "batch_router_core.formats.openai_batch",
    "batch_router_core.emulation",
    "batch_router_core.hookspecs",
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    sys.path[:0] = [
        str(ROOT / "plugins" / d.parent.name) for d in (ROOT / "plugins").glob("*/batch_router_*")
    ]
    return grimp.build_graph("batch_router_core", *PLUGINS, include_external_packages=False)


def test_core_has_no_import_cycle(graph: grimp.ImportGraph) -> None:
    modules = sorted(m for m in graph.modules if m.startswith("batch_router_core"))
    cycles = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("batch_router_core") and graph.chain_exists(imported, module):
                cycles.append(graph.find_shortest_chain(imported, module))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_the_vocabulary_and_errors_depend_on_nothing_above_them(graph: grimp.ImportGraph) -> None:
    for base in ("batch_router_core.models", "batch_router_core.errors"):
        for module in [base, *graph.find_descendants(base)] if base.endswith("models") else [base]:
            above = {
                m
                for m in graph.find_modules_directly_imported_by(module)
                if m.startswith("batch_router_core")
                and not m.startswith(("batch_router_core.models", "batch_router_core.errors"))
            }
            assert not above, f"{module} imports {above}"


def test_the_plugin_kit_does_not_reach_into_the_machinery(graph: grimp.ImportGraph) -> None:
    for layer in (
        "batch_router_core.registry",
        "batch_router_core.jobs",
        "batch_router_core.cli",
        "batch_router_core.online",
    ):
        assert not graph.chain_exists("batch_router_core.plugin", layer, as_packages=True), layer


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugins_import_only_the_kit_and_never_each_other(
    graph: grimp.ImportGraph, plugin: str
) -> None:
    modules = [plugin, *graph.find_descendants(plugin)]
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("batch_router_core"):
                # A plugin's __init__ may publish its synchronous provider (built on first use).
                lazy_sync = imported == "batch_router_core.jobs" and module == plugin
                assert lazy_sync or imported.startswith(PLUGIN_MAY_IMPORT), (
                    f"{module} imports {imported}"
                )
            else:
                assert imported.split(".")[0] == plugin, (
                    f"{module} imports another plugin: {imported}"
                )


def test_nothing_imports_a_deprecated_alias(graph: grimp.ImportGraph) -> None:
    for alias in ALIASES:
        users = graph.find_modules_that_directly_import(f"batch_router_core.{alias}")
        assert not users, f"batch_router_core.{alias} (deprecated) is imported by {sorted(users)}"
