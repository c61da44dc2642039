"""Resource Graph change windows: what changed in [start, end), latest change per resource.

Reads the `resourcechanges` (resources) and `resourcecontainerchanges` (resource groups,
subscriptions) tables with explicit start and end datetimes, so a stored cursor can move
window by window with no gap and no `ago(15m)` drift. Paging follows `$skipToken` (never
stopping on `resultTruncated` alone, never looping on a repeated token), ordered by
(changeTime, targetResourceId) so pages are stable. Throttling is waited out with the quota
headers Resource Graph sends (`x-ms-user-quota-remaining`, `x-ms-user-quota-resets-after`):
its 429s carry no Retry-After, so the SDK's RetryPolicy does not retry them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from azure_port_pipeline.redaction import redact

from .counters import CounterSink
from .errors import AzureQueryError
from .filters import subscription_of
from .models import ResourceChange
from .policies import DEADLINE_SETTING, Deadline, deadline_scope

CHANGE_TABLES = ("resourcechanges", "resourcecontainerchanges")
_COLUMNS = (
    "targetResourceId",
    "targetResourceType",
    "changeType",
    "changeTime",
    "changedBy",
    "clientType",
    "operation",
    "subscriptionId",
)
#: resourcecontainerchanges names groups by their container type; mappings say resourceGroups.
_TYPE_ALIASES = {
    "microsoft.resources/subscriptions/resourcegroups": "microsoft.resources/resourcegroups",
}
_RESETS_AFTER = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")


def change_query(table: str, start: datetime, end: datetime) -> str:
    """KQL for the latest change per resource in [start, end) of one change table."""
    return "\n".join(
        [
            table,
            "| extend changeTime = todatetime(properties.changeAttributes.timestamp)",
            f"| where changeTime >= datetime({_kql_datetime(start)}) "
            f"and changeTime < datetime({_kql_datetime(end)})",
            "| extend targetResourceId = tostring(properties.targetResourceId),",
            "    targetResourceType = tostring(properties.targetResourceType),",
            "    changeType = tostring(properties.changeType),",
            "    changedBy = tostring(properties.changeAttributes.changedBy),",
            "    clientType = tostring(properties.changeAttributes.clientType),",
            "    operation = tostring(properties.changeAttributes.operation)",
            "| summarize arg_max(changeTime, *) by targetResourceId",
            f"| project {', '.join(_COLUMNS)}",
            "| order by changeTime asc, targetResourceId asc",
        ]
    )


@dataclass
class QueryOutcome:
    rows: list[dict[str, Any]]
    complete: bool = True
    error: str | None = None


class GraphReader:
    """Runs change queries with a `ResourceGraphClient`, paging and waiting out throttling."""

    def __init__(
        self,
        client: Any,
        sink: CounterSink,
        *,
        page_size: int = 1000,
        batch_size: int = 1000,
        max_throttle_waits: int = 20,
        max_wait_seconds: float = 60.0,
        deadline_seconds: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._sink = sink
        self._page_size = page_size
        self._batch_size = batch_size
        self._max_throttle_waits = max_throttle_waits
        self._max_wait_seconds = max_wait_seconds
        self._deadline_seconds = deadline_seconds
        self._sleep = sleep
        self._wait_before_next: float = 0.0

    def changes(
        self, subscription_ids: Sequence[str], start: datetime, end: datetime
    ) -> tuple[list[ResourceChange], bool, str | None]:
        """(latest change per resource, oldest first; complete; error)."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("change window start and end must be timezone-aware datetimes")
        if end <= start:
            return [], True, None
        latest: dict[str, ResourceChange] = {}
        complete, errors = True, []
        for batch in batches(list(subscription_ids), self._batch_size):
            for table in CHANGE_TABLES:
                outcome = self.query(batch, change_query(table, start, end))
                for row in outcome.rows:
                    change = _change(row)
                    if change is None:
                        continue
                    key = change.resource_id.lower()  # id casing drifts between records
                    if key not in latest or change.change_time >= latest[key].change_time:
                        latest[key] = change
                if not outcome.complete:
                    complete = False
                    errors.append(f"{table}: {outcome.error}")
                    break  # the window is incomplete anyway; do not wait again per table
            if not complete:
                break
        ordered = sorted(latest.values(), key=lambda c: (c.change_time, c.resource_id.lower()))
        return ordered, complete, "; ".join(errors) or None

    def query(self, subscriptions: list[str], query: str) -> QueryOutcome:
        """Every page of one query over one batch of subscriptions."""
        outcome = QueryOutcome([])
        token: str | None = None
        seen: set[str] = set()
        while True:
            try:
                body, headers = self._page(subscriptions, query, token)
            except _GiveUp as err:
                outcome.complete, outcome.error = False, str(err)
                return outcome
            self._sink.add(pages=1)
            self._note_quota(headers)
            data = body.data or []
            if isinstance(data, dict):  # resultFormat "table": rows as lists
                data = _table_rows(data)
            outcome.rows.extend(data)
            token = body.skip_token
            if not token:
                if str(body.result_truncated).lower() == "true":
                    outcome.complete = False
                    outcome.error = "Resource Graph truncated the result and gave no $skipToken"
                return outcome
            if token in seen:
                outcome.complete = False
                outcome.error = "Resource Graph repeated a $skipToken; stopped to avoid a loop"
                return outcome
            seen.add(token)

    def _page(self, subscriptions: list[str], query: str, token: str | None) -> tuple[Any, Any]:
        """One page, its throttle waits, retries and token included, within the deadline."""
        with deadline_scope(self._deadline_seconds) as deadline:
            return self._page_within(subscriptions, query, token, deadline)

    def _page_within(
        self, subscriptions: list[str], query: str, token: str | None, deadline: Deadline
    ) -> tuple[Any, Any]:
        waits = 0
        while True:
            if self._wait_before_next > 0:
                self._throttle_wait(self._wait_before_next, deadline)
                self._wait_before_next = 0.0
            request = QueryRequest(
                subscriptions=subscriptions,
                query=query,
                options=QueryRequestOptions(
                    top=self._page_size, skip_token=token, result_format="objectArray"
                ),
            )
            try:
                return self._client.resources(request, cls=_with_headers)
            except ClientAuthenticationError:
                raise
            except HttpResponseError as err:
                status = err.status_code
                code = _code(err)
                if status == 429 or code == "RateLimiting":
                    waits += 1
                    if waits > self._max_throttle_waits:
                        raise _GiveUp(
                            f"still throttled (429 {code}) after {self._max_throttle_waits} waits"
                        ) from None
                    headers = err.response.headers if err.response is not None else {}
                    self._throttle_wait(self._resets_after(headers), deadline)
                    continue
                if status == 400:
                    raise AzureQueryError(
                        f"Resource Graph rejected the query (400 {code}): {_message(err)}",
                        code=code,
                    ) from None
                raise _GiveUp(f"HTTP {status} {code or ''}: {_message(err)}".strip()) from None
            except (ServiceRequestError, ServiceResponseError) as err:
                text = redact(" ".join(str(err).split()))
                raise _GiveUp(f"no response from Resource Graph: {text}") from None

    def _note_quota(self, headers: Any) -> None:
        remaining = _header(headers, "x-ms-user-quota-remaining")
        if remaining is not None and remaining.strip().isdigit() and int(remaining) <= 0:
            self._wait_before_next = self._resets_after(headers)

    def _resets_after(self, headers: Any) -> float:
        raw = _header(headers, "x-ms-user-quota-resets-after")
        seconds = parse_resets_after(raw) if raw else None
        if seconds is None:
            seconds = 1.0  # no hint: a short pause, repeated at most max_throttle_waits times
        return min(max(seconds, 0.0), self._max_wait_seconds)

    def _throttle_wait(self, seconds: float, deadline: Deadline) -> None:
        left = deadline.remaining()
        if seconds >= left:
            raise _GiveUp(
                f"POST /providers/Microsoft.ResourceGraph/resources: gave up after "
                f"{deadline.seconds:g} s ({DEADLINE_SETTING}={deadline.seconds:g}): Resource "
                f"Graph's quota resets in {seconds:g} s, more than the {max(left, 0.0):.2f} s left"
            )
        self._sink.add(throttle_waits=1, throttle_seconds=seconds)
        if seconds > 0:
            self._sleep(seconds)


