"""What a provider declares about itself, and the objects that travel between hooks."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from batch_router_core.errors import ConfigError, UnknownProviderStatusError
from batch_router_core.models.enums import BatchMode, BatchStatus

if TYPE_CHECKING:
    from batch_router_core.models.prices import PriceTable

__all__ = [
    "BatchHandle",
    "Capabilities",
    "PreparedBatch",
    "PreparedPayloads",
    "ProviderInfo",
    "ProviderLimits",
]


def _int_map(m: Mapping[str, int]) -> Mapping[str, int]:
    return {str(k): int(v) for k, v in dict(m).items()}


@attrs.frozen(kw_only=True)
class ProviderLimits:
    """Per-job limits. None means "no limit known"."""

    max_requests: int | None = None
    max_bytes: int | None = None
    max_request_bytes: int | None = None
    one_model_per_batch: bool = True
    custom_id_max_length: int | None = None
    custom_id_pattern: str | None = None
    #: How many of the provider's most recent jobs ``find_job`` looks through for a tag.
    find_job_max_scan: int = 10_000
    #: Model name pattern -> the most input tokens one request may carry (the online path's budget).
    model_input_tokens: Mapping[str, int] = attrs.field(factory=dict, converter=_int_map)
    #: Model name pattern -> the most input tokens that may be queued at once in this provider's
    #: jobs for that model (OpenAI's batch queue limit). Shards are cut to fit it, and no more is
    #: submitted while earlier jobs hold it (estimated: :mod:`batch_router_core.tokens`).
    max_enqueued_tokens: Mapping[str, int] = attrs.field(factory=dict, converter=_int_map)
    #: The most provider jobs of one model running at once; later shards wait for a free place.
    max_jobs_in_flight: int | None = None

    def enqueued_tokens_for(self, model: str) -> int | None:
        """The enqueued-token limit of ``model`` (the first matching pattern), if one is known."""
        for pattern, tokens in self.max_enqueued_tokens.items():
            if fnmatch.fnmatchcase(model, pattern):
                return tokens
        return None


def _content_map(m: Mapping[str, Iterable[str]]) -> Mapping[str, tuple[str, ...]]:
    return {str(k): tuple(v) for k, v in dict(m).items()}


def _default_content() -> Mapping[str, tuple[str, ...]]:
    return {"chat": ("text",)}


def _str_tuple(v: Iterable[str]) -> tuple[str, ...]:
    return tuple(v)


def _modes(v: Iterable[BatchMode | str]) -> tuple[BatchMode, ...]:
    return tuple(BatchMode(m) for m in v)


def _status_map(m: Mapping[str, BatchStatus | str]) -> Mapping[str, BatchStatus]:
    return {str(k): BatchStatus(v) for k, v in dict(m).items()}


def _dict(m: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(m)


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a provider can do and take. Core validates requests against these before any call.

    ``content`` maps a batch mode to the content part types it accepts (``text``, ``image``,
    ``image_url``, ``audio``, ``document``, ``document_url``); ``unsupported_params`` names
    ``InferenceParams`` fields the provider refuses; ``required_params`` those it needs.
    """

    cancel: bool = True
    list_jobs: bool = False
    delete: bool = False
    alternating_roles: bool = False
    first_role_user: bool = False
    content: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=_default_content, converter=_content_map
    )
    unsupported_params: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    required_params: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    max_stop_sequences: int | None = None
    #: ``fetch_results`` yields the same results in the same order every time it is called (results
    #: come from a file): a dropped download then resumes by skipping a count, not a set of ids.
    stable_result_order: bool = False
    #: The shared wire format the provider's request lines are in (``openai_batch``), if any: fields
    #: of that format batch-router has no name for then pass through to the provider untouched.
    wire_format: str | None = None
    #: The provider honours ``InferenceParams.output_schema`` (structured output). Opt-in: a
    #: plugin that does not declare it is refused a schema before anything is sent, rather than
    #: silently dropping it.
    structured_output: bool = False
    #: The provider takes ``InferenceParams.tools`` / ``tool_choice`` and reports tool calls
    #: (opt-in, as ``structured_output``). Tool calls and results inside conversations are content
    #: kinds (``tool_call``, ``tool_result``) in ``content``.
    tools: bool = False
    #: Modes whose ``execute_now`` carries a whole group in one API call (``embedding`` where the
    #: provider embeds many inputs at once); in other modes it makes one call per request. The
    #: online path counts (and prices) calls by it.
    one_call_modes: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    #: Feature -> model patterns (shell-style) that lack it, where a provider's models differ: a
    #: feature is ``structured_output``, ``tools`` or an ``InferenceParams`` field name
    #: (``temperature`` for reasoning models that refuse it). A batch using one on such a model
    #: is refused before anything is sent.
    models_without: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=dict, converter=_content_map
    )

    def model_lacks(self, feature: str, model: str) -> bool:
        """True when ``model`` matches a pattern listed under ``models_without[feature]``."""
        patterns = self.models_without.get(feature) or ()
        return any(fnmatch.fnmatchcase(model, p) for p in patterns)


