"""The one error tree of batch-router.

Everything the library raises on purpose derives from :class:`BatchRouterError`. The split between
:class:`ProviderTransientError` and :class:`ProviderPermanentError` is the retry contract: core
retries the first (honouring ``retry_after``) and never the second. Plugins map their SDK's
exceptions onto these classes so that no provider SDK exception ever escapes a plugin.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BatchFailedError",
    "BatchRouterError",
    "BatchTimeoutError",
    "ConfigError",
    "CostLimitError",
    "DuplicateProviderError",
    "BatchTooLargeError",
    "FileOperationError",
    "FileTooLargeError",
    "JobFilesMissingError",
    "PluginLoadError",
    "PluginValidationError",
    "ProviderError",
    "ProviderNotFoundError",
    "ProviderPermanentError",
    "ProviderTransientError",
    "UnknownProviderStatusError",
    "UnsupportedContentError",
    "UnsupportedOperationError",
    "UnverifiedCandidatesError",
    "ValidationError",
    "ValidationIssue",
]


class BatchRouterError(Exception):
    """Root of every error batch-router raises on purpose."""


# -- configuration and plugins ------------------------------------------------------------------


class ConfigError(BatchRouterError):
    """A YAML configuration file is malformed: names the file, the key and what was expected."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        self.message = message
        where = ""
        if path:
            where += f"{path}: "
        if key:
            where += f"{key}: "
        super().__init__(f"{where}{message}")


class PluginLoadError(BatchRouterError):
    """A plugin could not be imported or registered. The other plugins still load."""

    def __init__(self, plugin: str, reason: str) -> None:
        self.plugin = plugin
        self.reason = reason
        super().__init__(f"plugin {plugin!r} failed to load: {reason}")


class PluginValidationError(PluginLoadError):
    """A plugin implements a hook with a wrong signature or an unknown hook name."""


class DuplicateProviderError(PluginLoadError):
    """Two plugins claim the same provider name."""

    def __init__(self, name: str, first: str, second: str) -> None:
        self.name = name
        self.first = first
        self.second = second
        BatchRouterError.__init__(
            self,
            f"provider name {name!r} is claimed by two plugins: {first!r} and {second!r}; "
            "uninstall one or block it with BATCH_ROUTER_BLOCK_PLUGINS",
        )
        self.plugin = second
        self.reason = "duplicate provider name"


class ProviderNotFoundError(BatchRouterError):
    """No installed (and allowed) plugin provides the requested provider."""

    def __init__(self, provider: str, available: list[str] | tuple[str, ...] = ()) -> None:
        self.provider = provider
        self.available = tuple(available)
        installed = ", ".join(sorted(self.available)) or "none"
        super().__init__(
            f"provider {provider!r} is not installed (installed providers: {installed}); "
            f"install its plugin, e.g. `pip install batch-router-{provider}`"
        )


# -- validation -----------------------------------------------------------------------------------


