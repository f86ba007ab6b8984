"""Who holds a job: claimant identities, and whether the process behind one is still alive.

A claim in the ledger is an owner id plus a lease expiry. Leases are the rule that works across
machines (a claim whose lease has run out may be taken over); on the machine that took a claim we
can also tell at once that its process has died, so a ``resume`` right after a ``kill -9`` need not
wait for the lease to run out. The owner id records the host, the pid and the process's start time,
so a pid reused by an unrelated process is not mistaken for the claimant.
"""

from __future__ import annotations

import os
import secrets
import socket

import attrs

from batch_router_core.plugin.processes import proc_stat

__all__ = ["Claimant", "owner_is_dead", "proc_stat"]


def _start_ticks(pid: int) -> str:
    """The process's start time since boot (Linux ``/proc``), or ``"-"`` where it cannot be read."""
    fields = proc_stat(pid)
    return fields[19] if fields else "-"


@attrs.frozen(kw_only=True)
class Claimant:
    """One process's identity as a claimant: ``host/pid/start/nonce``."""

    host: str
    pid: int
    start: str
    nonce: str

    @classmethod
    def current(cls) -> Claimant:
        """A new identity for this process (a fresh nonce each time: two routers in one process are
        two claimants)."""
        pid = os.getpid()
        return cls(
            host=socket.gethostname(), pid=pid, start=_start_ticks(pid), nonce=secrets.token_hex(4)
        )

    @property
    def id(self) -> str:
        """The owner id stored in the ledger."""
        return f"{self.host}/{self.pid}/{self.start}/{self.nonce}"

    @classmethod
    def parse(cls, owner: str) -> Claimant | None:
        """The identity behind an owner id, or None if it is not one."""
        parts = owner.split("/")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        return cls(host=parts[0], pid=int(parts[1]), start=parts[2], nonce=parts[3])


def owner_is_dead(owner: str) -> bool:
    """True only when ``owner`` certainly names a process of this host that has ended.

    Another host's process, or one whose start time cannot be read, is never declared dead: its
    lease decides.
    """
    who = Claimant.parse(owner)
    if who is None or who.host != socket.gethostname() or who.start == "-":
        return False
    if who.pid == os.getpid():
        return False  # this process is alive; another router in it may hold the claim
    fields = proc_stat(who.pid)
    # Gone, reused by another process, or a zombie (ended, only not yet reaped by its parent).
    return fields is None or fields[19] != who.start or fields[0] in ("Z", "X")
