"""Clocks for emulated services: the real one, and one a test moves by hand."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock:
    """Seconds since the epoch, as a float. Subclasses decide where time comes from."""

    def now(self) -> float:
        """The current time in seconds since the epoch."""
        raise NotImplementedError

    def now_dt(self) -> datetime:
        """The current time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), tz=timezone.utc)


class SystemClock(Clock):
    """Wall-clock time, optionally sped up: ``speed=3600`` makes an hour pass in a second."""

    def __init__(self, speed: float = 1.0) -> None:
        self._t0 = time.time()
        self._speed = speed

    def now(self) -> float:
        """Emulated now."""
        return self._t0 + (time.time() - self._t0) * self._speed


class ManualClock(Clock):
    """A clock that only moves when told to: ``advance(86400)`` is a day, instantly."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        """The clock's current time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new time."""
        if seconds < 0:
            raise ValueError("a clock never goes back")
        with self._lock:
            self._now += seconds
            return self._now
