"""Request counters for the Azure reader.

One `AzureCounters` accumulates everything a reader did; each public reader call also gets
its own `AzureCounters` (attached to the result) so a Dagster asset can report exactly what
*its* materialization cost, even when several calls share the same HTTP pipeline. The
per-call attribution uses a context variable: the SDK pipeline runs synchronously in the
caller's thread, so the policies see the caller's context.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

_FIELDS = ("requests", "pages", "retries", "throttle_waits", "throttle_seconds", "seconds")


@dataclass
class AzureCounters:
    """What the reader asked of Azure: HTTP attempts, pages read, retries, throttling, time.

    Thread-safe: updates take a lock. Mergeable: `merge` adds another set in place.
    """

    requests: int = 0
    pages: int = 0
    retries: int = 0
    throttle_waits: int = 0
    throttle_seconds: float = 0.0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        unknown = set(deltas) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown counter(s): {sorted(unknown)}")
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def merge(self, other: AzureCounters) -> AzureCounters:
        """Add `other` into this set (in place) and return self."""
        self.add(**other.as_dict())
        return self

    def snapshot(self) -> AzureCounters:
        """An independent copy, consistent at the time of the call."""
        return AzureCounters(**self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            values: dict[str, Any] = {name: getattr(self, name) for name in _FIELDS}
        values["throttle_seconds"] = round(values["throttle_seconds"], 3)
        values["seconds"] = round(values["seconds"], 3)
        return values


_ACTIVE_CALLS: ContextVar[tuple[AzureCounters, ...]] = ContextVar("azure_active_calls", default=())


class CounterSink:
    """Where the HTTP policies and listing code report: the reader total + active calls."""

    def __init__(self, total: AzureCounters | None = None) -> None:
        self.total = total if total is not None else AzureCounters()

    def add(self, **deltas: float) -> None:
        self.total.add(**deltas)
        for call in _ACTIVE_CALLS.get():
            call.add(**deltas)

    @contextmanager
    def call(self) -> Iterator[AzureCounters]:
        """Count one public call; nested calls count into every enclosing call too."""
        counters = AzureCounters()
        enclosing = _ACTIVE_CALLS.get()
        token = _ACTIVE_CALLS.set((*enclosing, counters))
        started = time.monotonic()
        try:
            yield counters
        finally:
            elapsed = time.monotonic() - started
            _ACTIVE_CALLS.reset(token)
            counters.add(seconds=elapsed)
            if not enclosing:
                self.total.add(seconds=elapsed)
