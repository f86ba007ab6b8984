"""Azure OpenAI's Batch API through the ``openai`` SDK's ``AsyncAzureOpenAI`` (entry point
``azure``).

Azure serves OpenAI's Files and Batches API from a resource of its own: everything the two share
is :class:`~batch_router_core.formats.openai_batch.provider.OpenAIStyleProvider`'s. What is
Azure's own:

* **deployments, not models**: the batch's model is the name of a *global batch* or *data-zone
  batch* deployment of the resource (``-m my-gpt-4o-mini-batch``);
* **api-version**: every call carries one (``--option api_version=...``, ``OPENAI_API_VERSION``,
  else the plugin's default); versions before the batch routes existed are refused before
  anything is sent;
* endpoints named without ``/v1`` (``/chat/completions``, ``/embeddings``) in the input lines and
  at create, and the key in an ``api-key`` header (the SDK's business).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from batch_router_core.formats.openai_batch.provider import OpenAIStyleProvider, openai_sdk_errors
from batch_router_core.plugin import (
    InputBatch,
    PreparedPayloads,
    ProviderContext,
    ValidationError,
    hookimpl,
)

__all__ = ["AzureProvider", "api_version_issue"]

#: The first api-version with the batch routes (the preview of 1 July 2024; GA: 2024-10-21).
FIRST_BATCH_VERSION = "2024-07-01"
_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})(-preview)?")


def api_version_issue(version: str) -> str | None:
    """Why ``version`` cannot reach Azure's batch routes, or None when it can."""
    m = _VERSION.fullmatch(version)
    if m is None:
        return f"api_version {version!r} is not an Azure api-version (YYYY-MM-DD or -preview)"
    if m.group(1) < FIRST_BATCH_VERSION:
        return (
            f"api_version {version!r} predates Azure's batch API (first: "
            f"{FIRST_BATCH_VERSION}-preview; GA: 2024-10-21)"
        )
    return None


class AzureProvider(OpenAIStyleProvider):
    """Azure OpenAI's Batch API."""

    name = "azure"
    defaults_package = "batch_router_azure"
    errors = openai_sdk_errors("azure")
    key_env = "AZURE_OPENAI_API_KEY"
    client_options = ("api_key", "azure_endpoint", "base_url", "api_version", "timeout")

    def api_version(self, options: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        """The api-version calls carry: the option, the SDK's environment variable, the
        default."""
        return str(
            options.get("api_version")
            or os.environ.get("OPENAI_API_VERSION")
            or settings["api_version"]
        )

    def build_client(self, options: Mapping[str, Any]) -> Any:
        """An ``AsyncAzureOpenAI`` client; the SDK's own retries are off (core retries)."""
        from openai import AsyncAzureOpenAI

        kwargs = {
            k: options[k] for k in ("api_key", "azure_endpoint", "base_url") if options.get(k)
        }
        return AsyncAzureOpenAI(
            api_version=str(options["api_version"]),
            max_retries=0,
            timeout=float(options.get("timeout") or 600),
            **kwargs,
        )

    def client_settings(self, context: ProviderContext) -> dict[str, Any]:
        """The options, with the api-version resolved (the SDK needs one at construction)."""
        settings = super().client_settings(context)
        settings["api_version"] = self.api_version(context.options, context.info.settings)
        return settings

    def wire_endpoint(self, endpoint: str) -> str:
        """Azure names the endpoints without ``/v1``."""
        return endpoint.removeprefix("/v1")

    def sync_path(self, endpoint: str) -> str:
        """The SDK sends ``/chat/completions`` to ``/deployments/{model}/chat/completions``."""
        return endpoint.removeprefix("/v1")

    @hookimpl
    def check_credentials(self, context: ProviderContext) -> str | None:
        """A key, the resource's endpoint and an api-version that has the batch routes."""
        opts = context.options
        missing = []
        if not (opts.get("api_key") or os.environ.get(self.key_env)):
            missing.append(f"an API key ({self.key_env} or --option api_key=...)")
        if not (
            opts.get("azure_endpoint")
            or opts.get("base_url")
            or os.environ.get("AZURE_OPENAI_ENDPOINT")
        ):
            missing.append(
                "the resource's endpoint (AZURE_OPENAI_ENDPOINT or --option "
                "azure_endpoint=https://RESOURCE.openai.azure.com)"
            )
        issue = api_version_issue(self.api_version(opts, context.info.settings))
        if issue:
            missing.append(f"a batch api-version: {issue}")
        return "; ".join(missing) or None

    @hookimpl
    def prepare_payloads(self, batch: InputBatch, context: ProviderContext) -> PreparedPayloads:
        """The shared lines, once the api-version is known to reach the batch routes."""
        issue = api_version_issue(self.api_version(context.options, context.info.settings))
        if issue:
            raise ValidationError(issue, provider=self.name, field="api_version")
        return super().prepare_payloads(batch, context)

    @hookimpl
    def create_emulator(self, options: Mapping[str, Any]) -> Any:
        """The local Azure OpenAI batch emulator (an ASGI app)."""
        from .emulator import create_app

        return create_app(dict(options))
