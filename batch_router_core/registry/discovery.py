"""``BatchProviderRegistry``: finds provider plugins through entry points and hands out typed
handles.

Discovery is lazy: nothing is imported until a registry is asked for providers. Each registry owns
its own :class:`pluggy.PluginManager` (there is no global one). A plugin that fails to import,
claims a name another plugin already has, or implements a hook wrongly is recorded as a load error
naming it; the other plugins still load, and asking for the broken one raises that error.

Environment variables:

* ``BATCH_ROUTER_PLUGINS`` - comma-separated allow-list of entry-point names; only these load.
* ``BATCH_ROUTER_BLOCK_PLUGINS`` - comma-separated names that never load.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy

from batch_router_core import hookspecs
from batch_router_core.config import apply_overrides, load_user_config
from batch_router_core.credentials import credentials_for
from batch_router_core.errors import (
    DuplicateProviderError,
    PluginLoadError,
    PluginValidationError,
    ProviderNotFoundError,
)
from batch_router_core.files import GeneratedFiles
from batch_router_core.models.provider import ProviderInfo
from batch_router_core.registry.handle import ProviderHandle
from batch_router_core.registry.observers import CallObservers
from batch_router_core.registry.records import PluginRecord
from batch_router_core.retry import RetryPolicy

__all__ = [
    "ALLOW_ENV",
    "BLOCK_ENV",
    "ENTRY_POINT_GROUP",
    "BatchProviderRegistry",
    "PluginRecord",
]

ENTRY_POINT_GROUP = "batch_router"
ALLOW_ENV = "BATCH_ROUTER_PLUGINS"
BLOCK_ENV = "BATCH_ROUTER_BLOCK_PLUGINS"

#: The hooks every provider plugin must implement.
REQUIRED_HOOKS = (
    "provider_info",
    "prepare_payloads",
    "submit",
    "poll_status",
    "fetch_results",
    "cancel",
)


def _env_names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


class BatchProviderRegistry:
    """The installed provider plugins, discovered on demand, and handles to call them.

    :param autoload: discover the ``batch_router`` entry-point group on first use. Tests pass
        ``False`` and :meth:`register` the plugins they want.
    :param config_path: the user's YAML file (default: ``$BATCH_ROUTER_CONFIG`` or
        ``./batch-router.yaml``); ``overrides`` gives the same data directly.
    :param files: where generated files go (default: the state directory, see
        :func:`~batch_router_core.files.default_state_dir`).
    :param retry: the retry policy for provider calls.
    """

    def __init__(
        self,
        *,
        autoload: bool = True,
        config_path: Path | str | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        files: GeneratedFiles | None = None,
        retry: RetryPolicy | None = None,
        group: str = ENTRY_POINT_GROUP,
    ) -> None:
        self._autoload = autoload
        self._config_path = config_path
        self._overrides = overrides
        self.files = files or GeneratedFiles()
        self.retry = retry or RetryPolicy.default()
        self._group = group
        self._pm: pluggy.PluginManager | None = None
        self._records: dict[str, PluginRecord] = {}
        self._errors: dict[str, PluginLoadError] = {}
        self._user: dict[str, dict[str, Any]] | None = None

    # -- loading ---------------------------------------------------------------------------------

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """This registry's own plugin manager (created, and plugins discovered, on first use)."""
        if self._pm is None:
            pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
            pm.add_hookspecs(hookspecs)
            self._pm = pm
            if self._autoload:
                self._load_entry_points()
        return self._pm

    def _user_overrides(self) -> dict[str, dict[str, Any]]:
        if self._user is None:
            if self._overrides is not None:
                self._user = {k: dict(v) for k, v in self._overrides.items()}
            else:
                self._user = load_user_config(self._config_path)
        return self._user

    def _load_entry_points(self) -> None:
        allow = _env_names(ALLOW_ENV)
        block = _env_names(BLOCK_ENV) or set()
        for ep in sorted(metadata.entry_points(group=self._group), key=lambda e: e.name):
            if (allow is not None and ep.name not in allow) or ep.name in block:
                continue
            dist = getattr(ep, "dist", None)
            dist_name = dist.name if dist is not None else None
            version = dist.version if dist is not None else None
            label = f"{ep.name} ({ep.value}" + (
                f", from {dist_name} {version})" if dist_name else ")"
            )
            try:
                plugin = ep.load()
            except Exception as exc:  # any import failure must not stop the other plugins
                self._errors[ep.name] = PluginLoadError(
                    label, f"import failed: {type(exc).__name__}: {exc}"
                )
                continue
            if inspect.isclass(plugin):
                try:
                    plugin = plugin()
                except Exception as exc:
                    self._errors[ep.name] = PluginLoadError(
                        label, f"could not instantiate: {type(exc).__name__}: {exc}"
                    )
                    continue
            try:
                self._add(plugin, ep.name, dist_name, version, ep.value)
            except PluginLoadError as exc:
                self._errors[ep.name] = exc

    def _add(
        self,
        plugin: Any,
        name: str,
        distribution: str | None,
        version: str | None,
        entry_point: str | None,
    ) -> PluginRecord:
        pm = self._pm
        assert pm is not None
        label = name if entry_point is None else f"{name} ({entry_point})"
        if name in self._records:
            first = self._records[name]
            raise DuplicateProviderError(
                name, first.entry_point or first.name, entry_point or label
            )
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginValidationError(label, str(exc)) from None
        except ValueError as exc:  # pluggy: plugin object or name already registered
            raise PluginLoadError(label, str(exc)) from None
        try:
            record = self._inspect(plugin, name, label, distribution, version, entry_point)
        except PluginLoadError:
            pm.unregister(plugin)
            raise
        self._records[name] = record
        return record

    def _inspect(
        self,
        plugin: Any,
        name: str,
        label: str,
        distribution: str | None,
        version: str | None,
        entry_point: str | None,
    ) -> PluginRecord:
        pm = self._pm
        assert pm is not None
        implemented: set[str] = set()
        for caller in pm.get_hookcallers(plugin) or []:
            if not caller.has_spec():
                raise PluginValidationError(
                    label,
                    f"implements unknown hook {caller.name!r}; known hooks: "
                    f"{', '.join(sorted(_spec_names()))}",
                )
            implemented.add(caller.name)
        if "provider_info" not in implemented:
            # A cross-cutting plugin: it may only wrap the operations.
            return PluginRecord(
                name=name,
                plugin=plugin,
                distribution=distribution,
                version=version,
                entry_point=entry_point,
            )
        missing = [h for h in REQUIRED_HOOKS if h not in implemented]
        if missing:
            raise PluginValidationError(
                label, f"provider plugin lacks hook(s): {', '.join(missing)}"
            )
        impl = next(i for i in pm.hook.provider_info.get_hookimpls() if i.plugin is plugin)
        try:
            info = impl.function()
        except Exception as exc:
            raise PluginLoadError(
                label, f"provider_info() failed: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(info, ProviderInfo):
            raise PluginValidationError(
                label, f"provider_info() must return ProviderInfo, got {type(info).__name__}"
            )
        if info.name != name:
            raise PluginValidationError(
                label,
                f"provider_info().name is {info.name!r} but the plugin is registered as {name!r}",
            )
        for other in self._records.values():
            if other.info is not None and other.info.name == info.name:
                raise DuplicateProviderError(info.name, other.entry_point or other.name, label)
        return PluginRecord(
            name=name,
            plugin=plugin,
            distribution=distribution,
            version=version,
            entry_point=entry_point,
            info=apply_overrides(info, self._user_overrides().get(name)),
        )

    # -- public API -----------------------------------------------------------------------------

    def register(
        self,
        plugin: Any,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginRecord:
        """Register a plugin object by hand (a provider, or a wrapper plugin).

        ``name`` defaults to the provider's ``provider_info().name`` (required for wrappers).
        Raises the same typed errors as discovery does.
        """
        self.plugin_manager  # noqa: B018 - make sure the manager and discovered plugins exist
        if name is None:
            fn = getattr(plugin, "provider_info", None)
            if fn is None:
                raise PluginLoadError(repr(plugin), "a wrapper plugin needs an explicit name")
            name = fn().name
        return self._add(plugin, name, distribution, version, None)

    def unregister(self, name: str) -> None:
        """Remove a plugin by name (no-op if absent)."""
        record = self._records.pop(name, None)
        if record is not None:
            self.plugin_manager.unregister(record.plugin)

    @property
    def load_errors(self) -> Mapping[str, PluginLoadError]:
        """Plugins that failed to load, by entry-point name, with why."""
        self.plugin_manager  # noqa: B018
        return dict(self._errors)

    def records(self) -> list[PluginRecord]:
        """Every loaded plugin, providers and wrappers, sorted by name."""
        self.plugin_manager  # noqa: B018
        return sorted(self._records.values(), key=lambda r: r.name)

    def providers(self) -> list[PluginRecord]:
        """The loaded provider plugins, sorted by name."""
        return [r for r in self.records() if r.is_provider]

    def names(self) -> list[str]:
        """The names of the available providers."""
        return [r.name for r in self.providers()]

    def record(self, name: str) -> PluginRecord:
        """The record of one provider; raises the load error or ProviderNotFoundError."""
        self.plugin_manager  # noqa: B018
        rec = self._records.get(str(name))
        if rec is not None and rec.is_provider:
            return rec
        if str(name) in self._errors:
            raise self._errors[str(name)]
        raise ProviderNotFoundError(str(name), self.names())

    def info(self, name: str) -> ProviderInfo:
        """The effective (defaults + user overrides) info of one provider."""
        info = self.record(name).info
        assert info is not None
        return info

    def get(self, name: str, **options: Any) -> ProviderHandle:
        """A typed handle to one provider; ``options`` (api_key, base_url...) go to its hooks."""
        record = self.record(str(name))
        # Keys from the user's credentials file, under what the caller passed.
        options = {**credentials_for(str(name)), **options}
        self.info(str(name)).check_option_keys(options)
        return ProviderHandle(
            record,
            options,
            callers=lambda hook: self.subset_caller(hook, record),
            observers=CallObservers(self.plugin_manager.hook),
            retry=self.retry,
            files=self.files,
        )

    def subset_caller(self, hook: str, record: PluginRecord) -> pluggy.HookCaller:
        """A hook caller reaching only ``record``'s provider plugin, plus every wrapper plugin."""
        others: Iterable[Any] = (
            r.plugin for r in self._records.values() if r.is_provider and r is not record
        )
        return self.plugin_manager.subset_hook_caller(hook, others)


def _spec_names() -> set[str]:
    return {
        n for n, v in vars(hookspecs).items() if callable(v) and hasattr(v, "batch_router_spec")
    }
