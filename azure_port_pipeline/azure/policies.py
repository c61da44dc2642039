"""azure-core pipeline policies: a deadline on every Azure request, and counters.

They are plugged into every SDK client the reader builds (ARM, subscriptions, Resource Graph)
and into the credential's own pipeline (Entra), so retries, throttling and token requests done
*inside* the SDK are bounded in time and show up in the counters instead of silently
stretching run times.

The deadline (`AZURE_DEADLINE_SECONDS`) covers one request from its first attempt to its last:
every retry, every wait (`Retry-After` or backoff) and every token request it triggers. A wait
that would end past the deadline is not started: the request gives up at once with an
`AzureDeadlineError` naming the operation, what Azure last answered and the setting. Each
attempt's connect and read timeouts are cut to the time left, so a slow answer cannot overrun
it either. Deadlines nest: a token request made while an ARM request is under way gets what is
left of the ARM request's deadline, not a fresh one.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

from azure_port_pipeline.redaction import redact

from .counters import CounterSink

DEADLINE_CODE = "DeadlineExceeded"
DEADLINE_SETTING = "AZURE_DEADLINE_SECONDS"
#: below this many seconds left, a failed attempt is reported as the deadline's doing
_SLACK = 0.05


@dataclass(frozen=True)
class Deadline:
    """When (monotonic clock) the requests made in a scope must have finished."""

    at: float
    seconds: float  # the budget the scope was given (for messages)

    def remaining(self) -> float:
        return self.at - time.monotonic()


_CURRENT: ContextVar[Deadline | None] = ContextVar("azure_request_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the Azure request under way in this context, if any."""
    return _CURRENT.get()


@contextmanager
def deadline_scope(seconds: float) -> Iterator[Deadline]:
    """A deadline `seconds` from now, or the enclosing one when that is sooner."""
    own = Deadline(time.monotonic() + seconds, seconds)
    enclosing = _CURRENT.get()
    deadline = enclosing if enclosing is not None and enclosing.at <= own.at else own
    token = _CURRENT.set(deadline)
    try:
        yield deadline
    finally:
        _CURRENT.reset(token)


class AzureDeadlineError(ServiceResponseTimeoutError):
    """An Azure request did not succeed within AZURE_DEADLINE_SECONDS, retries included.

    A `ServiceResponseError` to the SDKs (no usable answer), so their callers treat it like a
    request that got no response; the message names the operation and why it gave up.
    """


