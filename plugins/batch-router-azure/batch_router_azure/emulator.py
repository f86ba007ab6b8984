"""A local emulator of Azure OpenAI's batch API that the unmodified ``AzureOpenAI`` client works
against.

    batch-router emulate azure --port 8080
    AZURE_OPENAI_ENDPOINT=http://127.0.0.1:8080 AZURE_OPENAI_API_KEY=anything \\
        OPENAI_API_VERSION=2024-10-21 python my_pipeline.py

It is the OpenAI emulator where Azure differs: routes under ``/openai`` that answer 404 "Resource
not found" without an ``api-version`` that has them, the key in an ``api-key`` header, endpoints
named without ``/v1``, at most 100,000 requests a file, batches that name a deployment (with the
``deployments`` option, any other name fails validation with ``model_not_found``) and the
synchronous routes under ``/openai/deployments/{deployment}/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from batch_router_core.emulation.base import state_options
from batch_router_core.formats.openai_batch.emulator import EmulatorState, OpenAIEmulator
from batch_router_core.formats.openai_batch.emulator.app import STATE_OPTIONS, json_response

from .plugin import api_version_issue

__all__ = ["AzureEmulator", "create_app"]

#: Azure's batch endpoints and the OpenAI endpoint whose answers each gets.
ENDPOINTS = {"/chat/completions": "/v1/chat/completions", "/embeddings": "/v1/embeddings"}


def _azure_error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status)


class AzureEmulator(OpenAIEmulator):
    """Azure OpenAI's Files and Batches routes and its deployments' synchronous routes."""

    prefix = "/openai"

    def request_key(self, scope: Mapping[str, Any], headers: Mapping[bytes, bytes]) -> str | None:
        """Azure's ``api-key`` header."""
        return headers.get(b"api-key", b"").decode()

    def unauthorized(self, key: str) -> Response:
        """Azure's 401."""
        return _azure_error(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
            "provide a valid key for an active subscription and use a correct regional API "
            "endpoint for your resource.",
        )

    def front(self, app: Any) -> Any:
        """Every ``/openai`` route needs an api-version that has the batch routes: without one
        Azure answers 404 "Resource not found", as for a path it does not serve."""

        async def middleware(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"].startswith("/openai/"):
                query = parse_qs(scope.get("query_string", b"").decode())
                version = (query.get("api-version") or [""])[0]
                if not version or api_version_issue(version):
                    await _azure_error(404, "404", "Resource not found")(scope, receive, send)
                    return
            await app(scope, receive, send)

        return middleware

    def sync_routes(self) -> list[BaseRoute]:
        """Chat completions and embeddings of a deployment."""
        return [
            Route(f"/openai/deployments/{{deployment}}{path}", self.sync_call, methods=["POST"])
            for path in ENDPOINTS
        ]

    def sync_endpoint(self, request: Request) -> str:
        """The OpenAI endpoint of the deployment route called."""
        path = request.url.path.removeprefix(
            f"/openai/deployments/{request.path_params['deployment']}"
        )
        return ENDPOINTS[path]

    async def sync_call(self, request: Request) -> Response:
        """A deployment's synchronous call: the deployment must exist (when deployments were
        given)."""
        known = self.state.known_models
        if known is not None and request.path_params["deployment"] not in known:
            return _azure_error(
                404,
                "DeploymentNotFound",
                "The API deployment for this resource does not exist. If you created the "
                "deployment within the last 5 minutes, please wait a moment and try again.",
            )
        return await super().sync_call(request)


def create_app(options: dict[str, Any] | None = None) -> AzureEmulator:
    """Build the emulator: the OpenAI emulator's options (``speed``, ``api_key``, timings,
    limits) and ``deployments`` (names, a list or comma-separated: the resource's batch
    deployments; none given: any name is taken)."""
    opts = dict(options or {})
    deployments = opts.pop("deployments", None)
    if isinstance(deployments, str):
        deployments = [d.strip() for d in deployments.split(",") if d.strip()]
    kwargs = {"max_requests": 100_000, **state_options(opts, STATE_OPTIONS)}
    return AzureEmulator(EmulatorState(endpoints=ENDPOINTS, known_models=deployments, **kwargs))
