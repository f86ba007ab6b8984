"""What an emulator offers tests: the controls the conformance suite drives it through.

An emulator returned by a plugin's ``create_emulator`` hook that implements
:class:`EmulatorControls` can be tested by the conformance suite with no code of the plugin author's
beyond one line (see :func:`batch_router_core.testing.conformance.conformance_suite`). Emulators
built on the core kit (a clock, a :class:`~.faults.FaultInjector`, a set of custom_ids to fail and a
per-request time for the next job) get every control from :class:`EmulatorControlsMixin` by
declaring which HTTP route each provider operation uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from batch_router_core.emulation.clock import Clock, ManualClock
from batch_router_core.emulation.faults import FaultInjector

__all__ = [
    "FAULT_OPERATIONS",
    "EmulatorControls",
    "EmulatorControlsMixin",
    "FaultKind",
    "check_fault_routes",
]

#: ``transient`` - a retryable failure (429 with retry-after, 5xx); ``permanent`` - a 401.
FaultKind = Literal["transient", "permanent"]


@runtime_checkable
class EmulatorControls(Protocol):
    """The controls a conformance-ready emulator offers."""

    #: Provider operations (``submit``, ``poll_status``, ``fetch_results``, ``cancel``) that
    #: :meth:`inject_fault` can make fail.
    fault_operations: tuple[str, ...]

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward by ``seconds``."""
        ...

    def inject_fault(self, operation: str, kind: FaultKind) -> None:
        """Make the next call of ``operation`` fail with a ``kind`` error."""
        ...

    def fail_requests(self, custom_ids: Iterable[str]) -> None:
        """Answer these requests with a per-request error in every later job."""
        ...

    def stall_next_job(self) -> None:
        """Make the next job submitted too slow to finish inside its completion window (it
        expires)."""
        ...


#: The provider operations a fault can be declared for (the hooks that make HTTP calls).
FAULT_OPERATIONS = ("submit", "poll_status", "fetch_results", "cancel", "find_job", "delete_job")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def check_fault_routes(owner: str, routes: Mapping[str, str]) -> None:
    """Refuse a route table with an unknown operation or a route that is not ``"METHOD
    /path-glob"``."""
    for operation, route in routes.items():
        if operation not in FAULT_OPERATIONS:
            raise TypeError(
                f"{owner}.fault_routes: unknown operation {operation!r}; "
                f"expected one of {', '.join(FAULT_OPERATIONS)}"
            )
        method, _, path = str(route).partition(" ")
        if method not in _METHODS or not path.startswith("/") or " " in path:
            raise TypeError(
                f'{owner}.fault_routes[{operation!r}]: {route!r} is not "METHOD /path" '
                f"(METHOD one of {', '.join(_METHODS)}; * matches within the path)"
            )


class EmulatorControlsMixin:
    """:class:`EmulatorControls` for emulators on the core kit.

    The class using it declares :attr:`fault_routes`, and provides ``faults``
    (a :class:`FaultInjector`) and ``clock``, ``error_ids`` (a set) and ``next_per_request_s``
    (read once by the next job created), either on itself or on its ``state`` attribute.

    **Which call a fault hits.** ``inject_fault(operation, kind)`` adds one rule for the route
    declared for ``operation``: the *next HTTP request* whose method and path match it fails, once,
    whatever sends it. So declare the first request the operation makes (for an upload-then-create
    submit, the upload: ``"POST /v1/files"``), and make the glob specific enough that no other
    operation's requests match it (``GET /jobs/*`` also matches ``GET /jobs/1/results``; write ``GET
    /jobs/*/results`` for the download and keep polls on a path the download does not share, or
    accept that whichever of the two comes next fails). The table is checked when the class is
    defined: an unknown operation or a malformed route is a ``TypeError`` naming the entry.
    """

    #: operation (one of :data:`FAULT_OPERATIONS`) -> ``"METHOD /path"`` glob of the first HTTP
    #: request that operation makes.
    fault_routes: ClassVar[Mapping[str, str]] = {}
    #: fault kinds used for ``transient`` and ``permanent`` injections.
    transient_kind: ClassVar[str] = "rate_limit"
    permanent_kind: ClassVar[str] = "unauthorized"

    faults: FaultInjector

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_fault_routes(cls.__qualname__, cls.fault_routes)

    @property
    def _controlled(self) -> Any:
        # Emulators keep their knobs on a separate state object or on themselves.
        return getattr(self, "state", self)

    @property
    def fault_operations(self) -> tuple[str, ...]:
        """The operations with a declared route."""
        return tuple(self.fault_routes)

    def advance(self, seconds: float) -> None:
        """Move the manual clock; an emulator on the wall clock cannot be moved."""
        clock: Clock = self._controlled.clock
        if not isinstance(clock, ManualClock):
            raise TypeError(
                "this emulator runs on the wall clock; start it without 'speed' to move time"
            )
        clock.advance(seconds)

    def inject_fault(self, operation: str, kind: FaultKind) -> None:
        """Fail the next call of ``operation`` (retry-after 1 s on transient faults)."""
        try:
            route = self.fault_routes[operation]
        except KeyError:
            raise ValueError(
                f"no route declared for {operation!r}; known: {sorted(self.fault_routes)}"
            ) from None
        if kind == "transient":
            self.faults.add(route, self.transient_kind, retry_after=1)
        else:
            self.faults.add(route, self.permanent_kind)

    def fail_requests(self, custom_ids: Iterable[str]) -> None:
        """Add ``custom_ids`` to the emulator's per-request error set."""
        error_ids: set[str] = self._controlled.error_ids
        error_ids.update(custom_ids)

    def stall_next_job(self) -> None:
        """Give the next job a per-request time far beyond any completion window."""
        self._controlled.next_per_request_s = 10 * 365 * 86400.0
