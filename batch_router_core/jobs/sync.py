"""The synchronous, one-provider API of batch-router's first releases: ``send_batch`` /
``poll_status`` / ``get_results``.

    provider = Provider("openai")  # or a plugin's alias: OpenAIChatCompletionsProvider()
    batch_id = provider.send_batch(batch.with_params(params))
    while provider.poll_status(batch_id) != BatchStatus.COMPLETED:
        time.sleep(5)
    for request in provider.get_results(batch_id).requests:
        print(request.custom_id, request.messages[0].contents[0].text)

It runs the same :class:`~batch_router_core.jobs.router.BatchRouter` (and ledger) underneath; each
call runs the router on its own event loop, so it works from any plain script.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import attrs

from batch_router_core.jobs.router import BatchRouter
from batch_router_core.models.content import TextContent
from batch_router_core.models.enums import BatchStatus, InputMessageRole
from batch_router_core.models.messages import InputMessage
from batch_router_core.models.requests import InputBatch
from batch_router_core.models.results import RequestResult

__all__ = ["OutputBatch", "OutputRequest", "Provider"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class OutputRequest:
    """One request's outcome in the synchronous API's shape: ``custom_id`` and the reply
    ``messages``."""

    custom_id: str
    messages: tuple[InputMessage, ...]
    result: RequestResult


@attrs.frozen(kw_only=True)
class OutputBatch:
    """All outcomes of a batch, as ``requests``."""

    requests: tuple[OutputRequest, ...]


def _output(result: RequestResult) -> OutputRequest:
    text = (
        result.text
        if result.text is not None
        else (result.error.message if result.error is not None else "")
    )
    return OutputRequest(
        custom_id=result.custom_id,
        result=result,
        messages=(
            InputMessage(role=InputMessageRole.ASSISTANT, contents=(TextContent(text=text),)),
        ),
    )


class Provider:
    """A synchronous handle to one provider, with the batch-router ledger underneath.

    :param name: the provider (``"openai"``, ``"google"``...).
    :param root: the state directory (default: ``$BATCH_ROUTER_STATE_DIR``, else per user).
    :param options: provider options (``api_key``, ``base_url``...), else the SDK's environment.
    """

    provider_name: str = ""

    def __init__(
        self, name: str | None = None, *, root: Path | str | None = None, **options: Any
    ) -> None:
        self.name = name or self.provider_name
        if not self.name:
            raise TypeError("Provider needs a provider name")
        self.router = BatchRouter(
            root=root,
            initial_interval=1.0,
            max_interval=30.0,
            provider_options={self.name: options},
        )
        self.router.get_provider(self.name)  # fail now if it is not installed

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run(coro)

    def send_batch(self, batch: InputBatch) -> str:
        """Validate and submit a configured batch; returns its id."""
        if batch.provider != self.name:
            batch = batch.with_params(attrs.evolve(batch.configured_params, provider_id=self.name))
        return self._run(self.router.submit_batch(batch))

    def poll_status(self, batch_id: str) -> BatchStatus:
        """The batch's current status."""
        return self._run(self.router.get_status(batch_id)).status

    def get_results(self, batch_id: str) -> OutputBatch:
        """Every request's outcome (the batch must have ended)."""

        async def collect() -> OutputBatch:
            return OutputBatch(
                requests=tuple([_output(r) async for r in self.router.get_results(batch_id)])
            )

        return self._run(collect())

    def cancel_batch(self, batch_id: str) -> bool:
        """Cancel the batch."""
        return self._run(self.router.cancel_batch(batch_id))
