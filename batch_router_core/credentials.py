"""Provider keys from a file of the user's own, for machines where the environment is shared.

``$BATCH_ROUTER_CREDENTIALS``, else ``~/.config/batch-router/credentials.yaml``
(``$XDG_CONFIG_HOME``), if it exists::

    openai:
      api_key: sk-...
    anthropic:
      api_key: sk-ant-...

It is kept apart from ``batch-router.yaml`` (which describes providers and is often committed with
a project) and, like an SSH key, must be readable by its owner only: a file others can read is
refused, never used. Its options come before the SDK's environment variables and after options
given in code or with ``--option``. They are passed to the provider plugin only: never logged,
written to generated files or stored in the ledger.
"""

from __future__ import annotations

import os
import stat
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from batch_router_core.errors import ConfigError

__all__ = ["CREDENTIALS_ENV", "credentials_for", "credentials_path"]

#: The environment variable naming the credentials file.
CREDENTIALS_ENV = "BATCH_ROUTER_CREDENTIALS"


def credentials_path() -> Path | None:
    """The credentials file in use, or None when there is none."""
    named = os.environ.get(CREDENTIALS_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CREDENTIALS_ENV} names a file that does not exist", path=named)
        return path
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    path = Path(base).expanduser() / "batch-router" / "credentials.yaml"
    return path if path.is_file() else None


def credentials_for(provider: str) -> dict[str, Any]:
    """The options the credentials file holds for ``provider`` (empty without a file)."""
    path = credentials_path()
    if path is None:
        return {}
    st = path.stat()
    return dict(_read(str(path), st.st_mtime_ns, st.st_mode).get(provider) or {})


@cache
def _read(path: str, mtime_ns: int, mode: int) -> dict[str, Any]:
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"holds keys but others can read it (mode {stat.filemode(mode)}): "
            f"run `chmod 600 {path}`",
            path=path,
        )
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read: {exc}", path=path) from None
    data = data or {}
    if not isinstance(data, dict) or not all(
        isinstance(v, dict) or v is None for v in data.values()
    ):
        raise ConfigError("expected a mapping of provider name -> options", path=path)
    return data
