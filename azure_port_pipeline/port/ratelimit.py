"""One client-side budget per Port organization, shared by every client of this process.

Port limits requests per organization. Staying under the budget is cheaper than provoking a
429 and backing off, so every request takes a token from a bucket refilled at
`requests_per_second`; when Port's `x-ratelimit-remaining` runs low the limiter spreads the
remaining requests over the time left until the reset; after a 429 every thread waits.

Each step of a run builds its own client, and several may write at once: they all take
their turns from the one limiter `shared_limiter` keeps per organization, so the process
keeps to its share however many clients and threads it runs, and what one of them learns
from Port (a pause, a pace) slows all of them.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

EPOCH_CUTOFF = 1e9
"""`x-ratelimit-reset` above this is an epoch timestamp, below it a number of seconds."""


class RateLimiter:
    """Thread-safe token bucket with reservations, pacing and a shared pause."""

    def __init__(
        self,
        requests_per_second: float,
        *,
        burst: float | None = None,
        initial_tokens: float | None = None,
        low_remaining_ratio: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`burst`: the bucket's size (default: one second's worth); `initial_tokens`: what
        it holds at first (default: full)."""
        self._rate = requests_per_second
        self._capacity = burst if burst is not None else max(1.0, requests_per_second)
        self._low_ratio = low_remaining_ratio
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self._capacity if initial_tokens is None else initial_tokens
        self._updated = clock()
        self._paused_until = 0.0
        self._pace_interval = 0.0
        self._pace_until = 0.0
        self._next_paced = 0.0

    @property
    def rate(self) -> float:
        """Requests per second the bucket refills at."""
        return self._rate

    def limit_to(self, requests_per_second: float) -> None:
        """Never go faster than `requests_per_second` from now on (a lower rate only)."""
        with self._lock:
            self._refill(self._clock())
            if requests_per_second >= self._rate:
                return
            self._rate = requests_per_second
            self._capacity = min(self._capacity, max(1.0, requests_per_second))
            self._tokens = min(self._tokens, self._capacity)

    def set_rate(self, requests_per_second: float) -> None:
        """Go at `requests_per_second` from now on (writers joined or left the process)."""
        with self._lock:
            self._refill(self._clock())
            self._rate = requests_per_second
            self._capacity = max(1.0, requests_per_second)
            self._tokens = min(self._tokens, self._capacity)

    def acquire(self, max_wait: float | None = None) -> float | None:
        """Wait for this caller's turn; returns the seconds waited.

        With `max_wait`, a turn further away than that is not taken (nothing is consumed,
        nothing slept) and None comes back: the caller's deadline would pass first.
        """
        with self._lock:
            now = self._clock()
            self._refill(now)
            tokens = self._tokens - 1.0
            ready = max(now, self._paused_until)
            if tokens < 0:
                ready = max(ready, now + (-tokens) / self._rate)
            paced = now < self._pace_until
            if paced:
                ready = max(ready, self._next_paced)
            if max_wait is not None and ready - now > max_wait:
                return None
            self._tokens = tokens
            if paced:
                self._next_paced = ready + self._pace_interval
        delay = ready - now
        if delay > 0:
            self._sleep(delay)
        return max(delay, 0.0)

    def pause(self, seconds: float) -> None:
        """Make every thread wait `seconds` from now (after a 429 or an exhausted budget)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Slow down when Port says few requests are left in its current window."""
        remaining = _number(headers.get("x-ratelimit-remaining"))
        limit = _number(headers.get("x-ratelimit-limit"))
        reset_in = reset_seconds(headers.get("x-ratelimit-reset"))
        if remaining is None or not limit or reset_in is None:
            return
        if remaining > limit * self._low_ratio:
            return
        if remaining <= 0:
            self.pause(reset_in)
            return
        with self._lock:
            now = self._clock()
            self._pace_interval = reset_in / remaining
            self._pace_until = now + reset_in
            self._next_paced = max(self._next_paced, now)

    def _refill(self, now: float) -> None:
        elapsed = now - self._updated
        self._updated = now
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)


_SHARED: weakref.WeakValueDictionary[str, RateLimiter] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def organization_key(base_url: str, client_id: str) -> str:
    """Names one Port organization as this process reaches it: its API root and client id.

    The id is hashed, so the key (in the registry, a debugger, a traceback) never shows it.
    """
    digest = hashlib.sha256(client_id.encode()).hexdigest()[:32]
    return f"{base_url.rstrip('/')} client:{digest}"


