"""Enumerations shared by every provider: who, what kind of batch, and where it stands."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["BatchMode", "BatchStatus", "InputMessageRole", "ProviderId", "ResultStatus"]


class ProviderId(StrEnum):
    """The first-party providers. Third-party plugins use their own names as plain strings."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GOOGLE = "google"
    VLLM = "vllm"


class BatchMode(StrEnum):
    """What a batch asks for: chat turns, raw completions, embeddings, or a provider-specific
    body."""

    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"
    CUSTOM = "custom"


class InputMessageRole(StrEnum):
    """Who speaks a message. The system prompt is not a message: see
    ``InferenceParams.system_prompt``."""

    USER = "user"
    ASSISTANT = "assistant"


class BatchStatus(StrEnum):
    """A provider job's state, normalised across providers (provider statuses map here via YAML)."""

    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """True once the job will never change again."""
        return self in _TERMINAL

    @property
    def rank(self) -> int:
        """Progress order: a job's status never moves to a lower rank."""
        return _RANK[self]


_TERMINAL = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLED, BatchStatus.EXPIRED}
)
_RANK = {
    BatchStatus.VALIDATING: 0,
    BatchStatus.IN_PROGRESS: 1,
    # finalizing and cancelling are both "on the way out": either may follow the other.
    BatchStatus.FINALIZING: 2,
    BatchStatus.CANCELLING: 2,
    BatchStatus.COMPLETED: 3,
    BatchStatus.FAILED: 3,
    BatchStatus.CANCELLED: 3,
    BatchStatus.EXPIRED: 3,
}


class ResultStatus(StrEnum):
    """The outcome of one request inside a batch."""

    SUCCEEDED = "succeeded"
    ERRORED = "errored"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
