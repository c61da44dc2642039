"""Counters of what the client asked of Port, for run metadata and benchmarks."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class PortMetrics:
    """Thread-safe counters; `by_route` is keyed "METHOD /v1/route/{template}".

    Every HTTP request counts (retries and token fetches included); `writes` are the requests
    that change Port's state; `throttle_waits`/`throttle_seconds` is time the client held
    requests back itself (rate budget, Port's low `x-ratelimit-remaining`, or a 429 pause).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.writes = 0
        self.retries = 0
        self.throttle_waits = 0
        self.throttle_seconds = 0.0
        self.by_route: Counter[str] = Counter()
        self.retries_by_route: Counter[str] = Counter()

    def record_request(self, route: str, *, write: bool) -> None:
        with self._lock:
            self.requests += 1
            self.writes += int(write)
            self.by_route[route] += 1

    def record_retry(self, route: str) -> None:
        with self._lock:
            self.retries += 1
            self.retries_by_route[route] += 1

    def record_throttle(self, seconds: float) -> None:
        with self._lock:
            self.throttle_waits += 1
            self.throttle_seconds += seconds

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "writes": self.writes,
                "retries": self.retries,
                "throttle_waits": self.throttle_waits,
                "throttle_seconds": round(self.throttle_seconds, 3),
                "by_route": dict(self.by_route),
                "retries_by_route": dict(self.retries_by_route),
            }

    def __repr__(self) -> str:
        return f"PortMetrics({self.as_dict()})"