@dataclass
class _Budget:
    """What the process may spend on one organization: a share per writer (run) in it."""

    per_writer: float
    ceiling: float | None = None
    writers: int = 0

    def rate(self) -> float:
        rate = self.per_writer * max(1, self.writers)
        return min(rate, self.ceiling) if self.ceiling is not None else rate


_BUDGETS: dict[str, _Budget] = {}


def shared_limiter(
    key: str,
    requests_per_second: float,
    *,
    ceiling: float | None = None,
    low_remaining_ratio: float = 0.05,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RateLimiter:
    """This process's one limiter for `key` (see `organization_key`), made on first use.

    `requests_per_second` is one writer's share: the limiter goes at that times the writers
    (runs) registered in this process (`add_writer`; at least one), never above `ceiling`
    (the organization's whole limit). The daemon runs one run per process: one share each;
    a headless sync runs several runs in one process: as many shares, in one limiter.

    Clients sharing it keep to one budget together, and a pause or a pace any of them takes
    from Port's answers holds for all. Clients hold it; the registry does not (weakly kept),
    so it ends with the last client: a pause meant for clients long gone (another emulator
    that had the same port, in tests) never reaches new ones, and the registry never grows.
    A new one starts with an empty bucket: limiters following one another then never let
    through more than one long-lived limiter would. When clients ask for different rates the
    lowest wins, since the budget is the organization's and only the lowest never exceeds it.
    `clock` and `sleep` apply only when the limiter is made (tests).
    """
    with _SHARED_LOCK:
        budget = _BUDGETS.setdefault(key, _Budget(requests_per_second, ceiling))
        limiter = _SHARED.get(key)
        if limiter is None:  # a fresh start: the rates asked now, not those of clients gone
            budget.per_writer, budget.ceiling = requests_per_second, ceiling
            limiter = RateLimiter(
                budget.rate(),
                initial_tokens=0.0,
                low_remaining_ratio=low_remaining_ratio,
                clock=clock,
                sleep=sleep,
            )
            _SHARED[key] = limiter
        else:
            budget.per_writer = min(budget.per_writer, requests_per_second)
            if ceiling is not None:
                budget.ceiling = min(budget.ceiling or ceiling, ceiling)
            limiter.limit_to(budget.rate())
        return limiter


def add_writer(key: str, requests_per_second: float, ceiling: float | None = None) -> None:
    """A run of this process starts writing to the organization: one more share."""
    _change_writers(key, +1, requests_per_second, ceiling)


def remove_writer(key: str, requests_per_second: float, ceiling: float | None = None) -> None:
    _change_writers(key, -1, requests_per_second, ceiling)


def _change_writers(key: str, delta: int, per_writer: float, ceiling: float | None) -> None:
    with _SHARED_LOCK:
        budget = _BUDGETS.setdefault(key, _Budget(per_writer, ceiling))
        budget.writers = max(0, budget.writers + delta)
        limiter = _SHARED.get(key)
        if limiter is not None:
            limiter.set_rate(budget.rate())


def server_wait(status: int, headers: Mapping[str, str]) -> float | None:
    """The wait Port asks for before retrying an answer with `status`, or None.

    `Retry-After` on any retryable status (429, or a 503 during maintenance). Port's
    `x-ratelimit-reset` only on a 429 whose `x-ratelimit-remaining` is used up (or absent):
    it is on every answer, so on a 5xx, or on a 429 that some other limit caused, it says
    nothing about when to retry and would be a long fixed wait for nothing.
    """
    value = headers.get("retry-after")
    if value:
        return _retry_after(value)
    if status != 429:
        return None
    remaining = _number(headers.get("x-ratelimit-remaining"))
    if remaining is not None and remaining > 0:
        return None
    return reset_seconds(headers.get("x-ratelimit-reset"))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a throttled or unavailable answer asks for: Retry-After, else the reset."""
    value = headers.get("retry-after")
    if value:
        seconds = _retry_after(value)
        if seconds is not None:
            return seconds
    return reset_seconds(headers.get("x-ratelimit-reset"))


def _retry_after(value: str) -> float | None:
    """`Retry-After` as seconds from now: a number of seconds or an HTTP date."""
    seconds = _number(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, OverflowError):
        return None


def reset_seconds(value: str | None) -> float | None:
    """Seconds until the rate-limit window resets; Port documents an epoch, some read seconds."""
    number = _number(value)
    if number is None:
        return None
    if number > EPOCH_CUTOFF:
        number -= time.time()
    return max(number, 0.0)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
