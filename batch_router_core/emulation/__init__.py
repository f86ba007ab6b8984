"""Shared machinery for the local emulators of providers' batch APIs.

Provider plugins build their emulator (an ASGI app) on these pieces: a controllable clock
(:mod:`.clock`), fault injection (:mod:`.faults`) and a server runner (:mod:`.server`) that serves
an app on a loopback port, in a background thread for tests or in the foreground for ``batch-router
emulate``. The web framework (starlette + uvicorn) is the ``emulator`` extra.
"""

from batch_router_core.emulation.clock import Clock, ManualClock, SystemClock

__all__ = ["Clock", "ManualClock", "SystemClock"]