class ValidationIssue:
    """One problem found in the input: where it is and what was expected.

    ``custom_id`` and ``field`` locate the problem inside a request; ``path`` and ``line`` locate it
    inside an input file when the request came from one.
    """

    __slots__ = ("custom_id", "field", "line", "message", "path")

    def __init__(
        self,
        message: str,
        *,
        custom_id: str | None = None,
        field: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.custom_id = custom_id
        self.field = field
        self.path = path
        self.line = line

    def __str__(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(f"{self.path}:{self.line}" if self.line is not None else self.path)
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.custom_id is not None:
            parts.append(f"custom_id={self.custom_id!r}")
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        prefix = ", ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message

    def __repr__(self) -> str:
        return f"ValidationIssue({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ValidationIssue):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, s) for s in self.__slots__))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for ``--json`` output."""
        return {s: getattr(self, s) for s in self.__slots__ if getattr(self, s) is not None}


class ValidationError(BatchRouterError, ValueError):
    """The input is not acceptable. Raised before any network call, so nothing was spent.

    Carries every :class:`ValidationIssue` found (not just the first), so a user fixes a file in one
    pass. ``str()`` lists the first few.
    """

    _SHOWN = 10

    def __init__(
        self,
        issues: ValidationIssue | str | list[ValidationIssue],
        *,
        provider: str | None = None,
        custom_id: str | None = None,
        field: str | None = None,
    ) -> None:
        if isinstance(issues, str):
            issues = [ValidationIssue(issues, custom_id=custom_id, field=field)]
        elif isinstance(issues, ValidationIssue):
            issues = [issues]
        self.issues: list[ValidationIssue] = list(issues)
        self.provider = provider
        head = f"[{provider}] " if provider else ""
        lines = [str(i) for i in self.issues[: self._SHOWN]]
        more = len(self.issues) - self._SHOWN
        if more > 0:
            lines.append(f"... and {more} more problem(s)")
        if len(lines) == 1:
            text = head + lines[0]
        else:
            text = head + f"{len(self.issues)} problems in the input:\n  " + "\n  ".join(lines)
        super().__init__(text)

    @property
    def custom_id(self) -> str | None:
        """The ``custom_id`` of the first issue, if any."""
        return self.issues[0].custom_id if self.issues else None

    @property
    def field(self) -> str | None:
        """The field of the first issue, if any."""
        return self.issues[0].field if self.issues else None


class UnsupportedContentError(ValidationError):
    """A content part (image, audio, document...) the chosen provider or endpoint cannot take."""


class FileOperationError(BatchRouterError):
    """A generated or input file could not be read or written, or a line of it is malformed."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class JobFilesMissingError(FileOperationError):
    """A recorded provider job's input or request file is not on this machine and its ledger
    keeps no copy (a SQLite ledger is one machine's): the job is left for a process that can read
    it."""


class FileTooLargeError(FileOperationError):
    """A file being written would exceed ``limit`` bytes (the partial file was removed)."""

    def __init__(self, limit: int, *, path: str | None = None) -> None:
        self.limit = limit
        super().__init__(f"exceeds the limit of {limit} bytes", path=path)


class BatchTooLargeError(ValidationError):
    """The batch, once converted, is over the provider's ``limit`` bytes per job: split it (the
    router shards on it when sharding is on)."""

    def __init__(self, message: str, *, limit: int, provider: str | None = None) -> None:
        self.limit = limit
        super().__init__(message, provider=provider, field="requests")


# -- provider calls -------------------------------------------------------------------------------


class ProviderError(BatchRouterError):
    """A provider call failed. ``retryable`` says whether trying again can help."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        batch_id: str | None = None,
    ) -> None:
        self.provider = provider
        self.status_code = status_code
        self.code = code
        self.batch_id = batch_id
        head = f"[{provider}] " if provider else ""
        detail = f" (HTTP {status_code})" if status_code is not None else ""
        super().__init__(f"{head}{message}{detail}")


class ProviderTransientError(ProviderError):
    """Rate limits, 5xx, timeouts, dropped connections: core retries these with backoff.

    ``retry_after`` (seconds) is the provider's own hint, honoured by the retry policy.
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ProviderPermanentError(ProviderError):
    """Authentication, bad request, unknown model, not found: never retried."""

    retryable = False


class UnsupportedOperationError(ProviderPermanentError):
    """The provider does not offer this operation (e.g. cancel, or listing jobs)."""


class UnknownProviderStatusError(ProviderPermanentError):
    """A raw provider status has no mapping in the YAML configuration.

    Raised rather than guessing: a wrong normalised status could make a caller stop polling a
    running job or download results too early. Map it in ``batch-router.yaml`` under
    ``providers.<name>.status_map``.
    """

    def __init__(self, provider: str, raw_status: str, known: list[str]) -> None:
        self.raw_status = raw_status
        self.known = tuple(known)
        super().__init__(
            f"unknown status {raw_status!r} (known: {', '.join(known)}); add it to "
            f"providers.{provider}.status_map in batch-router.yaml",
            provider=provider,
        )


# -- batch outcomes -------------------------------------------------------------------------------


class UnverifiedCandidatesError(BatchRouterError):
    """``find_job`` found provider jobs that may be the one looked for but cannot prove which.

    Raised by plugins whose jobs carry no tag (their match is by size and creation time). The router
    then waits for every candidate to end and adopts one only if its results hold exactly the
    job's ``custom_id``s; meanwhile it never creates the job again.
    """

    def __init__(self, message: str, candidates: Any, *, provider: str | None = None) -> None:
        self.candidates = tuple(candidates)
        self.provider = provider
        super().__init__(message)


class BatchTimeoutError(BatchRouterError):
    """A batch did not reach a terminal status within the allowed time."""

    def __init__(self, batch_id: str, timeout: float) -> None:
        self.batch_id = batch_id
        self.timeout = timeout
        super().__init__(f"batch {batch_id} did not finish within {timeout:g}s")


class CostLimitError(BatchRouterError):
    """A job's upper-bound cost estimate is over the cap it was given: nothing was sent.

    ``estimate`` is the job's :class:`~batch_router_core.cost.CostEstimate`; ``cap`` the limit
    (USD). An estimate without an upper bound (no max output tokens, no known price) is refused
    too: an unbounded cost cannot be shown to be under a cap.
    """

    def __init__(self, message: str, *, estimate: Any, cap: float) -> None:
        self.estimate = estimate
        self.cap = cap
        super().__init__(message)


class BatchFailedError(BatchRouterError):
    """A batch ended FAILED as a whole (e.g. the provider rejected its input file)."""

    def __init__(self, batch_id: str, details: Any = None) -> None:
        self.batch_id = batch_id
        self.details = details
        super().__init__(f"batch {batch_id} failed: {details}")
