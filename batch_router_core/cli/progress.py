"""What a person sees while a job runs: one redrawn status line on a terminal, plain lines in logs.

On a terminal the line is redrawn every second (so the elapsed time and the next check move even
while the provider reports nothing new), and every notice or log record is printed above it
instead of breaking it. When stderr is not a terminal (cron, CI, a pipe), a line is printed when
something changes, and at least every ``heartbeat_s`` so a log shows the job is still being
watched. Nothing is printed with ``quiet`` (``--json``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click

__all__ = ["Display", "LogToDisplay", "active_display", "format_duration", "neutralize"]

_CLEAR = "\r\x1b[2K"
_active: Display | None = None


def active_display() -> Display | None:
    """The display currently drawing, if any (notices and log records are printed through it)."""
    return _active


def format_duration(seconds: float) -> str:
    """``59s``, ``4m05s``, ``2h03m``: short enough for a status line."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def neutralize(text: str) -> str:
    """``text`` with control characters (terminal escape sequences included) made visible, so that
    model output printed to a terminal cannot move the cursor, recolour or retitle it."""
    return "".join(
        ch
        if ch.isprintable() or ch == " "
        else f"\\x{ord(ch):02x}"
        if ord(ch) < 0x100
        else f"\\u{ord(ch):04x}"
        for ch in text
    )


class Display:
    """The progress of one or more jobs, as one line.

    :param label: the phase (``waiting``, ``results``, ``resuming``).
    :param next_check: returns the monotonic time of the router's next poll, or None.
    """

    def __init__(
        self,
        *,
        quiet: bool,
        label: str,
        next_check: Callable[[], float | None] | None = None,
        stream: TextIO | None = None,
        heartbeat_s: float = 15.0,
    ) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = not quiet and self.stream.isatty()
        self.label = label
        self._next_check = next_check
        self._heartbeat_s = heartbeat_s
        self._start = time.monotonic()
        self._jobs: dict[str, Any] = {}
        self._done_items: int | None = None
        self._total_items = 0
        self._last_plain = ""
        self._last_plain_at = 0.0
        self._drawn = False

    # -- what is shown --------------------------------------------------------------------------

    def status(self, st: Any) -> None:
        """A job's latest status (a :class:`~batch_router_core.jobs.status.JobStatus`)."""
        self._jobs[st.job_id] = st
        self.refresh()

    def items(self, done: int, total: int) -> None:
        """Progress through items that are not requests of a status (results being written)."""
        self._done_items, self._total_items = done, total
        self.refresh()

    def line(self) -> str:
        """The status line as it stands now."""
        elapsed = format_duration(time.monotonic() - self._start)
        if self._done_items is not None:
            done, total, extra = self._done_items, self._total_items, ""
            phase = self.label
        else:
            jobs = list(self._jobs.values())
            counts = [j.request_counts for j in jobs]
            done = sum(c.done for c in counts)
            total = sum(c.total for c in counts)
            failed = sum(c.errored + c.expired + c.cancelled for c in counts)
            statuses = sorted({j.status.value for j in jobs}) or ["starting"]
            phase = f"{self.label} {'/'.join(statuses)}"
            ids = [p.batch_id for j in jobs for p in j.provider_jobs if p.batch_id]
            extra = f", {failed} errored" if failed else ""
            if ids:
                extra += f"  {ids[0]}" + (f" +{len(ids) - 1}" if len(ids) > 1 else "")
        parts = [f"{phase}  {_bar(done, total)} {done}/{total} done{extra}", f"elapsed {elapsed}"]
        due = self._next_check() if self._next_check is not None else None
        if due is not None and self._done_items is None:
            parts.append(f"next check in {format_duration(due - time.monotonic())}")
        return "  ".join(parts)

    # -- drawing --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Redraw (terminal) or print the line if it changed or the heartbeat is due (plain)."""
        if self.quiet:
            return
        line = self.line()
        if self.tty:
            width = _width()
            self.stream.write(_CLEAR + line[: width - 1])
            self.stream.flush()
            self._drawn = True
            return
        # Plain lines leave out the clock, so that they change only when the job does; items
        # (a million results being written) count as changed every tenth of the way, not per item.
        core = line.split("  elapsed ", 1)[0]
        if self._done_items is not None:
            core = f"{self.label} {self._done_items * 10 // max(1, self._total_items)}"
        now = time.monotonic()
        if core != self._last_plain or now - self._last_plain_at >= self._heartbeat_s:
            self._last_plain, self._last_plain_at = core, now
            self.stream.write(line + "\n")
            self.stream.flush()

    def echo(self, message: str) -> None:
        """Print a line above the status line (which is then redrawn)."""
        if self.tty and self._drawn:
            self.stream.write(_CLEAR)
        self.stream.write(message + "\n")
        self.stream.flush()
        if self.tty and self._drawn:
            self.refresh()

    def close(self) -> None:
        """Leave the final line in place and move to the next one."""
        if self.tty and self._drawn:
            self.refresh()
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False

    @contextmanager
    def shown(self) -> Iterator[Display]:
        """Make this the active display while the block runs (no ticker: see :meth:`ticking`)."""
        global _active
        previous, _active = _active, self
        try:
            yield self
        finally:
            _active = previous
            self.close()

    async def tick(self) -> None:
        """Redraw every second until cancelled (terminal), or every heartbeat (plain)."""
        while True:
            await asyncio.sleep(1.0 if self.tty else self._heartbeat_s / 4)
            self.refresh()


async def with_display(display: Display, work: Any) -> Any:
    """Await ``work`` while ``display`` is active and ticking."""
    with display.shown():
        ticker = asyncio.create_task(display.tick()) if not display.quiet else None
        try:
            return await work
        finally:
            if ticker is not None:
                ticker.cancel()


def say(message: str, *, quiet: bool = False) -> None:
    """Print a notice on stderr, above the status line when one is drawn."""
    if quiet:
        return
    display = _active
    if display is not None and not display.quiet:
        display.echo(message)
    else:
        click.echo(message, err=True)


class LogToDisplay(logging.Handler):
    """A logging handler printing records on stderr through the active display."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            say(self.format(record))
        except Exception:  # a log record must never break the job
            self.handleError(record)


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = int(width * done / total) if total else 0
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _width() -> int:
    import shutil

    return shutil.get_terminal_size((100, 24)).columns
