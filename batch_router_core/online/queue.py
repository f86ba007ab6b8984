"""``RequestQueue``: pending requests grouped by batch group, with deadlines; thread-safe."""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any

import attrs

__all__ = ["QueuedRequest", "RequestQueue"]


@attrs.define(kw_only=True, eq=False)
class QueuedRequest:
    """One waiting request. ``future`` resolves with its result (await it with
    ``asyncio.wrap_future``).

    Times are ``time.monotonic()`` seconds; ``deadline`` is when it must be sent at the latest.
    """

    request_id: str
    prompt: str
    model: str
    batch_group: str
    enqueued_at: float
    deadline: float
    task_type: str = ""
    latency_budget_ms: int = 0
    payload: Any = None
    future: Future[Any] = attrs.field(factory=Future)

    @classmethod
    def create(
        cls,
        request_id: str,
        prompt: str,
        model: str,
        batch_group: str,
        max_wait_ms: float,
        **kwargs: Any,
    ) -> QueuedRequest:
        """A request enqueued now, with a deadline ``max_wait_ms`` from now."""
        now = time.monotonic()
        return cls(
            request_id=request_id,
            prompt=prompt,
            model=model,
            batch_group=batch_group,
            enqueued_at=now,
            deadline=now + max_wait_ms / 1000.0,
            **kwargs,
        )


class RequestQueue:
    """Pending requests by group. Every mutation holds one lock; ``get_batch`` is atomic.

    Calls are short (no I/O under the lock), so async code may call them directly without blocking
    the event loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[str, deque[QueuedRequest]] = {}
        self._by_id: dict[str, QueuedRequest] = {}
        # earliest deadline per group, kept so expiry checks are O(groups), not O(requests)
        self._earliest: dict[str, float] = {}

    def enqueue(self, request: QueuedRequest) -> None:
        """Add a request to its group."""
        with self._lock:
            if request.request_id in self._by_id:
                raise ValueError(f"request {request.request_id!r} is already queued")
            self._groups.setdefault(request.batch_group, deque()).append(request)
            self._by_id[request.request_id] = request
            current = self._earliest.get(request.batch_group)
            if current is None or request.deadline < current:
                self._earliest[request.batch_group] = request.deadline

    def get_batch(self, group: str, max_size: int) -> list[QueuedRequest]:
        """Remove and return up to ``max_size`` requests of ``group``, oldest first."""
        with self._lock:
            q = self._groups.get(group)
            if not q:
                return []
            out = [q.popleft() for _ in range(min(max_size, len(q)))]
            for r in out:
                del self._by_id[r.request_id]
            self._reindex(group)
            return out

    def _reindex(self, group: str) -> None:
        q = self._groups.get(group)
        if not q:
            self._groups.pop(group, None)
            self._earliest.pop(group, None)
        else:
            self._earliest[group] = min(r.deadline for r in q)

    def get_expired_groups(self, now: float | None = None) -> list[str]:
        """Groups holding a request whose deadline has passed."""
        t = time.monotonic() if now is None else now
        with self._lock:
            return [g for g, d in self._earliest.items() if d <= t]

    def size(self, group: str | None = None) -> int:
        """How many requests wait (in one group, or in all)."""
        with self._lock:
            if group is None:
                return len(self._by_id)
            return len(self._groups.get(group, ()))

    def remove(self, request_id: str) -> bool:
        """Take one request out (e.g. its caller gave up); True if it was queued."""
        with self._lock:
            request = self._by_id.pop(request_id, None)
            if request is None:
                return False
            self._groups[request.batch_group].remove(request)
            self._reindex(request.batch_group)
            return True

    def snapshot(self) -> list[tuple[str, int, float, float]]:
        """``(group, size, oldest enqueue time, earliest deadline)`` per group, for the
        scheduler."""
        with self._lock:
            return [
                (g, len(q), q[0].enqueued_at, self._earliest[g])
                for g, q in self._groups.items()
                if q
            ]

    def drain(self) -> list[QueuedRequest]:
        """Remove and return every request."""
        with self._lock:
            out = [r for q in self._groups.values() for r in q]
            self._groups.clear()
            self._by_id.clear()
            self._earliest.clear()
            return out
