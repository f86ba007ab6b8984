"""An emulator of the Legacy batch API, built on batch-router's emulation kit.

Jobs run on a controllable clock (a manual one in tests), faults can be injected
(``app.faults.add("GET /jobs/*", "rate_limit")``), requests whose prompt contains "[fail]" (or whose
custom_id is in ``error_ids``) fail, and a job slower than the 24-hour window expires. The
:class:`EmulatorControlsMixin` turns these knobs into the controls batch-router's conformance suite
drives: declare which route each provider operation calls first in ``fault_routes``.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from batch_router_core.emulation.clock import Clock, ManualClock, SystemClock
from batch_router_core.emulation.controls import EmulatorControlsMixin
from batch_router_core.emulation.faults import FaultInjector, FaultMiddleware

PER_REQUEST_SECONDS = 2.5
WINDOW_SECONDS = 86400.0


class Emulator(EmulatorControlsMixin):
    """State plus the ASGI app."""

    fault_routes = {"submit": "POST /jobs", "poll_status": "GET /jobs/*", "cancel": "POST /jobs/*/cancel",
                    "fetch_results": "GET /jobs/*/results"}

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or ManualClock()
        self.error_ids: set[str] = set()
        self.next_per_request_s: float | None = None
        self.jobs: dict[str, dict[str, Any]] = {}
        self.faults = FaultInjector()
        self._ids = itertools.count(1)
        app = Starlette(routes=[
            Route("/jobs", self.create, methods=["POST"]),
            Route("/jobs", self.list, methods=["GET"]),
            Route("/jobs/{id}", self.get, methods=["GET"]),
            Route("/jobs/{id}/cancel", self.cancel, methods=["POST"]),
            Route("/jobs/{id}/results", self.results, methods=["GET"]),
        ])
        self.app = FaultMiddleware(app, self.faults, lambda kind, status: {"error": kind})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def _advance(self, job: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        if job["state"] in ("done", "cancelled", "expired"):
            return job
        run_seconds = job["per_request_s"] * len(job["requests"])
        expired = run_seconds > WINDOW_SECONDS and now - job["created"] >= WINDOW_SECONDS
        if job["state"] == "cancelling" or expired or now - job["created"] >= run_seconds:
            cut = job.get("cancel_at") if job["state"] == "cancelling" else None
            if expired:
                cut = job["created"] + WINDOW_SECONDS
            done = len(job["requests"]) if cut is None else int((cut - job["created"]) / job["per_request_s"])
            results = []
            for i, r in enumerate(job["requests"]):
                if i >= done:
                    results.append({"custom_id": r["custom_id"], "expired" if expired else "cancelled": True})
                elif "[fail]" in r["prompt"] or r["custom_id"] in self.error_ids:
                    results.append({"custom_id": r["custom_id"], "error": "the service rejected this request"})
                else:
                    words = r["prompt"].split()
                    results.append({"custom_id": r["custom_id"], "output": "answer: " + " ".join(words[:20]),
                                    "tokens_in": len(words) + 1, "tokens_out": min(len(words), 20) + 1})
            job["results"] = results
            job["succeeded"] = sum(1 for x in results if "output" in x)
            job["failed"] = sum(1 for x in results if "error" in x)
            job["cancelled"] = sum(1 for x in results if x.get("cancelled"))
            job["expired"] = sum(1 for x in results if x.get("expired"))
            job["state"] = "expired" if expired else "cancelled" if cut is not None else "done"
            job["ended"] = job["created"] + run_seconds if cut is None else cut
        elif now - job["created"] >= 1:
            job["state"] = "running"
        return job

    @staticmethod
    def _public(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if k not in ("requests", "results", "per_request_s")}

    async def create(self, request: Request) -> Response:
        body = await request.json()
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        job = {"id": f"job-{next(self._ids)}", "tag": body.get("tag"), "model": body["model"], "state": "queued",
               "created": self.clock.now(), "total": len(body["requests"]), "succeeded": 0, "failed": 0,
               "requests": body["requests"], "per_request_s": self.next_per_request_s or PER_REQUEST_SECONDS}
        self.next_per_request_s = None
        self.jobs[job["id"]] = job
        return JSONResponse(self._public(job))

    async def list(self, request: Request) -> Response:
        tag = request.query_params.get("tag")
        jobs = [self._public(self._advance(j)) for j in self.jobs.values() if tag in (None, j["tag"])]
        return JSONResponse({"jobs": jobs})

    async def get(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["id"])
        if job is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        return JSONResponse(self._public(self._advance(job)))

    async def cancel(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["id"])
        if job is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        self._advance(job)
        if job["state"] in ("done", "cancelled", "expired"):
            return JSONResponse({"error": "the job has ended"}, status_code=400)
        job["state"], job["cancel_at"] = "cancelling", self.clock.now()
        return JSONResponse(self._public(job))

    async def results(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["id"])
        if job is None or "results" not in self._advance(job):
            return JSONResponse({"error": "not ready"}, status_code=400)
        return Response("\n".join(json.dumps(r) for r in job["results"]) + "\n", media_type="application/jsonl")


def create_app(options: dict[str, Any] | None = None) -> Emulator:
    """The emulator; ``{"speed": N}`` runs it on the wall clock N times faster."""
    speed = (options or {}).get("speed")
    return Emulator(SystemClock(speed=float(speed)) if speed else ManualClock())