class _GiveUp(Exception):
    """A page could not be read; the query's result is partial."""


def parse_resets_after(raw: str) -> float | None:
    """`hh:mm:ss` (optionally `d.hh:mm:ss` and fractional seconds) to seconds."""
    match = _RESETS_AFTER.match(raw.strip())
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _with_headers(pipeline_response: Any, deserialized: Any, _headers: Any) -> tuple[Any, Any]:
    return deserialized, pipeline_response.http_response.headers


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lowered = {str(k).lower(): v for k, v in dict(headers).items()}
        value = lowered.get(name)
    return value


def _change(row: dict[str, Any]) -> ResourceChange | None:
    resource_id = row.get("targetResourceId")
    change_time = _parse_time(row.get("changeTime"))
    if not resource_id or change_time is None:
        return None
    resource_id = str(resource_id)
    rtype = str(row.get("targetResourceType") or "").lower()
    return ResourceChange(
        resource_id=resource_id,
        resource_type=_TYPE_ALIASES.get(rtype, rtype),
        subscription_id=str(
            row.get("subscriptionId") or subscription_of(resource_id) or ""
        ).lower(),
        change_type=str(row.get("changeType") or ""),
        change_time=change_time,
        changed_by=row.get("changedBy") or None,
        client_type=row.get("clientType") or None,
        operation=row.get("operation") or None,
    )


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00")
    match = re.match(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$", text)
    if match:  # Python wants at most 6 fractional digits; Azure sends 7
        text = f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _kql_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _table_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    names = [column.get("name") for column in data.get("columns") or []]
    return [dict(zip(names, row, strict=False)) for row in data.get("rows") or []]


def batches(items: list[str], size: int) -> Iterator[list[str]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def _code(err: HttpResponseError) -> str | None:
    error = getattr(err, "error", None)
    code = getattr(error, "code", None)
    if code:
        return code
    try:
        body = err.response.json() if err.response is not None else None
    except Exception:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return None


def _message(err: HttpResponseError) -> str:
    error = getattr(err, "error", None)
    message = getattr(error, "message", None) or err.message or str(err)
    details = getattr(error, "details", None) or []
    extra = [getattr(d, "message", None) for d in details]
    text = " ".join([str(message), *[str(m) for m in extra if m]])
    return redact(" ".join(text.split()))
