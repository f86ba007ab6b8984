"""The synchronous, one-provider API of batch-router's first releases: ``send_batch`` /
``poll_status`` / ``get_results``.

    provider = Provider("openai")  # or a plugin's alias: OpenAIChatCompletionsProvider()
    batch_id = provider.send_batch(batch.with_params(params))
    while not provider.poll_status(batch_id).is_terminal:  # completed, failed, expired, cancelled
        time.sleep(5)
    for request in provider.get_results(batch_id).requests:
        if request.error is None:
            print(request.custom_id, request.messages[0].contents[0].text)
        else:
            print(request.custom_id, "failed:", request.error.message)

It runs the same :class:`~batch_router_core.jobs.router.BatchRouter` (and ledger) underneath; each
call runs the router on a loop of its own, so it works from a plain script and from a notebook
cell alike (inside a running event loop, in a worker thread while the caller waits).
"""

from __future__ import annotations

from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import attrs

from batch_router_core.jobs.blocking import run_blocking
from batch_router_core.jobs.router import BatchRouter
from batch_router_core.models.content import TextContent
from batch_router_core.models.enums import BatchStatus, InputMessageRole, ResultStatus
from batch_router_core.models.messages import InputMessage
from batch_router_core.models.requests import InputBatch
from batch_router_core.models.results import RequestError, RequestResult

__all__ = ["OutputBatch", "OutputRequest", "Provider"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class OutputRequest:
    """One request's outcome in the synchronous API's shape: ``custom_id``, the reply
    ``messages`` (none when the request did not succeed) and, when it did not, ``error``."""

    custom_id: str
    messages: tuple[InputMessage, ...]
    result: RequestResult

    @property
    def error(self) -> RequestError | None:
        """Why the request has no answer (errored, expired, cancelled), or None."""
        if self.result.status is ResultStatus.SUCCEEDED:
            return None
        return self.result.error or RequestError(
            message=f"the request {self.result.status.value}", code=self.result.status.value
        )


@attrs.frozen(kw_only=True)
class OutputBatch:
    """All outcomes of a batch, as ``requests``."""

    requests: tuple[OutputRequest, ...]


def _output(result: RequestResult) -> OutputRequest:
    # An error is never dressed up as the model's answer: a request that did not succeed has no
    # reply message, and its error says why.
    messages: tuple[InputMessage, ...] = ()
    if result.status is ResultStatus.SUCCEEDED and result.text is not None:
        reply = TextContent(text=result.text)
        messages = (InputMessage(role=InputMessageRole.ASSISTANT, contents=(reply,)),)
    return OutputRequest(custom_id=result.custom_id, result=result, messages=messages)


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
        return run_blocking(coro)

    def send_batch(self, batch: InputBatch) -> str:
        """Validate and submit a configured batch; returns its id."""
        if batch.provider != self.name:
            batch = batch.with_params(attrs.evolve(batch.configured_params, provider_id=self.name))
        return self._run(self.router.submit_batch(batch))

    def poll_status(self, batch_id: str) -> BatchStatus:
        """The batch's current status (``.is_terminal`` once it has ended, however it ended)."""
        return self._run(self.router.get_status(batch_id)).status

    def wait(self, batch_id: str, *, timeout: float | None = None) -> BatchStatus:
        """Wait until the batch has ended (completed, failed, expired or cancelled); its final
        status."""
        self._run(self.router.wait_for_all([batch_id], timeout=timeout))
        return self.poll_status(batch_id)

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
