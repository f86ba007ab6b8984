"""The emulation kit refuses a fault-route table it could not honour, when the emulator class is
made."""

from __future__ import annotations

import pytest

from batch_router_core.emulation.controls import FAULT_OPERATIONS, EmulatorControlsMixin


def test_a_good_table_is_accepted() -> None:
    class Emulator(EmulatorControlsMixin):
        fault_routes = {
            "submit": "POST /jobs",
            "poll_status": "GET /jobs/*",
            "fetch_results": "GET /jobs/*/results",
            "cancel": "POST /jobs/*/cancel",
        }

    assert Emulator().fault_operations == ("submit", "poll_status", "fetch_results", "cancel")
    assert set(Emulator.fault_routes) <= set(FAULT_OPERATIONS)


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ({"poll": "GET /jobs/*"}, "unknown operation 'poll'"),
        ({"submit": "/jobs"}, 'is not "METHOD /path"'),
        ({"submit": "post /jobs"}, 'is not "METHOD /path"'),
        ({"cancel": "POST jobs/*/cancel"}, 'is not "METHOD /path"'),
    ],
)
def test_a_bad_table_is_refused_naming_the_entry(routes: dict[str, str], message: str) -> None:
    with pytest.raises(TypeError, match=message) as caught:
        type("Emulator", (EmulatorControlsMixin,), {"fault_routes": routes})
    assert "Emulator.fault_routes" in str(caught.value)