@attrs.frozen(kw_only=True)
class ProviderInfo:
    """Everything a provider declares: name, modes, models, limits, capabilities, status mapping.

    Plugins build this from the YAML defaults they ship; the registry applies the user's
    ``batch-router.yaml`` overrides on top, so what callers see is the effective configuration.
    """

    name: str
    display_name: str = ""
    modes: tuple[BatchMode, ...] = attrs.field(default=(BatchMode.CHAT,), converter=_modes)
    models: tuple[str, ...] = attrs.field(default=("*",), converter=_str_tuple)
    limits: ProviderLimits = attrs.field(factory=ProviderLimits)
    capabilities: Capabilities = attrs.field(factory=Capabilities)
    status_map: Mapping[str, BatchStatus] = attrs.field(factory=dict, converter=_status_map)
    idempotent_submit: bool = False
    #: Added to the emulator's URL to make the SDK's base URL (e.g. ``/v1`` for an OpenAI-style
    #: SDK).
    emulator_base_path: str = ""
    #: How often to poll this provider's jobs when the user gives no ``--poll-interval`` (a local
    #: engine finishes in seconds; a cloud batch in minutes); None means core's default.
    poll_interval_s: float | None = None
    #: The provider options the plugin reads (``api_key``, ``base_url``...): any other key is
    #: refused with a suggestion, so a typo cannot silently send a batch elsewhere. Empty means
    #: not declared (every key is passed on).
    option_keys: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    #: The environment variables the provider's SDK (and plugin) read, each with the option it
    #: stands for (``{"OPENAI_BASE_URL": "base_url", "OPENAI_API_KEY": "api_key"}``): what
    #: ``batch-router emulate`` prints to point a shell at an emulator.
    env_options: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    #: Plugin-private knobs: core never reads them.
    settings: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    #: List prices per model, as the YAML's ``prices`` section holds them (see
    #: :mod:`batch_router_core.models.prices`); :attr:`price_table` is the parsed form.
    prices: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    _model_re: re.Pattern[str] | None = attrs.field(default=None, init=False, eq=False, repr=False)
    _prices: Any = attrs.field(default=None, init=False, eq=False, repr=False)

    @property
    def price_table(self) -> PriceTable:
        """The provider's prices, parsed once."""
        table = self._prices
        if table is None:
            from batch_router_core.models.prices import PriceTable

            table = PriceTable.from_config(self.prices)
            object.__setattr__(self, "_prices", table)
        return table  # type: ignore[no-any-return]

    def supports_model(self, model: str) -> bool:
        """True when ``model`` matches one of the provider's model patterns (shell-style globs)."""
        rx = self._model_re
        if rx is None:
            rx = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.models) or "(?!)")
            object.__setattr__(self, "_model_re", rx)
        return rx.match(model) is not None

    def check_option_keys(self, keys: Iterable[str]) -> None:
        """Raise :class:`ConfigError` for option keys the provider does not read."""
        if not self.option_keys:
            return
        unknown = [k for k in keys if k not in self.option_keys]
        if not unknown:
            return
        import difflib

        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, self.option_keys, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"unknown option {', '.join(hints)} for provider {self.name}; it reads: "
            f"{', '.join(self.option_keys)}"
        )

    def supports_mode(self, mode: BatchMode) -> bool:
        """True when the provider runs batches of this mode."""
        return mode in self.modes

    def normalize_status(self, raw_status: str) -> BatchStatus:
        """Map a raw provider status through ``status_map``: exact first, then case-insensitive.

        An unknown raw status raises :class:`UnknownProviderStatusError` rather than silently
        becoming a wrong state.
        """
        found = self.status_map.get(raw_status)
        if found is None:
            lowered = raw_status.lower()
            found = next((v for k, v in self.status_map.items() if k.lower() == lowered), None)
        if found is None:
            raise UnknownProviderStatusError(self.name, raw_status, sorted(self.status_map))
        return found


@attrs.frozen(kw_only=True)
class PreparedPayloads:
    """What ``prepare_payloads`` returns: provider-native lines, produced lazily.

    ``lines`` yields one JSON document (bytes, no trailing newline) per request, in input order;
    core writes them to the generated input file as they come, so a large batch is never held in
    memory twice. ``metadata`` is plugin-private data that ``submit`` needs (e.g. the endpoint).
    """

    provider: str
    model: str
    mode: BatchMode
    lines: Iterable[bytes]
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)


@attrs.frozen(kw_only=True)
class PreparedBatch:
    """A batch written to disk in the provider's format, ready for ``submit``.

    ``local_id`` is batch-router's own collision-free id for the job; plugins tag the provider job
    with it (metadata or display name) so it can be found again after a crash.
    """

    provider: str
    local_id: str
    model: str
    mode: BatchMode
    path: Path = attrs.field(converter=Path)
    request_count: int
    byte_size: int
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    #: True when an earlier ``submit`` for this ``local_id`` may have reached the provider (a crash
    #: or a lost answer; the router has already made sure no job was created). A plugin that uploads
    #: input files looks for that attempt's upload and deletes it instead of leaving it behind.
    resubmission: bool = False
    #: The upper bound of what the job may cost (USD), from its estimate; None when unknown.
    estimated_cost: float | None = None

    def iter_lines(self) -> Iterator[bytes]:
        """Stream the provider-native lines back from the file (without newlines)."""
        with self.path.open("rb") as fh:
            for line in fh:
                line = line.rstrip(b"\r\n")
                if line:
                    yield line


@attrs.frozen(kw_only=True)
class BatchHandle:
    """A submitted provider job: enough to poll, fetch and cancel it, even from another process.

    ``batch_id`` is the provider's id; ``local_id`` is batch-router's tag; ``data`` is what the
    plugin needs besides (file ids, endpoint, result locations). All of it is JSON-serialisable and
    holds no secrets, so handles can be stored in the ledger.
    """

    provider: str
    batch_id: str
    local_id: str
    model: str
    mode: BatchMode
    request_count: int
    submitted_at: datetime | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
