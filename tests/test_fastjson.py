"""split_template: spliced lines are byte-for-byte what orjson.dumps writes for the whole
document."""

from __future__ import annotations

import orjson
import pytest

from batch_router_core.plugin.fastjson import SENTINELS, split_template

from .conftest import make_batch

VALUES = ["plain", 'q"uote', "back\\slash", "nl\n\ttab", "é日本🚀", "\x00\x01\x1f", "", "\u2028"]


@pytest.mark.parametrize("value", VALUES)
def test_splice_equals_full_dump(value: str) -> None:
    doc = {"id": SENTINELS[0], "body": {"model": "m", "n": 3, "msgs": [{"c": SENTINELS[1]}]}}
    head, mid, tail = split_template(doc, 2)
    spliced = b"".join((head, orjson.dumps(value + "-id"), mid, orjson.dumps(value), tail))
    full = orjson.dumps(
        {"id": value + "-id", "body": {"model": "m", "n": 3, "msgs": [{"c": value}]}}
    )
    assert spliced == full


def test_fake_provider_fast_and_general_paths_agree(batch_router_registry, fake_service) -> None:  # type: ignore[no-untyped-def]
    from batch_router_core.testing.fake_provider import _body_params, _payload, _system

    fake = batch_router_registry.get("fake", service=fake_service)
    batch = make_batch(5, system_prompt=["a", "b"], max_output_tokens=3, temperature=0.1)
    fast = list(fake.prepare_payloads(batch).lines)
    params = batch.configured_params
    general = [
        orjson.dumps(
            {
                "custom_id": r.custom_id,
                "body": {**_body_params(params), **_payload(r, params.mode, _system(params))},
            }
        )
        for r in batch.requests
    ]
    assert fast == general
