"""Validation before any network call, driven by what a provider declares in ``provider_info``.

The providers' rules, generalised: message order where a provider requires it, content a
provider (or a mode) cannot take, required and unsupported params, limits, duplicate and malformed
``custom_id``s. Every problem names the ``custom_id`` and the field, and all problems are collected
(up to a cap) so a user can fix an input file in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from batch_router_core.errors import UnsupportedContentError, ValidationError, ValidationIssue
from batch_router_core.models.content import (
    AudioContent,
    DocumentContent,
    ImageContent,
    TextContent,
)
from batch_router_core.models.enums import InputMessageRole
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.provider import ProviderInfo
from batch_router_core.models.requests import InputBatch, InputRequest

__all__ = ["MAX_ISSUES", "content_kind", "validate_batch"]

#: Validation stops collecting after this many problems (the count is still reported).
MAX_ISSUES = 1000


def content_kind(part: object) -> str:
    """The capability name of a content part: text, image, image_url, audio, document..."""
    if type(part) is TextContent:
        return "text"
    if isinstance(part, ImageContent):
        return "image" if part.data is not None else "image_url"
    if isinstance(part, AudioContent):
        return "audio" if part.data is not None else "audio_url"
    if isinstance(part, DocumentContent):
        return "document" if part.data is not None else "document_url"
    kind = getattr(part, "type", None)  # tool_call, tool_result
    return kind if isinstance(kind, str) else type(part).__name__


def _param_issues(
    info: ProviderInfo, params: InferenceParams, custom_id: str | None, *, required: bool = True
) -> list[ValidationIssue]:
    caps = info.capabilities
    issues = []
    for name in caps.unsupported_params:
        if getattr(params, name, None) is not None:
            issues.append(
                ValidationIssue(
                    f"{info.name} does not support {name}; remove it (or pass a provider-specific "
                    "equivalent in provider_kwargs)",
                    custom_id=custom_id,
                    field=f"params.{name}",
                )
            )
    if (params.tools is not None or params.tool_choice is not None) and not caps.tools:
        issues.append(
            ValidationIssue(
                f"{info.name} does not declare tools (capabilities.tools): remove tools and "
                "tool_choice or pick a provider that has them",
                custom_id=custom_id,
                field="params.tools",
            )
        )
    if params.output_schema is not None and not caps.structured_output:
        issues.append(
            ValidationIssue(
                f"{info.name} does not declare structured output (capabilities."
                "structured_output): remove output_schema or pick a provider that has it",
                custom_id=custom_id,
                field="params.output_schema",
            )
        )
    if caps.models_without:
        issues.extend(_model_issues(info, params, custom_id))
    for name in caps.required_params if required else ():
        if getattr(params, name, None) is None:
            issues.append(
                ValidationIssue(
                    f"{info.name} requires {name}; set it in InferenceParams",
                    custom_id=custom_id,
                    field=f"params.{name}",
                )
            )
    if caps.max_stop_sequences is not None and params.stop_sequences is not None:
        if len(params.stop_sequences) > caps.max_stop_sequences:
            issues.append(
                ValidationIssue(
                    f"{info.name} accepts at most {caps.max_stop_sequences} stop sequences, "
                    f"got {len(params.stop_sequences)}",
                    custom_id=custom_id,
                    field="params.stop_sequences",
                )
            )
    return issues


def _uses(params: InferenceParams, feature: str) -> bool:
    if feature == "structured_output":
        return params.output_schema is not None
    if feature == "tools":
        return params.tools is not None or params.tool_choice is not None
    return getattr(params, feature, None) is not None


def _model_issues(
    info: ProviderInfo, params: InferenceParams, custom_id: str | None
) -> list[ValidationIssue]:
    """What the request's model, among the provider's, cannot do."""
    model = params.model_id
    if model is None:
        return []
    field = {"structured_output": "output_schema"}
    return [
        ValidationIssue(
            f"{info.name} model {model!r} does not support {feature} "
            f"(capabilities.models_without.{feature})",
            custom_id=custom_id,
            field=f"params.{field.get(feature, feature)}",
        )
        for feature in info.capabilities.models_without
        if _uses(params, feature) and info.capabilities.model_lacks(feature, str(model))
    ]


class _Collector:
    def __init__(self) -> None:
        self.issues: list[ValidationIssue] = []
        self.total = 0
        self.content_only = True

    def add(self, issue: ValidationIssue, *, content: bool = False) -> None:
        self.total += 1
        self.content_only = self.content_only and content
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(issue)


def validate_batch(batch: InputBatch, info: ProviderInfo) -> None:
    """Check a configured batch against a provider's declared rules; raise if anything is wrong.

    Raises :class:`ValidationError` (or :class:`UnsupportedContentError` when the only problems are
    content parts) listing every problem found, each naming ``custom_id`` and field.
    """
    params = batch.configured_params
    out = _Collector()
    if str(params.provider_id) != info.name:
        out.add(
            ValidationIssue(
                f"batch is configured for {params.provider_id!r}, not {info.name!r}",
                field="params.provider_id",
            )
        )
    if not info.supports_mode(params.mode):
        out.add(
            ValidationIssue(
                f"{info.name} does not run {params.mode.value} batches "
                f"(supported: {', '.join(m.value for m in info.modes)})",
                field="params.mode",
            )
        )
    model = str(params.model_id)
    if not info.supports_model(model):
        out.add(
            ValidationIssue(
                f"model {model!r} is not supported by {info.name} (patterns: "
                f"{', '.join(info.models)}); "
                f"add it under providers.{info.name}.extra_models in batch-router.yaml "
                "if it is new",
                field="params.model_id",
            )
        )
    limits = info.limits
    n = len(batch.requests)
    if n == 0:
        out.add(ValidationIssue("the batch has no requests", field="requests"))
    if limits.max_requests is not None and n > limits.max_requests:
        out.add(
            ValidationIssue(
                f"{n} requests exceed {info.name}'s limit of {limits.max_requests} per batch "
                "(split the batch, or let the router shard it)",
                field="requests",
            )
        )
    for issue in _param_issues(info, params, None, required=False):
        out.add(issue)
    # A required setting the batch lacks is a problem only if some request lacks it too.
    for name in info.capabilities.required_params:
        if getattr(params, name, None) is None and any(
            r.params is None or getattr(r.params, name, None) is None for r in batch.requests
        ):
            for issue in _param_issues(info, params, None):
                if issue.field == f"params.{name}":
                    out.add(issue)
    _validate_requests(batch.requests, batch, info, out)
    if out.total:
        issues = list(out.issues)
        if out.total > len(issues):
            issues.append(
                ValidationIssue(f"... {out.total - len(issues)} more problem(s) not listed")
            )
        cls = UnsupportedContentError if out.content_only else ValidationError
        raise cls(issues, provider=info.name)


def _validate_requests(
    requests: Sequence[InputRequest], batch: InputBatch, info: ProviderInfo, out: _Collector
) -> None:
    caps = info.capabilities
    mode = batch.mode
    allowed = frozenset(caps.content.get(mode.value, ("text",)))
    _check_ids(requests, info, out)
    batch_model = batch.configured_params.model_id
    batch_provider = batch.configured_params.provider_id
    text_ok = "text" in allowed
    first_user = caps.first_role_user
    alternate = caps.alternating_roles
    USER = InputMessageRole.USER
    # The loop below runs once per request of batches of 50,000+: the common case (no overrides,
    # text parts) costs a few type checks; anything unusual drops into the detailed checks.
    for req in requests:
        if req.params is not None:
            _check_request_params(req, batch, info, batch_model, batch_provider, out)
        msgs = req.messages
        if first_user and msgs[0].role is not USER:
            out.add(
                ValidationIssue(
                    f"{info.name} requires the first message to be from the user",
                    custom_id=req.custom_id,
                    field="messages[0].role",
                )
            )
        if text_ok and (not alternate or len(msgs) == 1):
            # Fast path: all-text conversations need no per-part bookkeeping (and one message
            # cannot break alternation).
            for msg in msgs:
                if msg.provider_kwargs is not None:
                    break
                for part in msg.contents:
                    if type(part) is not TextContent or part.provider_kwargs is not None:
                        break
                else:
                    continue
                break
            else:
                continue
        _check_messages(req, info, mode.value, allowed, alternate, out)


def _check_messages(
    req: InputRequest,
    info: ProviderInfo,
    mode: str,
    allowed: frozenset[str],
    alternate: bool,
    out: _Collector,
) -> None:
    accepted = ", ".join(sorted(allowed))
    prev = None
    for mi, msg in enumerate(req.messages):
        if alternate:
            if msg.role is prev:
                out.add(
                    ValidationIssue(
                        f"{info.name} requires user and assistant messages to alternate; messages "
                        f"{mi} and {mi + 1} are both {msg.role.value}",
                        custom_id=req.custom_id,
                        field=f"messages[{mi}].role",
                    )
                )
            prev = msg.role
        if mode != "chat" and msg.provider_kwargs is not None:
            out.add(_no_kwargs_issue(req.custom_id, mode, f"messages[{mi}].provider_kwargs"))
        for ci, part in enumerate(msg.contents):
            if mode != "chat" and part.provider_kwargs is not None:
                where = f"messages[{mi}].contents[{ci}].provider_kwargs"
                out.add(_no_kwargs_issue(req.custom_id, mode, where))
            if type(part) is TextContent and "text" in allowed:
                continue
            kind = content_kind(part)
            if kind not in allowed:
                out.add(
                    ValidationIssue(
                        f"{info.name} cannot take {kind} content in {mode} batches (accepted: "
                        f"{accepted})",
                        custom_id=req.custom_id,
                        field=f"messages[{mi}].contents[{ci}]",
                    ),
                    content=True,
                )


def _no_kwargs_issue(custom_id: str, mode: str, field: str) -> ValidationIssue:
    return ValidationIssue(
        f"a {mode} request is sent as one text, so provider_kwargs on its messages and parts "
        "have nowhere to go (put them in params.provider_kwargs)",
        custom_id=custom_id,
        field=field,
    )


def _check_ids(requests: Sequence[InputRequest], info: ProviderInfo, out: _Collector) -> None:
    limits = info.limits
    # Uniqueness needs one set entry per request (about 40 bytes each): the only part of
    # validation whose memory grows with the batch. The other whole-batch checks run in C and only
    # a batch that fails one is scanned id by id.
    if len({r.custom_id for r in requests}) != len(requests):
        first: dict[str, int] = {}
        for index, cid in enumerate(r.custom_id for r in requests):
            seen = first.setdefault(cid, index)
            if seen != index:
                out.add(
                    ValidationIssue(
                        f"duplicate custom_id (first used by request #{seen + 1}); custom_ids must "
                        f"be "
                        "unique within a batch",
                        custom_id=cid,
                        field="custom_id",
                    )
                )
    id_max = limits.custom_id_max_length
    ids = (
        [r.custom_id for r in requests]
        if (limits.custom_id_max_length is not None or limits.custom_id_pattern)
        else []
    )
    if id_max is not None and ids and max(map(len, ids)) > id_max:
        for cid in ids:
            if len(cid) > id_max:
                out.add(
                    ValidationIssue(
                        f"custom_id is {len(cid)} characters; {info.name} allows at most {id_max}",
                        custom_id=cid,
                        field="custom_id",
                    )
                )
    if limits.custom_id_pattern and ids:
        pattern = limits.custom_id_pattern
        # A regex pass over ids joined by newlines (which the pattern cannot match) runs in C; it
        # goes in chunks so the matcher's state stays small. Only a chunk with a bad id is scanned
        # id by id, to name it.
        whole = re.compile(f"(?:{pattern})(?:\n(?:{pattern}))*").fullmatch
        if all(
            whole("\n".join(ids[i : i + 512])) is not None for i in range(0, len(ids), 512)
        ) and not any("\n" in cid for cid in ids):
            return
        match = re.compile(pattern).fullmatch
        for cid in ids:
            if match(cid) is None:
                out.add(
                    ValidationIssue(
                        f"custom_id must match {limits.custom_id_pattern} for {info.name}",
                        custom_id=cid,
                        field="custom_id",
                    )
                )


def _check_request_params(
    req: InputRequest,
    batch: InputBatch,
    info: ProviderInfo,
    batch_model: str | None,
    batch_provider: object,
    out: _Collector,
) -> None:
    rp = req.params
    assert rp is not None
    cid = req.custom_id
    if rp.model_id is not None and rp.model_id != batch_model and info.limits.one_model_per_batch:
        out.add(
            ValidationIssue(
                f"{info.name} takes one model per batch ({batch_model!r}); this request asks "
                f"for {rp.model_id!r}",
                custom_id=cid,
                field="params.model_id",
            )
        )
    if rp.output_schema is not None:
        # Replies are checked against the batch's schema when they come back: one per batch.
        out.add(
            ValidationIssue(
                "output_schema is set on the batch, not per request (every reply of a batch is "
                "checked against the batch's schema)",
                custom_id=cid,
                field="params.output_schema",
            )
        )
    if rp.provider_id is not None and rp.provider_id != batch_provider:
        out.add(
            ValidationIssue(
                f"a request cannot change its batch's provider ({batch_provider})",
                custom_id=cid,
                field="params.provider_id",
            )
        )
    # The request's own settings; the batch's were checked once, and requirements batch-wide.
    for issue in _param_issues(info, rp, cid, required=False):
        out.add(issue)
