"""YAML configuration: each plugin's shipped defaults, and the user's file that overrides them.

A plugin ships a YAML file as package data describing itself::

    name: openai
    display_name: OpenAI Batch API
    modes: [chat, embedding]
    models: ["gpt-*", "text-embedding-*"]
    limits: {max_requests: 50000, max_bytes: 209715200}
    capabilities: {cancel: true, content: {chat: [text, image, image_url]}}
    status_map: {validating: validating, in_progress: in_progress, ...}
    settings: {...}            # plugin-private knobs

A user file (``$BATCH_ROUTER_CONFIG``, else ``./batch-router.yaml``) overrides any of it per
provider; mappings merge key by key, lists replace, and ``extra_models`` extends ``models``::

    providers:
      openai:
        extra_models: ["my-finetune-*"]
        limits: {max_requests: 1000}
        status_map: {some_new_status: in_progress}

Files are read with the safe loader and checked: a bad file raises
:class:`~batch_router_core.errors.ConfigError` naming the file, the key and what was expected.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import yaml

from batch_router_core.errors import ConfigError
from batch_router_core.models.enums import BatchMode, BatchStatus
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.provider import Capabilities, ProviderInfo, ProviderLimits

__all__ = [
    "CONFIG_ENV",
    "apply_overrides",
    "info_from_mapping",
    "load_provider_defaults",
    "load_user_config",
]

#: Environment variable naming the user's configuration file.
CONFIG_ENV = "BATCH_ROUTER_CONFIG"
DEFAULT_CONFIG_NAME = "batch-router.yaml"

#: Cross-cutting knobs that 0.1 plugins kept under ``settings``: lifted to their typed place, with a
#: warning.
_LEGACY_SETTINGS = {
    "emulator_base_path": (),
    "poll_interval_s": (),
    "find_job_max_scan": ("limits",),
    "model_input_tokens": ("limits",),
}
_CONTENT_KINDS = (
    "text",
    "image",
    "image_url",
    "audio",
    "audio_url",
    "document",
    "document_url",
    "tool_call",
    "tool_result",
)
#: Values a string field accepts, where they are a closed set.
_CHOICES: dict[str, tuple[str, ...]] = {"wire_format": ("openai_batch",)}


def _read_yaml(path: str, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(
            f"not valid YAML{where}: {getattr(exc, 'problem', exc)}", path=path
        ) from None


def _expect(cond: bool, path: str, key: str, expected: str, got: Any) -> None:
    if not cond:
        raise ConfigError(f"expected {expected}, got {got!r}", path=path, key=key)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(path: str, key: str, name: str, kind: str, value: Any) -> None:
    """Check one value against its attrs field's declared type (``kind``, the annotation)."""
    if kind == "bool":
        _expect(isinstance(value, bool), path, key, "true or false", value)
    elif kind in ("int", "int | None"):
        ok = (value is None and kind.endswith("None")) or (_is_int(value) and value > 0)
        expected = "a positive integer" + (" or null" if kind.endswith("None") else "")
        _expect(ok, path, key, expected, value)
    elif kind in ("float | None", "float"):
        ok = (value is None and kind.endswith("None")) or (
            isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        )
        _expect(ok, path, key, "a positive number" + (" or null" if value is None else ""), value)
    elif kind in ("str", "str | None"):
        choices = _CHOICES.get(name)
        if choices is not None:
            _expect(
                value is None or value in choices,
                path,
                key,
                f"one of {list(choices)} or null",
                value,
            )
        else:
            _expect(
                isinstance(value, str) or (value is None and kind.endswith("None")),
                path,
                key,
                "a string" + (" or null" if kind.endswith("None") else ""),
                value,
            )
    elif kind == "tuple[str, ...]":
        _expect(
            isinstance(value, list) and all(isinstance(x, str) for x in value),
            path,
            key,
            "a list of option names"
            if name == "option_keys"
            else "a list of InferenceParams field names",
            value,
        )
    elif kind == "Mapping[str, int]":
        _expect(
            isinstance(value, dict) and all(_is_int(n) and n > 0 for n in value.values()),
            path,
            key,
            "a mapping model pattern -> positive count",
            value,
        )
    elif kind == "Mapping[str, str]":
        _expect(
            isinstance(value, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()),
            path,
            key,
            "a mapping of names to names",
            value,
        )
    elif name == "models_without":
        features = ("structured_output", "tools", *(f.name for f in attrs.fields(InferenceParams)))
        _expect(isinstance(value, dict), path, key, "a mapping feature -> model patterns", value)
        for feature, patterns in value.items():
            _expect(
                feature in features,
                path,
                f"{key}.{feature}",
                f"a feature from {sorted(features)}",
                feature,
            )
            _expect(
                isinstance(patterns, list) and all(isinstance(x, str) for x in patterns),
                path,
                f"{key}.{feature}",
                "a list of model patterns",
                patterns,
            )
    elif kind == "Mapping[str, tuple[str, ...]]":  # capabilities.content
        _expect(isinstance(value, dict), path, key, "a mapping mode -> part kinds", value)
        for mode, kinds in value.items():
            _expect(
                isinstance(kinds, list) and all(x in _CONTENT_KINDS for x in kinds),
                path,
                f"{key}.{mode}",
                f"a list of content kinds from {sorted(_CONTENT_KINDS)}",
                kinds,
            )
    else:  # a field type this checker does not know yet: fail loudly in development
        raise TypeError(f"no configuration check for {name}: {kind}")


