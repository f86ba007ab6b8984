"""Every 0.1 import path keeps working for this release, with a DeprecationWarning naming the new
one."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: old module -> (a name it published, the module that now defines it)
MOVED = {
    "context": ("ProviderContext", "batch_router_core.plugin.context"),
    "uploads": ("create_from_upload", "batch_router_core.plugin.uploads"),
    "http_errors": ("error_for_status", "batch_router_core.plugin.sdk_errors"),
    "clients": ("per_loop", "batch_router_core.plugin.clients"),
    "fastjson": ("split_template", "batch_router_core.plugin.fastjson"),
    "crashpoints": ("crash_point", "batch_router_core.plugin.crashpoints"),
    "handle": ("ProviderHandle", "batch_router_core.registry.handle"),
    "status": ("normalize_provider_status", "batch_router_core.registry.status"),
    "ledger": ("Ledger", "batch_router_core.jobs.ledger"),
    "claims": ("Claimant", "batch_router_core.jobs.claims"),
    "router": ("BatchRouter", "batch_router_core.jobs.router"),
    "sync": ("Provider", "batch_router_core.jobs.sync"),
    "unified_io": ("read_input", "batch_router_core.formats.unified"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_warns_at_the_importer_and_gives_the_same_object(old: str) -> None:
    name, new = MOVED[old]
    # A fresh interpreter: the warning fires on the first import of the old module.
    code = textwrap.dedent(f"""
        import importlib, warnings
        warnings.simplefilter("always")
        with warnings.catch_warnings(record=True) as seen:
            from batch_router_core.{old} import {name} as old_name
        new_name = getattr(importlib.import_module("{new}"), "{name}")
        assert old_name is new_name, "a different object"
        deprecations = [w for w in seen if issubclass(w.category, DeprecationWarning)
                        and "batch_router_core.{old} moved" in str(w.message)]
        assert len(deprecations) == 1, [str(w.message) for w in seen]
        print(deprecations[0].filename, "|", deprecations[0].message)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    where, message = proc.stdout.strip().split(" | ")
    assert where == "<string>"  # attributed to the importing line, not to batch-router's own files
    assert new in message and "0.3" in message


def test_the_01_settings_places_still_load_with_a_warning() -> None:
    from batch_router_core.config import info_from_mapping

    with pytest.warns(DeprecationWarning) as seen:
        info = info_from_mapping(
            {
                "name": "acme",
                "status_map": {"done": "completed"},
                "settings": {"emulator_base_path": "/v2", "find_job_max_scan": 50, "region": "eu"},
            }
        )
    assert sorted(str(w.message).split(":")[1].split(" is now")[0].strip() for w in seen) == [
        "settings.emulator_base_path",
        "settings.find_job_max_scan",
    ]
    assert info.emulator_base_path == "/v2" and info.limits.find_job_max_scan == 50
    assert dict(info.settings) == {"region": "eu"}  # the plugin's own knobs stay where they were


def test_the_new_imports_do_not_warn() -> None:
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "import batch_router_core, batch_router_core.plugin, batch_router_core.registry\n"
        "import batch_router_core.jobs.router, batch_router_core.jobs.sync, batch_router_core.cli\n"
        "from batch_router_core import BatchRouter, JobStatus\n"
        "import batch_router_core.formats.openai_batch, batch_router_core.formats.unified\n"
        "import batch_router_core.testing.conformance, batch_router_core.online\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
