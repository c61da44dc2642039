"""Rate limiting and fault injection for the Port emulator.

Two kinds of faults, so tests can be deterministic and benchmarks realistic:
- one-shots (`fail_next`, `drop_next`, `throttle_next`, `delay_next`, `answer_next`,
  `expire_token_next`): consumed in order by the next matching requests, never random;
- rates (`error_rate`, `drop_rate`, `latency`) drawn from a seeded `random.Random`.

The rate limiter is a fixed window like Port's (`N` requests per `window` seconds, every
request counts, refused ones do not); its state drives the `x-ratelimit-*` headers that
every response carries, enforced or not. `PeakMeter` measures what the writers really did
with the budget: a fixed window hides bursts (up to 2N around a window boundary), a sliding
one does not.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

NOMINAL_LIMIT = 35_000
NOMINAL_WINDOW = 300.0

_STATUS_ERRORS = {
    400: "bad_request",
    401: "unauthorized",
    403: "missing_permissions",
    404: "not_found",
    409: "identifier_taken",
    422: "invalid_request",
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def error_code_for(status: int) -> str:
    return _STATUS_ERRORS.get(status, "internal_error" if status >= 500 else "bad_request")


@dataclass(frozen=True, slots=True)
class Answer:
    """A made-up answer in place of the real one: a JSON `body`, or `raw` bytes as they are
    (a proxy's HTML page, a truncated body). `after`: the request is handled first (writes
    happen) and only its answer is replaced, as when a gateway mangles a reply."""

    status: int
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"
    after: bool = False


@dataclass(slots=True)
class OneShot:
    kind: str  # "fail" | "drop" | "drop_after" | "throttle" | "delay" | "answer" | "expire"
    route: str | None
    status: int = 500
    delay: float = 0.0
    retry_after: float | None = None
    answer: Answer | None = None
    agent: str | None = None  # only requests whose User-Agent contains this


@dataclass(slots=True)
class Decision:
    """What the HTTP layer must do to one request before (or instead of) handling it."""

    drop: bool = False
    drop_after: bool = False
    status: int | None = None
    delay: float = 0.0
    retry_after: float | None = None
    rate_headers: dict[str, str] = field(default_factory=dict)
    throttled: bool = False
    answer: Answer | None = None
    expire_tokens: bool = False


class PeakMeter:
    """The most requests served in any one second, and in any `rate_window`, both sliding.

    Served means let through by the organization limit (a refused request costs Port
    nothing); the refused ones are counted apart. Not thread-safe: `Faults` holds its lock.
    """

    def __init__(self) -> None:
        self._last_second: deque[float] = deque()
        self._last_window: deque[float] = deque()
        self.peak_second = 0
        self.peak_window = 0
        self.refused = 0

    def served(self, now: float, window: float) -> None:
        self.peak_second = max(self.peak_second, _slide(self._last_second, now, 1.0))
        self.peak_window = max(self.peak_window, _slide(self._last_window, now, window))

    def snapshot(self, window: float) -> dict[str, float | int]:
        return {
            "peak_requests_per_second": self.peak_second,
            "peak_requests_per_window": self.peak_window,
            "rate_window": window,
            "rate_limited": self.refused,
        }


def _slide(times: deque[float], now: float, span: float) -> int:
    """Add `now` to the times of the last `span` seconds; how many there are now."""
    times.append(now)
    while times[0] <= now - span:
        times.popleft()
    return len(times)


class Faults:
    """Configured misbehaviour of the emulator; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shots: deque[OneShot] = deque()
        self._meter = PeakMeter()
        self.configure()

    def configure(
        self,
        rate_limit: int | None = None,
        rate_window: float = NOMINAL_WINDOW,
        retry_after: bool = True,
        error_rate: float = 0.0,
        latency: float = 0.0,
        drop_rate: float = 0.0,
        seed: int = 0,
        error_status: int = 500,
        reset_format: str = "seconds",
    ) -> None:
        """Set every rate-type fault at once (unspecified ones go back to their default).

        rate_limit: requests allowed per `rate_window` seconds (None = not enforced; the
        headers then show Port's nominal 35000 per 300 s). retry_after: send `Retry-After`
        on 429s. error_rate / drop_rate: probability per request of a 5xx (`error_status`)
        / of closing the socket without a response. latency: seconds added to each request.
        reset_format: `x-ratelimit-reset` as "seconds" until reset or "epoch" seconds.
        One-shots queued with fail_next / drop_next ... are kept.
        """
        if reset_format not in ("seconds", "epoch"):
            raise ValueError("reset_format must be 'seconds' or 'epoch'")
        if rate_limit is not None and rate_limit < 1:
            raise ValueError("rate_limit must be >= 1 or None")
        with self._lock:
            self.rate_limit = rate_limit
            self.rate_window = float(rate_window)
            self.retry_after = retry_after
            self.error_rate = float(error_rate)
            self.error_status = error_status
            self.latency = float(latency)
            self.drop_rate = float(drop_rate)
            self.seed = seed
            self.reset_format = reset_format
            self._random = random.Random(seed)
            self._window_start: float | None = None
            self._window_used = 0
            self.throttled = 0

    # ---------------------------------------------------------------------- one-shots
    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        route: str | None = None,
        retry_after: float | None = None,
        agent: str | None = None,
    ) -> None:
        """The next `n` matching requests get `status` with Port's error body (not handled).

        route: None for any request, else a substring of the counter key, e.g.
        "entities/bulk" or "POST /v1/blueprints/{bp}/entities/bulk". agent: only requests
        whose User-Agent contains it (the pipeline's writes name their scope there).
        """
        shot = OneShot("fail", route, status=status, retry_after=retry_after, agent=agent)
        self._queue(n, shot)

    def drop_next(self, n: int = 1, *, route: str | None = None, after: bool = False) -> None:
        """Close the socket of the next `n` matching requests without answering.

        after=False: before handling (nothing written); after=True: the request is handled
        (writes happen) and only the response is lost, as when a connection dies late.
        """
        self._queue(n, OneShot("drop_after" if after else "drop", route))

    def throttle_next(
        self, n: int = 1, *, route: str | None = None, retry_after: float | None = 1.0
    ) -> None:
        """The next `n` matching requests get 429; `Retry-After` when retry_after is set."""
        self._queue(n, OneShot("throttle", route, status=429, retry_after=retry_after))

    def delay_next(self, n: int = 1, seconds: float = 1.0, *, route: str | None = None) -> None:
        """The next `n` matching requests are answered `seconds` late (for client timeouts)."""
        self._queue(n, OneShot("delay", route, delay=seconds))

    def answer_next(
        self,
        n: int = 1,
        status: int = 200,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        content_type: str | None = None,
        route: str | None = None,
        after: bool = False,
    ) -> None:
        """The next `n` matching requests get this answer instead of Port's: `body` as JSON
        (an object, a list, `{"ok": false, ...}`), or `raw` bytes/text as they are (content
        type text/html unless given). after=False: nothing is handled (nothing written);
        after=True: the request is handled and only the answer is replaced."""
        data = raw.encode() if isinstance(raw, str) else raw
        kind = content_type or (
            "text/html; charset=utf-8" if data is not None else "application/json; charset=utf-8"
        )
        answer = Answer(status, body, data, kind, after)
        self._queue(n, OneShot("answer", route, status=status, answer=answer))

    def expire_token_next(self, n: int = 1, *, route: str | None = None) -> None:
        """Every issued token expires as the next `n` matching requests arrive: those get
        401 (unless they ask for a token), as when a token's lifetime ends mid-run."""
        self._queue(n, OneShot("expire", route))

    def clear(self) -> None:
        """Forget queued one-shots and go back to no faults and no enforced rate limit."""
        with self._lock:
            self._shots.clear()
        self.configure()

    def pending(self) -> int:
        with self._lock:
            return len(self._shots)

    # ------------------------------------------------------------------------ peaks
    def peaks(self) -> dict[str, float | int]:
        """Since the last reset: `peak_requests_per_second` and `peak_requests_per_window`
        (most requests served in any sliding 1 s / `rate_window`), the window, and
        `rate_limited` (requests the organization limit refused with a 429). Kept across
        `configure` (reset after changing `rate_window`, to measure with the new one)."""
        with self._lock:
            return self._meter.snapshot(self.rate_window)

    def take_peaks(self) -> dict[str, float | int]:
        """`peaks()`, reset in the same step."""
        with self._lock:
            peaks = self._meter.snapshot(self.rate_window)
            self._meter = PeakMeter()
            return peaks

    def _queue(self, n: int, shot: OneShot) -> None:
        with self._lock:
            self._shots.extend(replace(shot) for _ in range(n))

    # ------------------------------------------------------------------------ decide
    def decide(self, route_key: str, now: float | None = None, agent: str = "") -> Decision:
        """Consume budget and faults for one request identified by its counter key (and
        its User-Agent, for one-shots aimed at one writer)."""
        now = time.time() if now is None else now
        with self._lock:
            decision = Decision(delay=self.latency)
            shot = self._take_shot(route_key, agent)
            if shot is not None:
                self._apply_shot(shot, decision)
            elif self.drop_rate and self._random.random() < self.drop_rate:
                decision.drop = True
            elif self.error_rate and self._random.random() < self.error_rate:
                decision.status = self.error_status
            if not decision.drop and decision.status is None:
                self._rate_limit(decision, now)
            decision.rate_headers = self._headers(now)
            return decision

    def _take_shot(self, route_key: str, agent: str) -> OneShot | None:
        for shot in self._shots:
            if shot.agent is not None and shot.agent not in agent:
                continue
            if shot.route is None or shot.route in route_key:
                self._shots.remove(shot)
                return shot
        return None

    @staticmethod
    def _apply_shot(shot: OneShot, decision: Decision) -> None:
        if shot.kind == "drop":
            decision.drop = True
        elif shot.kind == "drop_after":
            decision.drop_after = True
        elif shot.kind == "delay":
            decision.delay += shot.delay
        elif shot.kind == "answer":
            decision.answer = shot.answer
        elif shot.kind == "expire":
            decision.expire_tokens = True
        else:
            decision.status = shot.status
            decision.retry_after = shot.retry_after
            decision.throttled = shot.status == 429

    def _rate_limit(self, decision: Decision, now: float) -> None:
        window = self.rate_window
        if self._window_start is None or now >= self._window_start + window:
            self._window_start = now
            self._window_used = 0
        limit = self.rate_limit
        if limit is not None and self._window_used >= limit:
            decision.status = 429
            decision.throttled = True
            self.throttled += 1
            self._meter.refused += 1
            if self.retry_after:
                decision.retry_after = max(0.0, self._window_start + window - now)
            return
        self._window_used += 1
        self._meter.served(now, window)

    def _headers(self, now: float) -> dict[str, str]:
        limit = self.rate_limit if self.rate_limit is not None else NOMINAL_LIMIT
        start = self._window_start if self._window_start is not None else now
        reset_at = start + self.rate_window
        if self.reset_format == "epoch":
            reset = str(math.ceil(reset_at))
        else:
            reset = str(max(0, math.ceil(reset_at - now)))
        return {
            "x-ratelimit-period": str(
                int(self.rate_window) if self.rate_window.is_integer() else self.rate_window
            ),
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - self._window_used)),
            "x-ratelimit-reset": reset,
        }
