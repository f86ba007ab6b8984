"""A job's cost as commands show it: the estimate made before it was sent, and the actual cost
of the usage its results reported, priced at the same batch rates."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from batch_router_core.cost.estimate import CostEstimate
from batch_router_core.models.prices import Rates, usage_cost

__all__ = ["JobCost", "cost_line", "estimate_line", "job_cost", "usd"]


def usd(amount: float | None) -> str:
    """``$0.0123`` (four decimals under a dollar, two above), or ``unknown``."""
    if amount is None:
        return "unknown"
    return f"${amount:.4f}" if abs(amount) < 1 else f"${amount:,.2f}"


@attrs.frozen(kw_only=True)
class JobCost:
    """What a job was estimated to cost and what its results say it cost (USD).

    ``actual`` sums the provider jobs whose results reported usage (``priced`` of them); it is None
    when none has, or when a provider job's model had no known price.
    """

    estimate: CostEstimate | None
    actual: float | None
    priced: int
    provider_jobs: int
    #: input tokens the results reported (all attempts), None before any did
    input_tokens: int | None = None

    def to_data(self) -> dict[str, Any]:
        """JSON-ready, as ``--json`` prints it."""
        return {
            "estimate": None if self.estimate is None else self.estimate.to_data(),
            "actual": self.actual,
            "provider_jobs_priced": self.priced,
            "provider_jobs": self.provider_jobs,
            "input_tokens": self.input_tokens,
        }


def job_cost(provider_jobs: Iterable[Any]) -> JobCost:
    """The cost of a job from its provider jobs' ledger records (``estimate``, ``usage``).

    The estimate is the first attempt's (what was planned); the actual cost counts every attempt,
    retries included, since each was billed.
    """
    jobs = list(provider_jobs)
    estimate = CostEstimate.total(
        CostEstimate.from_data(j.estimate) for j in jobs if j.estimate and not j.attempt
    )
    actual: float | None = 0.0
    priced = 0
    reported = [j.usage.prompt_tokens for j in jobs if j.usage is not None]
    for job in jobs:
        if job.usage is None:
            continue
        rates = (job.estimate or {}).get("rates")
        if rates is None:
            actual = None  # a price we do not know is not zero
            continue
        priced += 1
        if actual is not None:
            actual += usage_cost(job.usage, Rates(**rates), job.request_count)
    return JobCost(
        estimate=estimate,
        actual=actual if priced or actual is None else None,
        priced=priced,
        provider_jobs=len(jobs),
        input_tokens=sum(reported) if reported else None,
    )


def estimate_line(est: CostEstimate, model: str) -> str:
    """One line of text: the estimate, the upper bound and the saving against synchronous calls."""
    tokens = f"{est.input_tokens:,} input tokens ({est.method})"
    if est.cost_expected is None:
        return f"estimated cost: unknown (no price for {model}); {tokens}"
    bound = usd(est.cost_max) if est.cost_max is not None else "unbounded (no max output tokens)"
    return (
        f"estimated cost: {usd(est.cost_expected)} at batch prices, at most {bound}; "
        f"{usd(est.sync_cost_expected)} one by one (saving {usd(est.saving)}); {tokens}, "
        f"~{est.output_tokens_expected:,} output tokens expected; prices of {est.prices_as_of}"
    )


def cost_line(cost: JobCost) -> str | None:
    """One line of text: the actual cost beside the estimate, or None when there is neither."""
    est = cost.estimate
    if cost.actual is None and est is None:
        return None
    parts = []
    if cost.priced:
        parts.append(f"cost {usd(cost.actual)}")
        if cost.priced < cost.provider_jobs:
            parts[-1] += f" ({cost.priced} of {cost.provider_jobs} provider jobs reported)"
    if est is not None:
        parts.append(f"estimated {usd(est.cost_expected)} (at most {usd(est.cost_max)})")
        if cost.input_tokens is not None:
            parts.append(f"input tokens {cost.input_tokens:,} (estimated {est.input_tokens:,})")
    return "; ".join(parts) if parts else None
