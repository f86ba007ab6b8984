"""One call from a batch to its results: :func:`run` (synchronous, notebook-safe) and
:func:`run_async`.

    from batch_router_core import run
    results = run(batch.with_params(InferenceParams(provider_id="openai", model_id="gpt-4o-mini")))
    for r in results:
        print(r.custom_id, r.status.value, r.text if r.error is None else r.error.message)

Each call uses a :class:`~batch_router_core.jobs.router.BatchRouter` on the usual state directory,
so the job is in the ledger like any other (``batch-router jobs`` lists it, ``resume`` picks it up
after a crash).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batch_router_core.models.requests import InputBatch
from batch_router_core.models.results import RequestResult

__all__ = ["run", "run_async"]


def _router(
    root: Path | str | None, provider_options: Mapping[str, Mapping[str, Any]] | None, **kw: Any
) -> Any:
    from batch_router_core.jobs.router import BatchRouter

    options = {name: dict(opts) for name, opts in (provider_options or {}).items()}
    return BatchRouter(root=root, provider_options=options, **kw)


async def run_async(
    batch: InputBatch,
    *,
    root: Path | str | None = None,
    provider_options: Mapping[str, Mapping[str, Any]] | None = None,
    poll_interval: float | None = None,
    timeout: float | None = None,
    **router_options: Any,
) -> list[RequestResult]:
    """Run ``batch`` (configured with its provider and model) to its end; every request's result
    in the batch's order. ``provider_options`` per provider name (``api_key``, ``base_url``...);
    other keyword arguments configure the :class:`BatchRouter` (``shard``, ``max_cost``...)."""
    router = _router(root, provider_options, **router_options)
    return await router.run(batch, poll_interval=poll_interval, timeout=timeout)  # type: ignore[no-any-return]


def run(
    batch: InputBatch,
    *,
    root: Path | str | None = None,
    provider_options: Mapping[str, Mapping[str, Any]] | None = None,
    poll_interval: float | None = None,
    timeout: float | None = None,
    **router_options: Any,
) -> list[RequestResult]:
    """:func:`run_async` from synchronous code: a script, or a notebook cell (inside a running
    event loop it runs on a loop of its own in a worker thread)."""
    from batch_router_core.jobs.blocking import run_blocking

    return run_blocking(
        run_async(
            batch,
            root=root,
            provider_options=provider_options,
            poll_interval=poll_interval,
            timeout=timeout,
            **router_options,
        )
    )
