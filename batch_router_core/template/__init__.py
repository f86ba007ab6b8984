"""The provider-plugin template rendered by ``batch-router new-plugin NAME``.

Files in ``files/`` are ``string.Template`` sources: ``$name`` (the provider name), ``$package``
(``batch_router_<name>``), ``$dist`` (``batch-router-<name>``) and ``$title`` are substituted. The
result is a complete, working plugin for a small made-up HTTP batch service, with its emulator and a
test suite running the shared conformance suite: replace the HTTP calls with your provider's SDK.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from batch_router_core.errors import ValidationError

__all__ = ["render_plugin"]

_FILES = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "$package/__init__.py": "init.py.tmpl",
    "$package/py.typed": "py.typed.tmpl",
    "$package/defaults.yaml": "defaults.yaml.tmpl",
    "$package/plugin.py": "plugin.py.tmpl",
    "$package/emulator.py": "emulator.py.tmpl",
    "${name}_tests/__init__.py": "py.typed.tmpl",
    "${name}_tests/test_conformance.py": "test_conformance.py.tmpl",
}


def render_plugin(name: str, directory: Path | str) -> Path:
    """Write a new plugin distribution for provider ``name`` into
    ``directory/batch-router-<name>``."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,30}", name):
        raise ValidationError(
            "a provider name is 2-31 lowercase letters, digits or _, starting with a letter",
            field="name",
        )
    values = {
        "name": name,
        "package": f"batch_router_{name}",
        "dist": f"batch-router-{name.replace('_', '-')}",
        "title": name.replace("_", " ").title(),
    }
    root = Path(directory) / values["dist"]
    if root.exists():
        raise ValidationError(f"{root} already exists", field="directory")
    source = resources.files(__name__).joinpath("files")
    for target, template in _FILES.items():
        path = root / Template(target).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = source.joinpath(template).read_text(encoding="utf-8")
        path.write_text(Template(text).substitute(values), encoding="utf-8")
    return root