class _OutOfTime(Exception):
    """Raised inside the retry loop (never an azure-core error, so it is not retried)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeadlineRetryPolicy(RetryPolicy):
    """azure-core's RetryPolicy (429 Retry-After, 408/5xx with backoff) under a deadline.

    `Retry-After` is honoured when the wait fits in the time left; when it does not (an
    absurd `Retry-After: 100000`, a long backoff near the end), the request gives up at once
    instead of sleeping past the deadline or retrying before Azure said it may.
    """

    def __init__(self, *, deadline_seconds: float = 300.0, **kwargs: Any) -> None:
        if not (deadline_seconds > 0 and math.isfinite(deadline_seconds)):
            raise ValueError(f"{DEADLINE_SETTING} must be a positive number of seconds")
        super().__init__(**kwargs)
        self.deadline_seconds = deadline_seconds

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        with deadline_scope(self.deadline_seconds) as deadline:
            try:
                return super().send(request)
            except _OutOfTime as stop:
                raise AzureDeadlineError(_gave_up(request, deadline, stop.reason)) from None
            except (ServiceRequestError, ServiceResponseError) as err:
                if isinstance(err, AzureDeadlineError) or deadline.remaining() > _SLACK:
                    raise
                reason = f"the last attempt failed: {_one_line(str(err))}"
                raise AzureDeadlineError(_gave_up(request, deadline, reason)) from None

    def sleep(
        self, settings: dict[str, Any], transport: Any, response: PipelineResponse[Any, Any] = None
    ) -> None:
        retry_after = self.get_retry_after(response) if response is not None else None
        wait = float(retry_after) if retry_after else float(self.get_backoff_time(settings))
        deadline = current_deadline()
        left = deadline.remaining() if deadline is not None else math.inf
        if wait >= left:
            raise _OutOfTime(_why_not_wait(response, retry_after, wait, max(left, 0.0)))
        self.on_wait(wait, response)
        if wait > 0:
            transport.sleep(wait)

    def on_wait(self, seconds: float, response: PipelineResponse[Any, Any] | None) -> None:
        """Called before each wait between attempts (a hook for counting)."""


class CountingRetryPolicy(DeadlineRetryPolicy):
    """The deadline retry policy, counting each retry.

    A retry caused by a 429 is also counted as a throttle wait, with the seconds it waits
    (the Retry-After value, or the backoff when the service gave none).
    """

    def __init__(self, sink: CounterSink, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sink = sink

    def on_wait(self, seconds: float, response: PipelineResponse[Any, Any] | None) -> None:
        self._sink.add(retries=1)
        if response is not None and response.http_response.status_code == 429:
            self._sink.add(throttle_waits=1, throttle_seconds=seconds)


class DeadlinePolicy(SansIOHTTPPolicy):
    """Per attempt: stop when no time is left, else cut the timeouts to the time left.

    Placed after the retry policy (a per-retry policy), with the timeouts the client was
    configured with (`AZURE_TIMEOUT`).
    """

    def __init__(self, *, read_timeout: float, connection_timeout: float) -> None:
        super().__init__()
        self._read_timeout = read_timeout
        self._connection_timeout = connection_timeout

    def on_request(self, request: PipelineRequest[Any]) -> None:
        deadline = current_deadline()
        if deadline is None:
            return
        left = deadline.remaining()
        if left <= 0:
            raise _OutOfTime("no time was left for another attempt")
        options = request.context.options
        read = options.get("read_timeout", self._read_timeout)
        connect = options.get("connection_timeout", self._connection_timeout)
        if isinstance(connect, int | float):
            options["connection_timeout"] = min(float(connect), left)
        if isinstance(read, int | float):
            options["read_timeout"] = min(float(read), left)


class RequestCountingPolicy(SansIOHTTPPolicy):
    """Counts every HTTP attempt that reached the wire (placed after the retry policy, so
    retries count too; a token that could not be obtained sends nothing and counts nothing)."""

    def __init__(self, sink: CounterSink) -> None:
        super().__init__()
        self._sink = sink

    def on_response(
        self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]
    ) -> None:
        self._sink.add(requests=1)

    def on_exception(self, request: PipelineRequest[Any]) -> None:
        if isinstance(sys.exc_info()[1], ServiceRequestError | ServiceResponseError):
            self._sink.add(requests=1)


def operation(request: PipelineRequest[Any]) -> str:
    """`METHOD /path` of a request (no query string, no host), for messages."""
    http = request.http_request
    return redact(f"{http.method} {urlsplit(http.url).path or '/'}")


def _gave_up(request: PipelineRequest[Any], deadline: Deadline, reason: str) -> str:
    return (
        f"{operation(request)}: gave up after {deadline.seconds:g} s, retries included "
        f"({DEADLINE_SETTING}={deadline.seconds:g}): {redact(reason)}"
    )


def _why_not_wait(
    response: PipelineResponse[Any, Any] | None, retry_after: float | None, wait: float, left: float
) -> str:
    if response is None:
        last = "the last attempt got no answer"
    else:
        last = f"the last answer was HTTP {response.http_response.status_code}"
    if retry_after:
        asked = f"Azure asked to wait {wait:g} s (Retry-After)"
        return f"{last} and {asked}, more than the {left:.2f} s left"
    if left < _SLACK:
        return f"{last} before the deadline"
    return f"{last} and the next retry would wait {wait:.2f} s, more than the {left:.2f} s left"


def _one_line(text: str) -> str:
    return " ".join(text.split())
