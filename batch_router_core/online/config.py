"""Settings of the online batching policy (its fields and defaults)."""

from __future__ import annotations

import attrs

from batch_router_core.errors import ValidationError

__all__ = ["BatchConfig"]


def _positive(inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValidationError(f"must be >= 1, got {value}", field=attribute.name)


@attrs.frozen(kw_only=True)
class BatchConfig:
    """How requests are grouped and flushed.

    ``min_batch_size`` / ``max_batch_size`` bound a group; ``max_wait_ms`` caps how long any request
    waits; requests whose budget is under ``latency_threshold_ms`` never wait; only
    ``eligible_task_types`` are batched. ``tick_ms`` is how often the scheduler looks at the queue
    (50 ms would also do; a smaller tick wastes less of each budget).
    """

    min_batch_size: int = attrs.field(default=2, validator=_positive)
    max_batch_size: int = attrs.field(default=10, validator=_positive)
    max_wait_ms: int = attrs.field(default=500, validator=_positive)
    latency_threshold_ms: int = 200
    eligible_task_types: tuple[str, ...] = attrs.field(
        default=("summarization", "faq", "translation"), converter=tuple
    )
    tick_ms: float = 5.0
    #: characters per token for the prompt-size estimate (no tokenizer dependency)
    chars_per_token: float = 4.0

    def __attrs_post_init__(self) -> None:
        if self.min_batch_size > self.max_batch_size:
            raise ValidationError(
                "min_batch_size cannot exceed max_batch_size", field="min_batch_size"
            )
