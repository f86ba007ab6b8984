"""Deprecated import paths: the modules that moved in 0.2 keep working for one release, with a
warning."""

from __future__ import annotations

import warnings

__all__ = ["REMOVED_IN", "warn_moved"]

#: The release that drops the deprecated import paths.
REMOVED_IN = "0.3"


def warn_moved(old: str, new: str, advice: str) -> None:
    """Warn, at the importer's line, that module ``old`` moved to ``new``; ``advice`` is where to
    import from."""
    warnings.warn(
        f"{old} moved to {new}: import from {advice} (the old path goes away in {REMOVED_IN})",
        DeprecationWarning,
        # warn_moved -> the shim module -> the importer (importlib's own frames are skipped)
        stacklevel=3,
    )
