"""Meta-tests that keep the documented contract honest (after datasette's test_docs)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from batch_router_core import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _hooks() -> dict[str, object]:
    return {n: f for n, f in vars(hookspecs).items() if hasattr(f, "batch_router_spec")}


def _signature(fn: object) -> str:
    ann = dict(fn.__annotations__)  # type: ignore[attr-defined]
    ret = ann.pop("return")
    args = ", ".join(f"{k}: {v}" for k, v in ann.items())
    return f"{fn.__name__}({args}) -> {ret}"  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(_hooks()))
def test_every_hook_is_documented_with_its_exact_signature(name: str) -> None:
    text = (DOCS / "hooks.md").read_text()
    assert f"### {name}\n" in text, f"docs/hooks.md has no section for hook {name!r}"
    assert _signature(_hooks()[name]) in text, f"docs/hooks.md shows a stale signature for {name!r}"


def test_no_documented_hook_is_missing_from_the_spec() -> None:
    text = (DOCS / "hooks.md").read_text()
    documented = set(re.findall(r"^### (\w+)$", text, re.M))
    assert documented == set(_hooks())


@pytest.mark.parametrize("name", sorted(_hooks()))
def test_every_hook_is_firstresult_with_a_docstring(name: str) -> None:
    """Operation hooks have one answer (the provider's); observer hooks are called on every
    observer."""
    fn = _hooks()[name]
    observer = name.startswith("provider_call_")
    assert fn.batch_router_spec["firstresult"] is not observer  # type: ignore[attr-defined]
    assert fn.__doc__ and ("firstresult" in fn.__doc__) is not observer


def test_hookspecs_module_holds_declarations_only() -> None:
    tree = ast.parse(Path(hookspecs.__file__).read_text())
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert {f.name for f in functions} == set(_hooks())
    for f in functions:  # a docstring and nothing else
        assert len(f.body) == 1 and isinstance(f.body[0], ast.Expr), f.name
    assert not [n for n in tree.body if isinstance(n, (ast.ClassDef, ast.AsyncFunctionDef))]


def _is_observer(entry_point: str) -> bool:
    import importlib

    module, _, attr = entry_point.partition(":")
    plugin = importlib.import_module(module)
    if attr:
        plugin = getattr(plugin, attr)
    return not hasattr(plugin, "provider_info")


def test_every_first_party_entry_point_runs_the_conformance_suite() -> None:
    """Each distribution under plugins/ (and the fake) enables the suite for its entry point, and
    pytest
    really collects the suite's tests from its test directory."""
    import re
    import subprocess
    import sys
    import tomllib

    root = Path(__file__).resolve().parents[1]
    dists = [p for p in (root / "plugins").iterdir() if (p / "pyproject.toml").exists()]
    dists.append(root / "tests" / "fake_plugin")
    for dist in dists:
        project = tomllib.loads((dist / "pyproject.toml").read_text())["project"]
        entry_points = project.get("entry-points", {}).get("batch_router", {})
        assert entry_points, f"{dist.name} declares no batch_router entry point"
        if all(_is_observer(value) for value in entry_points.values()):
            continue  # an observer plugin (no provider_info) has no provider contract to conform to
        names = list(entry_points)
        test_dir = root / "tests" if dist.name == "fake_plugin" else dist
        sources = "\n".join(p.read_text() for p in test_dir.rglob("test_*.py"))
        for name in names:
            enabled = re.search(rf'conformance_suite\(\s*"{name}"', sources) or (
                "(ProviderConformance)" in sources and f'"{name}"' in sources
            )
            assert enabled, (
                f"{dist.name} does not run the conformance suite for its entry point {name!r}"
            )
        collected = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
                str(test_dir),
            ],
            capture_output=True,
            text=True,
            cwd=root,
            check=False,
        ).stdout
        for suite_test in (
            "test_full_cycle_yields_one_result_per_request",
            "test_overrides_say_why",
        ):
            assert f"::{suite_test}" in collected, (
                f"{dist.name}: the conformance suite is not collected"
            )


def test_an_override_without_a_reason_fails_and_one_with_a_reason_passes() -> None:
    """The suite's guard: overriding a suite test silently is reported by test_overrides_say_why."""
    import pytest

    from batch_router_core.testing.conformance import ProviderConformance, override

    class Silent(ProviderConformance):
        def test_cancel_works_or_is_declared_unsupported(self) -> None:  # type: ignore[override]
            pass

    class Explained(ProviderConformance):
        @override("this service cannot cancel a job once accepted")
        def test_cancel_works_or_is_declared_unsupported(self) -> None:  # type: ignore[override]
            pass

    assert Silent.unexplained_overrides == ("test_cancel_works_or_is_declared_unsupported",)
    with pytest.raises(AssertionError, match="without a reason"):
        Silent().test_overrides_say_why()
    Explained().test_overrides_say_why()
    with pytest.raises(TypeError, match="guard"):
        type("Sneaky", (ProviderConformance,), {"test_overrides_say_why": lambda self: None})


#: how a test reaches each hook through the typed facade (``ProviderHandle``)
_FACADE_CALL = {
    "provider_info": ".info.",
    "prepare_payloads": ".prepare_payloads(",
    "submit": ".submit(",
    "poll_status": ".poll_status(",
    "fetch_results": ".fetch_results(",
    "cancel": ".cancel(",
    "execute_now": ".execute_now(",
    "check_credentials": ".check_credentials(",
    "find_job": ".find_job(",
    "delete_job": ".delete_job(",
    "parse_webhook": ".parse_webhook(",
    "create_emulator": ".create_emulator(",
    # observers are implemented by tests, then called by the facade around real calls
    "provider_call_started": "def provider_call_started(",
    "provider_call_finished": "def provider_call_finished(",
}


@pytest.mark.parametrize("name", sorted(_hooks()))
def test_every_hook_has_a_test(name: str) -> None:
    """Some test (or the conformance suite every plugin runs) calls the hook through the facade."""
    root = Path(__file__).resolve().parents[1]
    assert name in _FACADE_CALL, f"add how tests call the new hook {name!r} to _FACADE_CALL"
    # This file names every call in _FACADE_CALL: it is no evidence that a hook is tested.
    sources = [
        *(p for p in root.joinpath("tests").rglob("test_*.py") if p.name != Path(__file__).name),
        *root.joinpath("plugins").glob("*/*_tests/test_*.py"),
        root / "batch_router_core" / "testing" / "conformance.py",
    ]
    callers = [p.name for p in sources if _FACADE_CALL[name] in p.read_text()]
    assert callers, f"no test calls the {name} hook"


def test_configuration_md_documents_every_key() -> None:
    """Every field a provider can declare (and a user override) has a row in configuration.md."""
    import attrs

    from batch_router_core.models.provider import Capabilities, ProviderInfo, ProviderLimits

    text = (DOCS / "configuration.md").read_text()
    keys = [f"`limits.{f.name}`" for f in attrs.fields(ProviderLimits)]
    keys += [f"`capabilities.{f.name}`" for f in attrs.fields(Capabilities)]
    keys += [
        f"`{f.name}`"
        for f in attrs.fields(ProviderInfo)
        if f.init and f.name not in ("limits", "capabilities")
    ]
    missing = [k for k in keys if k not in text]
    assert not missing, f"configuration.md does not document {missing}"