def _type_text(annotation: Any) -> str:
    """A field's type as its annotation reads (attrs keeps the string until something, such as
    cattrs, resolves the class's types)."""
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("collections.abc.", "").replace("typing.", "")


def _check_fields(path: str, key: str, cls: type, what: str, data: Any) -> None:
    """Check a mapping against the fields of the attrs class ``cls`` (limits, capabilities): the
    names and types come from the class itself, so a new field is checked without a new rule."""
    _expect(isinstance(data, dict), path, key, "a mapping", data)
    fields = {f.name: f for f in attrs.fields(cls)}
    for name, value in data.items():
        field = fields.get(name)
        if field is None:
            raise ConfigError(
                f"unknown {what}; expected one of {sorted(fields)}", path=path, key=f"{key}.{name}"
            )
        _check_value(path, f"{key}.{name}", name, _type_text(field.type), value)


#: The top-level keys besides limits and capabilities, and the type each must have.
_TOP: dict[str, str] = {
    "name": "name",
    "display_name": "name",
    "modes": "modes",
    "models": "models",
    "extra_models": "models",
    "idempotent_submit": "bool",
    "emulator_base_path": "str",
    "poll_interval_s": "float | None",
    "option_keys": "tuple[str, ...]",
    "env_options": "Mapping[str, str]",
    "settings": "mapping",
    "status_map": "status_map",
    "prices": "prices",
}
_TOP_KEYS = {*_TOP, "limits", "capabilities"}


def _check_section(path: str, prefix: str, data: Any, *, partial: bool) -> None:
    """Check one provider's mapping (a plugin's defaults, or a user's override of them)."""
    _expect(isinstance(data, dict), path, prefix or "<top>", "a mapping", data)
    for key, value in data.items():
        k = f"{prefix}.{key}" if prefix else str(key)
        if key == "limits":
            _check_fields(path, k, ProviderLimits, "limit", value)
            continue
        if key == "capabilities":
            _check_fields(path, k, Capabilities, "capability", value)
            continue
        kind = _TOP.get(key)
        if kind is None:
            raise ConfigError(f"unknown key; expected one of {sorted(_TOP_KEYS)}", path=path, key=k)
        if kind == "name":
            _expect(isinstance(value, str) and bool(value), path, k, "a non-empty string", value)
        elif kind == "modes":
            modes = [m.value for m in BatchMode]
            _expect(
                isinstance(value, list) and all(m in modes for m in value),
                path,
                k,
                f"a list of modes from {modes}",
                value,
            )
        elif kind == "models":
            _expect(
                isinstance(value, list) and all(isinstance(m, str) and m for m in value),
                path,
                k,
                "a list of model name patterns (strings, * and ? wildcards)",
                value,
            )
        elif kind == "mapping":
            _expect(isinstance(value, dict), path, k, "a mapping", value)
        elif kind == "prices":
            _expect(isinstance(value, dict), path, k, "a mapping (as_of, source, models...)", value)
            from batch_router_core.models.prices import PriceTable

            try:
                PriceTable.from_config(value, where=k)
            except ConfigError as exc:
                raise ConfigError(exc.message, path=path, key=exc.key) from None
        elif kind == "status_map":
            _expect(isinstance(value, dict), path, k, "a mapping of raw status -> status", value)
            statuses = [s.value for s in BatchStatus]
            for raw, norm in value.items():
                _expect(norm in statuses, path, f"{k}.{raw}", f"one of {statuses}", norm)
        else:
            _check_value(path, k, str(key), kind, value)
    if not partial:
        for required in ("name", "status_map"):
            if required not in data:
                raise ConfigError("required key is missing", path=path, key=required)


