"""What observer plugins are told about each provider call."""

from __future__ import annotations

import attrs

__all__ = ["ProviderCall"]


@attrs.frozen(kw_only=True)
class ProviderCall:
    """One call of a provider's hook, as observers see it (never the options: they hold keys).

    ``operation`` is the hook's name (``submit``, ``poll_status``, ``fetch_results``, ``cancel``,
    ``find_job``, ``delete_job``, ``execute_now``); ``attempt`` counts from 1 across core's retries
    of the same operation; ``batch_id`` / ``local_id`` say which job, when the call concerns one;
    ``request_count`` is the number of requests sent (``submit``, ``execute_now``);
    ``estimated_cost`` the upper bound of what a ``submit`` may cost (USD, from the job's estimate:
    what a budget plugin checks), None when unknown or for other operations.
    """

    call_id: str
    operation: str
    provider: str
    attempt: int = 1
    batch_id: str | None = None
    local_id: str | None = None
    request_count: int | None = None
    estimated_cost: float | None = None
