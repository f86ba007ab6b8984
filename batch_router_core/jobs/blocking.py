"""Running a coroutine to completion from synchronous code, wherever that code runs.

``asyncio.run`` refuses to start inside a running event loop, which is where a notebook (Jupyter,
IPython) runs every cell. :func:`run_blocking` runs the coroutine on a fresh loop of its own: in
this thread when none is running, else in a worker thread while this one waits, so synchronous
calls work the same in a script, a notebook or an async application's callback.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_blocking"]

T = TypeVar("T")


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result (or its exception), run on a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller's thread as is
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="batch-router-blocking", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