def _lift_legacy_settings(d: dict[str, Any]) -> None:
    settings = dict(d.get("settings") or {})
    for key, where in _LEGACY_SETTINGS.items():
        if key not in settings:
            continue
        value = settings.pop(key)
        target = d
        for part in where:
            target = target.setdefault(part, {})
        place = ".".join((*where, key))
        warnings.warn(
            f"provider {d.get('name')!r}: settings.{key} is now {place} (typed); the old place "
            "goes away in 0.3",
            DeprecationWarning,
            stacklevel=4,
        )
        target.setdefault(key, value)
    if "settings" in d:
        d["settings"] = settings


def info_from_mapping(data: Mapping[str, Any]) -> ProviderInfo:
    """Build a ProviderInfo from an already-checked mapping."""
    d = dict(data)
    if "limits" in d:
        d["limits"] = dict(d["limits"])
    _lift_legacy_settings(d)
    models = list(d.pop("models", ["*"])) + list(d.pop("extra_models", []))
    limits = ProviderLimits(**d.pop("limits", {}))
    caps = Capabilities(**d.pop("capabilities", {}))
    return ProviderInfo(models=tuple(models), limits=limits, capabilities=caps, **d)


def load_provider_defaults(package: str, resource: str = "defaults.yaml") -> ProviderInfo:
    """Load a plugin's shipped YAML defaults (package data) into a ProviderInfo.

    Plugins call this from their ``provider_info`` hook. Errors name the packaged file.
    """
    ref = resources.files(package).joinpath(resource)
    label = f"{package}/{resource}"
    try:
        text = ref.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read packaged defaults: {exc}", path=label) from None
    data = _read_yaml(label, text)
    _check_section(label, "", data, partial=False)
    return info_from_mapping(data)


def _to_mapping(info: ProviderInfo) -> dict[str, Any]:
    """The info as the plain data a YAML file would hold (every init field: nothing is forgotten
    when a field is added), for merging a user's overrides into."""
    return attrs.asdict(info, filter=lambda field, _: field.init)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def apply_overrides(info: ProviderInfo, overrides: Mapping[str, Any] | None) -> ProviderInfo:
    """The provider's info with a user's (already checked) override section applied."""
    if not overrides:
        return info
    base = _to_mapping(info)
    over = dict(overrides)
    extra = list(over.pop("extra_models", []))
    merged = _merge(base, over)
    merged["models"] = list(merged["models"]) + extra
    merged["name"] = info.name  # a provider's name is its plugin's, not configurable
    return info_from_mapping(merged)


def find_user_config(cwd: Path | None = None) -> Path | None:
    """The user's configuration file: ``$BATCH_ROUTER_CONFIG``, else ``./batch-router.yaml``."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise ConfigError(f"{CONFIG_ENV} points to a file that does not exist", path=str(p))
        return p
    p = (cwd or Path.cwd()) / DEFAULT_CONFIG_NAME
    return p if p.is_file() else None


def load_user_config(path: Path | str | None = None) -> dict[str, dict[str, Any]]:
    """Read and check the user's file; returns the per-provider override sections.

    With no ``path``, looks where :func:`find_user_config` does; no file means no overrides.
    """
    p = Path(path) if path is not None else find_user_config()
    if p is None:
        return {}
    label = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=label) from None
    data = _read_yaml(label, text)
    if data is None:
        return {}
    _expect(isinstance(data, dict), label, "<top>", "a mapping with a 'providers' key", data)
    unknown = set(data) - {"providers"}
    if unknown:
        raise ConfigError("unknown key; expected 'providers'", path=label, key=sorted(unknown)[0])
    providers = data.get("providers") or {}
    _expect(
        isinstance(providers, dict), label, "providers", "a mapping name -> settings", providers
    )
    out: dict[str, dict[str, Any]] = {}
    for name, section in providers.items():
        _check_section(label, f"providers.{name}", section, partial=True)
        if "name" in section:
            raise ConfigError(
                "a provider's name cannot be changed", path=label, key=f"providers.{name}.name"
            )
        out[str(name)] = dict(section)
    return out
