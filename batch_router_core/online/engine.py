"""``BatchEngine``: may this request wait for a batch, in which group, and for how long?"""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs

from batch_router_core.online.config import BatchConfig

__all__ = ["BatchEligibility", "BatchEngine", "LatencyTracker"]


@attrs.frozen(kw_only=True)
class BatchEligibility:
    """The engine's decision for one request."""

    eligible: bool
    reason: str
    batch_group: str | None = None
    max_wait_ms: int = 0


class LatencyTracker:
    """Observed inference latencies per group (exponentially weighted), for the wait computation.

    Until a group has observations the estimate is ``prior_ms``; each observation moves it by
    ``alpha`` of the difference, so the estimate follows the provider's real speed.
    """

    def __init__(self, prior_ms: float = 100.0, alpha: float = 0.2) -> None:
        self.prior_ms = prior_ms
        self.alpha = alpha
        self._ms: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, group: str, latency_ms: float) -> None:
        """Record one execution's latency for ``group``."""
        with self._lock:
            old = self._ms.get(group)
            self._ms[group] = latency_ms if old is None else old + self.alpha * (latency_ms - old)

    def estimate(self, group: str) -> float:
        """The current estimate for ``group`` in milliseconds."""
        with self._lock:
            return self._ms.get(group, self.prior_ms)


class BatchEngine:
    """The eligibility rules.

    Not eligible when the budget is under ``latency_threshold_ms``, the task type is not batchable,
    the prompt is too large (its token estimate over the model's input limit / ``max_batch_size``),
    or no time would be left to wait. Otherwise the group is ``task:model`` and the wait is
    ``min(budget - estimated inference time, max_wait_ms)``.

    :param input_limit: the model's maximum input tokens (from the provider YAML, see
        :func:`input_limit_from_registry`), or None when unknown (then size is not a reason).
    """

    def __init__(
        self,
        config: BatchConfig | None = None,
        *,
        input_limit: Callable[[str], int | None] | None = None,
        latencies: LatencyTracker | None = None,
    ) -> None:
        self.config = config or BatchConfig()
        self.input_limit = input_limit or (lambda model: None)
        self.latencies = latencies or LatencyTracker()

    def estimate_tokens(self, prompt: str) -> int:
        """A tokenizer-free estimate of the prompt's tokens."""
        return int(len(prompt) / self.config.chars_per_token) + 1

    def evaluate(
        self, prompt: str, task_type: str, model: str, latency_budget_ms: int
    ) -> BatchEligibility:
        """Decide for one request."""
        cfg = self.config
        if latency_budget_ms < cfg.latency_threshold_ms:
            return BatchEligibility(
                eligible=False,
                reason=(
                    f"latency budget {latency_budget_ms} ms is under the "
                    f"{cfg.latency_threshold_ms} ms threshold"
                ),
            )
        if task_type not in cfg.eligible_task_types:
            return BatchEligibility(
                eligible=False, reason=f"task type {task_type!r} is not batched"
            )
        limit = self.input_limit(model)
        if limit is not None:
            per_request = limit // cfg.max_batch_size
            tokens = self.estimate_tokens(prompt)
            if tokens > per_request:
                return BatchEligibility(
                    eligible=False,
                    reason=(
                        f"prompt of ~{tokens} tokens exceeds {per_request} ({model}'s {limit} "
                        f"input tokens / "
                        f"max_batch_size {cfg.max_batch_size})"
                    ),
                )
        group = f"{task_type}:{model}"
        wait = int(min(latency_budget_ms - self.latencies.estimate(group), cfg.max_wait_ms))
        if wait <= 0:
            return BatchEligibility(
                eligible=False,
                reason=(
                    f"no time to wait: inference takes ~{self.latencies.estimate(group):.0f} ms of "
                    f"the "
                    f"{latency_budget_ms} ms budget"
                ),
            )
        return BatchEligibility(
            eligible=True, reason="eligible", batch_group=group, max_wait_ms=wait
        )


def input_limit_from_registry(registry: object) -> Callable[[str], int | None]:
    """A model -> max input tokens lookup from the providers' YAML (``limits.model_input_tokens``:
    a mapping of model pattern -> tokens, the first match of each provider), for
    :class:`BatchEngine`: the online path's size rule is active for every model declared there."""
    import fnmatch

    from batch_router_core.registry import BatchProviderRegistry

    assert isinstance(registry, BatchProviderRegistry)
    tables: list[list[tuple[str, int]]] = []
    for record in registry.providers():
        assert record.info is not None
        limits = record.info.limits.model_input_tokens
        tables.append([(str(pattern), int(tokens)) for pattern, tokens in limits.items()])

    def lookup(model: str) -> int | None:
        # The first matching pattern of each provider; where two providers' patterns both match
        # the name, the smaller limit (a limit too small only sends a request at once).
        found = [
            next((t for p, t in table if fnmatch.fnmatchcase(model, p)), None) for table in tables
        ]
        known = [t for t in found if t is not None]
        return min(known) if known else None

    return lookup
