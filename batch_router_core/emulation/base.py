"""The scaffolding every provider emulator shares: a base class to build one on.

An emulator is an ASGI app with state (jobs, files, a clock), a :class:`FaultInjector`, a count of
the requests that reached it, an API-key check and a stats route. :class:`EmulatorApp` wires these
together in the one order that makes tests meaningful (requests are counted first, then faults
fire, then the key is checked, then the provider's routes run) and gives the conformance suite its
controls (:class:`EmulatorControlsMixin`). A provider's emulator supplies its routes and, where the
provider differs, how its key travels, what its errors look like and how its requests are counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from batch_router_core.emulation.clock import ManualClock, SystemClock
from batch_router_core.emulation.controls import EmulatorControlsMixin
from batch_router_core.emulation.faults import FaultInjector, FaultMiddleware
from batch_router_core.emulation.middleware import counting

__all__ = ["EmulatorApp", "next_job_pace", "state_options"]


def state_options(options: Mapping[str, Any] | None, known: Iterable[str]) -> dict[str, Any]:
    """The keyword arguments for an emulator's state from ``create_emulator``'s options: ``clock``
    (a wall clock ``speed`` times faster, or a manual clock when no speed is given) and each option
    named in ``known``; other options are ignored, as the hook's contract says."""
    opts = dict(options or {})
    speed = opts.pop("speed", None)
    allowed = set(known)
    kwargs = {k: v for k, v in opts.items() if k in allowed}
    kwargs["clock"] = SystemClock(speed=float(speed)) if speed else ManualClock()
    return kwargs


def next_job_pace(state: Any) -> float:
    """Seconds per request for the job being created: the one-off pace ``stall_next_job`` set (used
    up here), else the state's own ``per_request_s``."""
    pace = state.next_per_request_s
    state.next_per_request_s = None
    return float(state.per_request_s if pace is None else pace)


class EmulatorApp(EmulatorControlsMixin):
    """An emulator: ``state`` (with ``clock``, ``api_key``, ``error_ids``, ``next_per_request_s``),
    ``faults``, ``requests_seen`` and the ASGI app serving them.

    Subclasses implement :meth:`routes` and :meth:`unauthorized`, declare ``fault_routes``, and may
    override :meth:`request_key`, :meth:`front`, :meth:`fault_body`, :meth:`count_key` and
    :meth:`stats`.
    ``GET /_emulator/stats`` answers :meth:`stats` (no key needed, unless the emulator was
    given one: then every ``/_emulator`` route needs it, sent the way the provider's SDK sends it).
    """

    #: Requests whose path starts with one of these must carry the API key.
    key_prefixes: ClassVar[tuple[str, ...]] = ("/v1/",)

    def __init__(self, state: Any) -> None:
        self.state = state
        self.faults = FaultInjector()
        self.requests_seen: dict[str, int] = {}
        stats = Route("/_emulator/stats", self._stats, methods=["GET"])
        inner = Starlette(routes=[*self.routes(), stats])
        # Counted first: tests assert on what reached the service, faulted and refused requests
        # included; faults fire before the key check, as a real front end's would.
        self.app = counting(
            FaultMiddleware(self._authorize(self.front(inner)), self.faults, self.fault_body),
            self.requests_seen,
            self.count_key,
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # -- what a provider's emulator supplies -----------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """The provider's API routes."""
        raise NotImplementedError

    def unauthorized(self, key: str) -> Response:
        """The provider's answer to a request without a valid key (``key`` is what was sent)."""
        raise NotImplementedError

    def request_key(self, scope: Mapping[str, Any], headers: Mapping[bytes, bytes]) -> str | None:
        """The API key a request carries (``""`` when none), or None when this request needs none.

        Default: ``Authorization: Bearer KEY``.
        """
        auth = headers.get(b"authorization", b"").decode()
        return auth[7:] if auth.lower().startswith("bearer ") else ""

    def front(self, app: Any) -> Any:
        """``app`` behind the checks the provider's front end makes before its routes run (an
        api-version, say), after counting, faults and the key check. Default: none."""
        return app

    def fault_body(self, kind: str, status: int) -> dict[str, Any]:
        """The JSON body of an injected fault's error response."""
        return {"error": {"message": f"emulated {kind}", "code": status}}

    def count_key(self, method: str, path: str) -> str | None:
        """How a request is counted in ``requests_seen`` (None: not counted)."""
        return None if path.startswith("/_emulator") else f"{method} {path}"

    def stats(self) -> dict[str, Any]:
        """What ``GET /_emulator/stats`` answers; subclasses add their own counts."""
        return {
            "requests": dict(self.requests_seen),
            "now": self.state.clock.now(),
            "faults": dict(self.faults.injected),
        }

    def close(self) -> None:
        """Release what the emulator holds on disk (its state's ``close``, where it has one);
        called when a server serving it stops."""
        close = getattr(self.state, "close", None)
        if close is not None:
            close()

    # -- plumbing ---------------------------------------------------------------------------------

    async def _stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    def _authorize(self, app: Any) -> Any:
        prefixes = self.key_prefixes

        async def middleware(scope: Any, receive: Any, send: Any) -> None:
            expected = self.state.api_key
            if (
                scope["type"] == "http"
                and expected is not None
                and scope["path"].startswith("/_emulator")
            ):
                # With a required key, the control routes (faults, clock, stats) need it too: an
                # emulator on a shared machine is steered only by its user.
                headers = dict(scope.get("headers") or [])
                key = (
                    self.request_key(scope, headers)
                    or EmulatorApp.request_key(self, scope, headers)
                    or ""
                )
                if key != expected:
                    await self.unauthorized(key)(scope, receive, send)
                    return
            if scope["type"] == "http" and scope["path"].startswith(prefixes):
                sent = self.request_key(scope, dict(scope.get("headers") or []))
                if sent is not None and (not sent or (expected is not None and sent != expected)):
                    await self.unauthorized(sent)(scope, receive, send)
                    return
            await app(scope, receive, send)

        return middleware
