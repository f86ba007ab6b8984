"""The audit log: ``provider_call_started`` / ``provider_call_finished`` written as JSON lines.

Both hooks are implemented, one synchronous and one ``async def``, as any observer may; core awaits
them on the event loop around every attempt of every provider call.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from batch_router_core.plugin import (
    BatchHandle,
    BatchStatusReport,
    ProviderCall,
    ProviderPermanentError,
    ProviderTransientError,
    hookimpl,
    scrub_secrets,
)

__all__ = ["AUDIT_LOG_ENV", "AuditLog"]

#: The audit file; without it the plugin records nothing.
AUDIT_LOG_ENV = "BATCH_ROUTER_AUDIT_LOG"


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, ProviderTransientError):
        return "transient_error"
    if isinstance(error, ProviderPermanentError):
        return "permanent_error"
    return "error"


def _summary(result: Any) -> Any:
    """What the call returned, reduced to what an audit needs (never request or answer text)."""
    if isinstance(result, BatchHandle):
        return {"batch_id": result.batch_id, "request_count": result.request_count}
    if isinstance(result, BatchStatusReport):
        counts = result.request_counts
        return {
            "status": result.status.value,
            "raw_status": result.raw_status,
            "counts": {
                "total": counts.total,
                "succeeded": counts.succeeded,
                "errored": counts.errored,
            },
        }
    if isinstance(result, bool) or result is None:
        return result
    if isinstance(result, int):
        return {"results": result}
    if isinstance(result, list):
        return {"results": len(result)}
    return type(result).__name__


class AuditLog:
    """Appends one line per call start and per call end to ``path`` (default
    ``$BATCH_ROUTER_AUDIT_LOG``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        chosen = path if path is not None else os.environ.get(AUDIT_LOG_ENV)
        self.path = Path(chosen).expanduser() if chosen else None
        self._lock = threading.Lock()

    def _write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)  # one write per line: concurrent processes never interleave
            finally:
                os.close(fd)

    @staticmethod
    def _call(call: ProviderCall) -> dict[str, Any]:
        return {
            "call_id": call.call_id,
            "operation": call.operation,
            "provider": call.provider,
            "attempt": call.attempt,
            "batch_id": call.batch_id,
            "local_id": call.local_id,
            "request_count": call.request_count,
        }

    @hookimpl
    def provider_call_started(self, call: ProviderCall) -> None:
        """Record that a call starts (a crash leaves this line without its ``finished``)."""
        self._write({"event": "started", "at": time.time(), "pid": os.getpid(), **self._call(call)})

    @hookimpl
    async def provider_call_finished(
        self, call: ProviderCall, result: Any, error: BaseException | None, duration_s: float
    ) -> None:
        """Record how the call ended."""
        record = {
            "event": "finished",
            "at": time.time(),
            "pid": os.getpid(),
            **self._call(call),
            "duration_s": round(duration_s, 6),
            "outcome": _outcome(error),
            "error": None if error is None else scrub_secrets(str(error))[:500],
            "status_code": getattr(error, "status_code", None),
            "result": _summary(result),
        }
        self._write(record)
