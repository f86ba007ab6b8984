"""The process table, for plugins that run local engines (and for core's claims)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["proc_stat"]


def proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), or None (gone, not
    Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    return stat[stat.rindex(")") + 2 :].split()
