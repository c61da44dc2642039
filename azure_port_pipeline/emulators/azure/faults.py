"""Deterministic fault injection for the Azure emulator.

Each fault is counted, never random, so a test can say "the next two listings are throttled"
and know exactly what the client saw. Route patterns are shell-style (`fnmatch`) and are
matched, case-insensitively, against the counter key (`"GET /subscriptions/{sub}/resourcegroups"`),
the route template alone, and the request's real path, so both
`"*resourcegroups"` and `"GET /subscriptions/*/providers/Microsoft.Compute/*"` work.
Entra (token) routes are never faulted unless a pattern names them explicitly
(`route="*oauth2*"`: slow and 5xx faults apply to them then).

Latency is not a fault but the usual cost of a call: `latency(arm=0.15, graph=0.3)` adds
that many seconds to every ARM request (each listing page, each GET by id, each write) and
every Resource Graph query, never to Entra's token requests. The wait happens on the
request's own thread (the server is threaded), so concurrent requests wait side by side, as
they would at Azure; `latency_stats()` counts the delayed requests and the most ever in
flight at once, so a test can check that without timing anything.

Besides failing requests, faults can make ARM answer *badly*: `rewrite_page` hands a listing
page's JSON body to a function that may return another body (a `value` holding strings,
items without `id`, a repeated item...) or raw text that is not JSON at all, and
`echo_authorization` answers with an error whose message quotes the request's
`Authorization` header, as some services do.

Event delivery can misbehave too, as Event Grid's at-least-once delivery to a Storage Queue
does: `delay_events` (messages hidden for a while: the queue's visibility timeout),
`duplicate_events`, `reorder_events` (a delete may arrive before the write that preceded it)
and `undecodable_event` (a message no reader can decode). The emulator asks `plan_events`
how to deliver the events of each write.
"""

from __future__ import annotations

import fnmatch
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .events import MAX_VISIBILITY_TIMEOUT

#: The services `AzureFaults.latency` delays (Entra's token requests are not among them).
ARM = "arm"
GRAPH = "graph"

#: A page rewrite: the page's JSON body in, a new JSON body or raw text/bytes out.
PageRewrite = Callable[[dict[str, Any]], Any]


@dataclass
class _Counted:
    route: str | None
    remaining: int | None  # None: forever
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    rewrite: PageRewrite | None = None


@dataclass
class _EventRule:
    remaining: int | None  # None: every event
    value: float  # seconds of delay, or extra copies


@dataclass(frozen=True)
class EventDelivery:
    """One queue message to send: `event` (None: an undecodable message instead), hidden for
    `visibility_timeout` seconds (0: visible at once)."""

    event: dict[str, Any] | None
    visibility_timeout: int = 0


@dataclass
class Fault:
    """What to do with one request: wait `delay`, then maybe answer `status` instead."""

    delay: float = 0.0
    status: int | None = None
    code: str = ""
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    echo_authorization: bool = False  # append the request's Authorization header to message


