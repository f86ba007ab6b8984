"""Who holds a job: claimant identities, and whether the process behind one is still alive.

A claim in the ledger is an owner id plus a lease expiry. Leases are the rule that works across
machines (a claim whose lease has run out may be taken over); on the machine that took a claim we
can also tell at once that its process has died, so a ``resume`` right after a ``kill -9`` need not
wait for the lease to run out. The owner id records the host, the pid and the process's start time,
so a pid reused by an unrelated process is not mistaken for the claimant.

"The host" is more than its name: cloned VMs called ``localhost`` and containers started with the
same ``--hostname`` share a name but not their processes, and reading another machine's pid in our
own ``/proc`` would declare a live worker dead. So the host part is the name plus a digest of the
kernel's boot id and the pid namespace (``/proc/self/ns/pid``): two processes agree on it only when
each can see the other's pids. ``BATCH_ROUTER_HOST_ID``, when set, is mixed in too (it can only
make two places look different, never make them look the same).
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import socket

import attrs

from batch_router_core.plugin.processes import proc_stat

__all__ = ["Claimant", "owner_is_dead", "proc_stat"]


#: Mixed into this process's place (see the module's docstring).
HOST_ID_ENV = "BATCH_ROUTER_HOST_ID"


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


@functools.cache
def _place() -> str:
    """The host part of owner ids made here: ``name~digest``, or ``name~?`` where the boot id or
    the pid namespace cannot be read (then no claim of this place is ever declared dead)."""
    name = socket.gethostname().replace("/", "_").replace("~", "_")
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace: str | None = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = None
    if not boot or not namespace:
        return f"{name}~?"
    seen = f"{boot}|{namespace}|{os.environ.get(HOST_ID_ENV, '')}"
    return f"{name}~{hashlib.sha256(seen.encode()).hexdigest()[:12]}"


def _start_ticks(pid: int) -> str:
    """The process's start time since boot (Linux ``/proc``), or ``"-"`` where it cannot be read."""
    fields = proc_stat(pid)
    return fields[19] if fields else "-"


@attrs.frozen(kw_only=True)
class Claimant:
    """One process's identity as a claimant: ``host/pid/start/nonce`` (``host`` is the machine's
    name and a digest of where its pids are visible: ``name~digest``)."""

    host: str
    pid: int
    start: str
    nonce: str

    @classmethod
    def current(cls) -> Claimant:
        """A new identity for this process (a fresh nonce each time: two routers in one process are
        two claimants)."""
        pid = os.getpid()
        return cls(host=_place(), pid=pid, start=_start_ticks(pid), nonce=secrets.token_hex(4))

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

    Another host's process (or another pid namespace's, or one named by an older version's owner
    id without the digest), or one whose start time cannot be read, is never declared dead: its
    lease decides.
    """
    who = Claimant.parse(owner)
    here = _place()
    if who is None or who.host != here or here.endswith("~?") or who.start == "-":
        return False
    if who.pid == os.getpid():
        return False  # this process is alive; another router in it may hold the claim
    fields = proc_stat(who.pid)
    # Gone, reused by another process, or a zombie (ended, only not yet reaped by its parent).
    return fields is None or fields[19] != who.start or fields[0] in ("Z", "X")
