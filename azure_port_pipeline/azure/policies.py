"""azure-core pipeline policies that count what the SDK clients do.

They are plugged into every SDK client the reader builds (ARM, subscriptions, Resource
Graph), so retries and throttling done *inside* the SDK (RetryPolicy honouring Retry-After)
show up in the counters instead of silently stretching run times.
"""

from __future__ import annotations

import sys
from typing import Any

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

from .counters import CounterSink


class CountingRetryPolicy(RetryPolicy):
    """azure-core's RetryPolicy (429 Retry-After, 408/5xx with backoff), counting each retry.

    A retry caused by a 429 is also counted as a throttle wait, with the seconds it waits
    (the Retry-After value, or the backoff when the service gave none).
    """

    def __init__(self, sink: CounterSink, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sink = sink

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        self._sink.add(retries=1)
        if response is not None and response.http_response.status_code == 429:
            wait = self.get_retry_after(response) or self.get_backoff_time(settings)
            self._sink.add(throttle_waits=1, throttle_seconds=float(wait))
        super().sleep(settings, transport, response=response)


class RequestCountingPolicy(SansIOHTTPPolicy):
    """Counts every HTTP attempt that reached the wire (placed after the retry policy, so
    retries count too; a token that could not be obtained sends nothing and counts nothing)."""

    def __init__(self, sink: CounterSink) -> None:
        super().__init__()
        self._sink = sink

    def on_response(self, request: PipelineRequest, response: PipelineResponse) -> None:
        self._sink.add(requests=1)

    def on_exception(self, request: PipelineRequest) -> None:
        if isinstance(sys.exc_info()[1], ServiceRequestError | ServiceResponseError):
            self._sink.add(requests=1)