class AzureFaults:
    """Faults to inject; configure from tests, the emulator consults it on every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # events `reorder_events` holds back: in flight, not a fault, so `clear` keeps them
        self._held: list[dict[str, Any]] = []
        # requests sleeping their latency now: real requests in flight, so `clear` keeps it
        self._in_flight = 0
        self.clear()

    def clear(self) -> None:
        """Remove every configured fault, latency included (its counters start again).

        Events `reorder_events` was holding are not dropped (they are writes that happened):
        they go out, reversed, before the next event, or on the emulator's `flush_events()`
        or `stop()`.
        """
        with self._lock:
            self._event_delays: list[_EventRule] = []
            self._event_copies: list[_EventRule] = []
            self._reorder_batch = 0  # 0: events go out in order
            self._undecodable = 0
            self._throttles: list[_Counted] = []
            self._errors: list[_Counted] = []
            self._slow: list[_Counted] = []
            self._graph_throttles = 0
            self._forbidden: set[str] = set()
            self._broken: dict[tuple[str, str], tuple[int, int]] = {}
            self._echoes: list[_Counted] = []
            self._rewrites: list[_Counted] = []
            self._latency: dict[str, float] = {ARM: 0.0, GRAPH: 0.0}
            self._delayed: Counter[str] = Counter()
            self._peak_in_flight = self._in_flight

    # ---- configuration ------------------------------------------------------------------
    def throttle_arm(
        self, times: int | None = 1, retry_after: float | None = 1, route: str | None = None
    ) -> None:
        """The next `times` (None: every) matching ARM requests get 429 TooManyRequests, with
        `Retry-After: retry_after` seconds (None: no Retry-After header at all)."""
        with self._lock:
            self._throttles.append(_Counted(route, times, 429, retry_after))

    def server_error(
        self, times: int | None = 1, status: int = 500, route: str | None = None
    ) -> None:
        """The next `times` (None: every) matching requests (ARM or Resource Graph) get a 5xx."""
        if not 500 <= status <= 599:
            raise ValueError("server_error status must be 5xx")
        with self._lock:
            self._errors.append(_Counted(route, times, status))

    def slow(self, delay: float, route: str | None = None, times: int | None = None) -> None:
        """Delay matching responses by `delay` seconds (`times` requests, or all)."""
        with self._lock:
            self._slow.append(_Counted(route, times, delay=delay))

    def throttle_graph(self, times: int = 1) -> None:
        """The next `times` Resource Graph queries get 429 RateLimiting, quota or not."""
        with self._lock:
            self._graph_throttles += times

    def echo_authorization(
        self, times: int | None = 1, status: int = 400, route: str | None = None
    ) -> None:
        """The next `times` (None: every) matching ARM requests get an error (`status`) whose
        message quotes the request's `Authorization` header, bearer token and all."""
        with self._lock:
            self._echoes.append(_Counted(route, times, status))

    def rewrite_page(
        self, rewrite: PageRewrite, times: int | None = 1, route: str | None = None
    ) -> None:
        """The next `times` (None: every) successful answers of matching ARM requests are
        passed through `rewrite(body)`: a dict or list is sent as JSON, a str or bytes as the
        raw body (text/html, like a proxy's error page)."""
        with self._lock:
            self._rewrites.append(_Counted(route, times, rewrite=rewrite))

    def page_rewrite(self, key: str, path: str) -> PageRewrite | None:
        """The rewrite for this (successful ARM) answer, if any; consumes it."""
        with self._lock:
            rule = self._take(self._rewrites, key, path, True)
            return rule.rewrite if rule is not None else None

    def forbid_subscription(self, subscription_id: str) -> None:
        """Every ARM read under this subscription answers 403 AuthorizationFailed."""
        with self._lock:
            self._forbidden.add(subscription_id.lower())

    def break_listing(
        self, subscription_id: str, resource_type: str, ok_pages: int = 1, status: int = 500
    ) -> None:
        """Listing this type in the subscription: `ok_pages` pages work, later ones fail."""
        with self._lock:
            self._broken[(subscription_id.lower(), resource_type.lower())] = (ok_pages, status)

    def latency(self, arm: float | None = None, graph: float | None = None) -> None:
        """Add `arm` seconds to every ARM request and `graph` seconds to every Resource Graph
        query (None: leave that one as it is; 0: none), as Azure's own response times do
        (a listing page takes ~0.1-0.2 s, a Graph query ~0.3 s). Entra is never delayed."""
        values = {ARM: arm, GRAPH: graph}
        for service, seconds in values.items():
            if seconds is not None and not 0 <= seconds < math.inf:
                raise ValueError(f"{service} latency must be 0 or more seconds")
        with self._lock:
            for service, seconds in values.items():
                if seconds is not None:
                    self._latency[service] = float(seconds)

    def latency_stats(self) -> dict[str, Any]:
        """The latency set and what it did since `clear()`: `delayed` requests per service,
        `in_flight` (sleeping now) and `peak_in_flight` (most at once: >1 shows that the
        delays of concurrent requests overlapped instead of queueing)."""
        with self._lock:
            return {
                "arm_latency": self._latency[ARM],
                "graph_latency": self._latency[GRAPH],
                "delayed": {ARM: self._delayed[ARM], GRAPH: self._delayed[GRAPH]},
                "in_flight": self._in_flight,
                "peak_in_flight": self._peak_in_flight,
            }

    def wait_latency(self, service: str) -> float:
        """Sleep `service`'s latency on the calling (request) thread, without holding the
        lock, so other requests are served meanwhile; returns the seconds slept."""
        with self._lock:
            seconds = self._latency.get(service, 0.0)
            if not seconds:
                return 0.0
            self._delayed[service] += 1
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            time.sleep(seconds)
        finally:
            with self._lock:
                self._in_flight -= 1
        return seconds

    # ---- event delivery (Event Grid -> Storage Queue) ---------------------------------------
    def delay_events(self, seconds: float, times: int | None = None) -> None:
        """The next `times` (None: every) events are sent hidden for `seconds` (rounded up to
        whole seconds, the queue's unit): the Storage Queue's own delivery delay, so a reader
        sees them only later, after events sent since."""
        if not 0 <= seconds <= MAX_VISIBILITY_TIMEOUT:
            raise ValueError(f"delay must be 0..{MAX_VISIBILITY_TIMEOUT} seconds")
        with self._lock:
            self._event_delays.append(_EventRule(_times(times), seconds))

    def duplicate_events(self, copies: int = 1, times: int | None = None) -> None:
        """The next `times` (None: every) events are sent 1 + `copies` times, same id and all,
        as Event Grid's at-least-once delivery may."""
        if copies < 1:
            raise ValueError("copies must be at least 1")
        with self._lock:
            self._event_copies.append(_EventRule(_times(times), copies))

    def reorder_events(self, batch: int = 2) -> None:
        """Hold events back and send each group of `batch` in reverse order, so a delete can
        arrive before the write that preceded it. Held events go out on the emulator's
        `flush_events()` and `stop()`."""
        if batch < 2:
            raise ValueError("batch must be at least 2 (one event cannot be out of order)")
        with self._lock:
            self._reorder_batch = batch

    def undecodable_event(self, times: int = 1) -> None:
        """Before each of the next `times` events, send a message that is not base64 JSON."""
        with self._lock:
            self._undecodable += _times(times) or 0

    def plan_events(self, events: list[dict[str, Any]]) -> list[EventDelivery]:
        """The messages to send now for these newly raised events; consumes counted faults.

        Reordering holds events back and releases whole groups; each event released is then
        preceded by an undecodable message, delayed and duplicated as configured.
        """
        with self._lock:
            if self._reorder_batch:
                self._held.extend(events)
                released: list[dict[str, Any]] = []
                while len(self._held) >= self._reorder_batch:
                    group = self._held[: self._reorder_batch]
                    del self._held[: self._reorder_batch]
                    released.extend(reversed(group))
            else:  # reordering was cleared: what it still held goes first
                released = [*reversed(self._held), *events]
                self._held.clear()
            return [delivery for event in released for delivery in self._deliver(event)]

    def release_held(self) -> list[EventDelivery]:
        """The messages for every event reordering still holds (reversed), now; clears them."""
        with self._lock:
            released = list(reversed(self._held))
            self._held.clear()
            return [delivery for event in released for delivery in self._deliver(event)]

    def _deliver(self, event: dict[str, Any]) -> list[EventDelivery]:
        """The messages for one event leaving (the caller holds `_lock`)."""
        out: list[EventDelivery] = []
        if self._undecodable > 0:
            self._undecodable -= 1
            out.append(EventDelivery(None))
        delay = _take_event_rule(self._event_delays)
        copies = _take_event_rule(self._event_copies)
        hidden = math.ceil(delay.value) if delay is not None else 0
        count = 1 + (int(copies.value) if copies is not None else 0)
        out.extend(EventDelivery(event, hidden) for _ in range(count))
        return out

    # ---- consulted by the emulator -----------------------------------------------------------
    def is_forbidden(self, subscription_id: str) -> bool:
        with self._lock:
            return subscription_id.lower() in self._forbidden

    def broken_listing(self, subscription_id: str, resource_type: str) -> tuple[int, int] | None:
        with self._lock:
            return self._broken.get((subscription_id.lower(), resource_type.lower()))

    def take_graph_throttle(self) -> bool:
        with self._lock:
            if self._graph_throttles > 0:
                self._graph_throttles -= 1
                return True
            return False

    def on_request(self, key: str, path: str, *, arm: bool) -> Fault:
        """The fault (possibly none) for this request; consumes counted faults it uses."""
        fault = Fault()
        with self._lock:
            slow = self._take(self._slow, key, path, arm)
            if slow is not None:
                fault.delay = slow.delay
            if arm:
                throttle = self._take(self._throttles, key, path, arm)
                if throttle is not None:
                    fault.status = 429
                    fault.code = "TooManyRequests"
                    fault.message = (
                        "The request is being throttled as the limit has been "
                        "reached for operation type - "
                        "Read_ObservationWindow_00:05:00."
                    )
                    if throttle.retry_after is not None:
                        fault.headers = {"Retry-After": _seconds(throttle.retry_after)}
                    return fault
                echo = self._take(self._echoes, key, path, arm)
                if echo is not None:
                    fault.status = echo.status
                    fault.code = "InvalidRequestHeaders"
                    fault.message = "The request headers are not valid. Headers received:"
                    fault.echo_authorization = True
                    return fault
            error = self._take(self._errors, key, path, arm)
            if error is not None:
                fault.status = error.status
                fault.code = "InternalServerError" if error.status == 500 else "ServiceUnavailable"
                fault.message = (
                    "Encountered internal server error. Diagnostic information: "
                    "timestamp '', subscription id '', tracking id '', request "
                    "correlation id ''."
                )
        return fault

    def _take(self, rules: list[_Counted], key: str, path: str, arm: bool) -> _Counted | None:
        for rule in rules:
            if rule.remaining == 0 or not _matches(rule.route, key, path, arm):
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            return rule
        return None


def _take_event_rule(rules: list[_EventRule]) -> _EventRule | None:
    """The first event rule still in force, counted down (the caller holds the lock)."""
    for rule in rules:
        if rule.remaining == 0:
            continue
        if rule.remaining is not None:
            rule.remaining -= 1
        return rule
    return None


def _times(times: int | None) -> int | None:
    if times is not None and times < 1:
        raise ValueError("times must be at least 1 (or None: every event)")
    return times


def _matches(pattern: str | None, key: str, path: str, arm: bool) -> bool:
    if pattern is None:
        return arm or "/providers/microsoft.resourcegraph/" in path.lower()
    pattern = pattern.lower()
    template = key.split(" ", 1)[-1]
    return any(
        fnmatch.fnmatchcase(candidate.lower(), pattern) for candidate in (key, template, path)
    )


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
