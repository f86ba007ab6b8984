"""YAML configuration: plugin defaults, user overrides, and errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_router_core import BatchProviderRegistry, BatchStatus, ConfigError
from batch_router_core.config import apply_overrides, load_provider_defaults, load_user_config
from batch_router_core.errors import UnknownProviderStatusError
from batch_router_core.registry.status import normalize_provider_status


def test_fake_defaults_load_from_package_data() -> None:
    info = load_provider_defaults("batch_router_core.testing", "fake_defaults.yaml")
    assert info.name == "fake"
    assert info.limits.max_requests == 100000
    assert info.status_map["done"] is BatchStatus.COMPLETED
    assert info.supports_model("fake-1") and not info.supports_model("gpt-4o")


def test_user_file_overrides_and_extends(tmp_path: Path) -> None:
    cfg = tmp_path / "batch-router.yaml"
    cfg.write_text(
        "providers:\n"
        "  fake:\n"
        "    extra_models: ['my-model-*']\n"
        "    limits: {max_requests: 10}\n"
        "    status_map: {paused: in_progress}\n"
        "    capabilities: {cancel: false}\n"
    )
    overrides = load_user_config(cfg)
    base = load_provider_defaults("batch_router_core.testing", "fake_defaults.yaml")
    info = apply_overrides(base, overrides["fake"])
    assert info.supports_model("my-model-7") and info.supports_model("fake-1")
    assert info.limits.max_requests == 10 and info.limits.max_bytes == base.limits.max_bytes
    assert info.status_map["paused"] is BatchStatus.IN_PROGRESS
    assert info.status_map["done"] is BatchStatus.COMPLETED  # merged, not replaced
    assert info.capabilities.cancel is False and info.capabilities.first_role_user is True


def test_registry_applies_the_user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "conf.yaml"
    cfg.write_text("providers:\n  fake:\n    status_map: {paused: in_progress}\n")
    monkeypatch.setenv("BATCH_ROUTER_CONFIG", str(cfg))
    reg = BatchProviderRegistry()
    assert normalize_provider_status("fake", "paused", registry=reg) is BatchStatus.IN_PROGRESS
    assert normalize_provider_status(reg.info("fake"), "DONE") is BatchStatus.COMPLETED


def test_unknown_status_is_an_error_never_a_guess() -> None:
    info = load_provider_defaults("batch_router_core.testing", "fake_defaults.yaml")
    with pytest.raises(UnknownProviderStatusError, match="unknown status 'melting'") as exc:
        normalize_provider_status(info, "melting")
    assert "providers.fake.status_map" in str(exc.value)


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (
            "providers:\n  fake:\n    limits: {max_requests: -1}\n",
            "providers.fake.limits.max_requests",
            "a positive integer",
        ),
        (
            "providers:\n  fake:\n    status_map: {x: running}\n",
            "providers.fake.status_map.x",
            "one of",
        ),
        ("providers:\n  fake:\n    colour: blue\n", "providers.fake.colour", "unknown key"),
        (
            "providers:\n  fake:\n    models: gpt-*\n",
            "providers.fake.models",
            "a list of model name",
        ),
        (
            "providers:\n  fake:\n    capabilities: {content: {chat: [video]}}\n",
            "providers.fake.capabilities.content.chat",
            "content kinds",
        ),
        (
            "providers:\n  fake:\n    capabilities: {teleport: true}\n",
            "providers.fake.capabilities.teleport",
            "unknown capability",
        ),
        ("providers:\n  fake:\n    name: other\n", "providers.fake.name", "cannot be changed"),
        ("provider:\n  fake: {}\n", "provider", "expected 'providers'"),
    ],
)
def test_malformed_file_names_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=expected) as exc:
        load_user_config(cfg)
    assert exc.value.key == key and exc.value.path == str(cfg)
    assert str(cfg) in str(exc.value) and key in str(exc.value)


def test_invalid_yaml_syntax_reports_the_position(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.yaml"
    cfg.write_text("providers:\n  fake: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML \(line 3"):
        load_user_config(cfg)


def test_missing_config_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_ROUTER_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_user_config()


def test_no_file_means_no_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCH_ROUTER_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_user_config() == {}


def test_checks_hold_once_the_field_types_are_resolved(tmp_path: Path) -> None:
    """The checks read each field's declared type, whether attrs holds it as a string or, once
    cattrs has resolved the classes, as a real type."""
    import attrs

    from batch_router_core.models.provider import Capabilities, ProviderLimits

    attrs.resolve_types(ProviderLimits)
    attrs.resolve_types(Capabilities)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "providers:\n  fake:\n    limits: {one_model_per_batch: 1}\n"
        "    capabilities: {wire_format: soap}\n"
    )
    with pytest.raises(ConfigError, match="true or false"):
        load_user_config(cfg)
    cfg.write_text("providers:\n  fake:\n    capabilities: {wire_format: soap}\n")
    with pytest.raises(ConfigError, match="openai_batch"):
        load_user_config(cfg)
