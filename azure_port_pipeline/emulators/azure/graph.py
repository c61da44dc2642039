"""Resource Graph: `POST /providers/Microsoft.ResourceGraph/resources`.

The query text is evaluated by the KQL subset (`emulators.kql`) over the estate's tables, scoped
to the requested subscriptions first. Paging, quota headers and errors follow the service:
`$top` (default 100, max 1000), `$skip`, a stateless `$skipToken` bound to the query and
scope, no token when the query uses take/limit/sample (`resultTruncated` "true" instead),
per-client quota with `x-ms-user-quota-*` headers and a 429 `RateLimiting` without
Retry-After.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import kql
from ..server import Response
from .estate import Estate
from .events import ChangeLog
from .faults import AzureFaults
from .wire import ArmRequest, decode_token, encode_token

GRAPH_API_VERSIONS = (
    "2019-04-01",
    "2020-04-01-preview",
    "2021-03-01",
    "2021-06-01-preview",
    "2022-10-01",
    "2024-04-01",
)
TABLES = ("resources", "resourcecontainers", "resourcechanges", "resourcecontainerchanges")


class GraphQuota:
    """Per-client query quota in fixed windows, like ARG's user quota (15 per 5 s)."""

    def __init__(
        self, quota: int | None, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.quota = quota
        self.window = window
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> tuple[bool, int, float]:
        """Spend one query: (allowed, remaining, seconds until the window resets)."""
        now = self._clock()
        with self._lock:
            start, used = self._windows.get(client, (now, 0))
            if now - start >= self.window:
                start, used = now, 0
            resets = max(0.0, self.window - (now - start))
            if not self.quota:
                self._windows[client] = (start, used)
                return True, 10**6, resets
            if used >= self.quota:
                self._windows[client] = (start, used)
                return False, 0, resets
            self._windows[client] = (start, used + 1)
            return True, self.quota - used - 1, resets


class _Tables(Mapping[str, list[dict[str, Any]]]):
    """Table name -> rows, built only when the query reads the table."""

    def __init__(self, builders: dict[str, Callable[[], list[dict[str, Any]]]]) -> None:
        self._builders = builders
        self._built: dict[str, list[dict[str, Any]]] = {}

    def __getitem__(self, name: str) -> list[dict[str, Any]]:
        key = name.lower()
        if key not in self._builders:
            raise KeyError(name)
        if key not in self._built:
            self._built[key] = self._builders[key]()
        return self._built[key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._builders

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


@dataclass(frozen=True)
class GraphScope:
    """All Resource Graph sees of the emulator, taken afresh for each query."""

    estate: Estate
    changes: ChangeLog
    faults: AzureFaults
    quota: GraphQuota
    lock: threading.RLock  # held while a table is built from the estate or the change log
    now: datetime  # the query's now() / ago()


class ResourceGraph:
    """Answers Resource Graph queries over an estate and its change log."""

    def __init__(self, scope: GraphScope) -> None:
        self.scope = scope

    def handle(self, request: ArmRequest) -> Response:
        client = request.principal.client_id if request.principal else ""
        allowed, remaining, resets = self.scope.quota.take(client.lower())
        headers = {
            "x-ms-user-quota-remaining": str(remaining),
            "x-ms-user-quota-resets-after": _hhmmss(resets),
        }
        if not allowed or self.scope.faults.take_graph_throttle():
            headers["x-ms-user-quota-remaining"] = "0"
            return Response(
                429,
                _error(
                    "RateLimiting",
                    _support_message() + " Details: Please try again later.",
                    [
                        {
                            "code": "RateLimiting",
                            "message": "Client application has been throttled "
                            "and should not attempt to repeat the "
                            "request until an amount of time has "
                            "elapsed. Please see "
                            "https://aka.ms/resourcegraph-throttling"
                            " for help.",
                        }
                    ],
                ),
                headers,
            )
        response = self._query(request)
        response.headers.update(headers)
        return response

    def _query(self, request: ArmRequest) -> Response:
        version = request.query.get("api-version", "")
        if version not in GRAPH_API_VERSIONS:
            return _bad_request(
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions "
                f"are '{','.join(reversed(GRAPH_API_VERSIONS))}'.",
            )
        try:
            body = request.json()
        except ValueError:
            body = None
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("query"), str)
            or not body["query"].strip()
        ):
            return _bad_request(
                "InvalidRequestContent",
                "The request content was invalid: a non-empty 'query' is required.",
            )
        options = body.get("options") or {}
        scope = self._scope(body)
        if isinstance(scope, Response):
            return scope
        top = options.get("$top", 100)
        skip = options.get("$skip", 0) or 0
        if not isinstance(top, int) or not 1 <= top <= 1000:
            return _bad_request("InvalidTopValue", "The $top value must be between 1 and 1000.")
        if not isinstance(skip, int) or skip < 0:
            return _bad_request("InvalidSkipValue", "The $skip value must not be negative.")
        query = body["query"]
        fingerprint = _fingerprint(query, scope)
        token = options.get("$skipToken")
        if token:
            decoded = decode_token(token)
            if (
                decoded is None
                or decoded.get("h") != fingerprint
                or not isinstance(decoded.get("o"), int)
            ):
                return _bad_request(
                    "InvalidSkipToken",
                    "The skip token is invalid or was issued for a different query or scope.",
                )
            skip = decoded["o"]
        try:
            rows, columns, limited = self._execute(query, scope)
        except kql.KqlError as error:
            details = getattr(error, "details", None) or [
                {"code": "InvalidQuery", "message": str(error)}
            ]
            return Response(400, _error("BadRequest", _support_message(), details))
        result_format = str(options.get("resultFormat", "objectArray")).lower()
        if result_format not in ("objectarray", "table"):
            return _bad_request(
                "InvalidResultFormat", "resultFormat must be 'objectArray' or 'table'."
            )
        return Response(200, _page(rows, columns, limited, fingerprint, skip, top, result_format))

    def _scope(self, body: dict[str, Any]) -> set[str] | Response:
        subs = body.get("subscriptions")
        known = {s.lower() for s in self.scope.estate.subscription_ids}
        if not subs:
            scope = set(known)
        elif not isinstance(subs, list) or not all(isinstance(s, str) for s in subs):
            return _bad_request("InvalidRequestContent", "'subscriptions' must be a list.")
        elif len(subs) > 1000:
            return _bad_request(
                "TooManySubscriptions", "The number of subscriptions must not exceed 1000."
            )
        else:
            scope = {s.lower() for s in subs} & known
        return {s for s in scope if not self.scope.faults.is_forbidden(s)}

    def _execute(
        self, query: str, scope: set[str]
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str]], bool]:
        """(rows, column names/types, whether the query used take/limit)."""
        graph = self.scope

        def locked(build: Callable[[], list[dict[str, Any]]]) -> Callable[[], list]:
            def run() -> list[dict[str, Any]]:
                with graph.lock:
                    return build()

            return run

        changes = graph.changes
        tables = _Tables(
            {
                "resources": locked(lambda: graph.estate.graph_resources(scope)),
                "resourcecontainers": locked(lambda: graph.estate.graph_containers(scope)),
                "resourcechanges": locked(
                    lambda: changes.rows("resourcechanges", scope, graph.now)
                ),
                "resourcecontainerchanges": locked(
                    lambda: changes.rows("resourcecontainerchanges", scope, graph.now)
                ),
            }
        )
        result = kql.execute_result(query, tables, graph.now)
        return result.rows, list(result.columns), bool(result.limited)


def _page(
    rows: list[dict[str, Any]],
    columns: list[tuple[str, str]],
    limited: bool,
    fingerprint: str,
    skip: int,
    top: int,
    result_format: str,
) -> dict[str, Any]:
    pageable = not limited and any(t not in ("dynamic", "object", "null") for _, t in columns)
    start = 0 if limited else skip
    data = rows[start : start + top]
    more = start + len(data) < len(rows)
    body: dict[str, Any] = {
        "totalRecords": len(rows),
        "count": len(data),
        "resultTruncated": "true" if more and not pageable else "false",
    }
    if more and pageable:
        body["$skipToken"] = encode_token({"o": start + len(data), "h": fingerprint})
    data = [{k: kql.to_json_value(v) for k, v in row.items()} for row in data]
    body["data"] = _table(data, columns) if result_format == "table" else data
    body["facets"] = []
    return body


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "columns": [{"name": name, "type": kind} for name, kind in columns],
        "rows": [[row.get(name) for name, _ in columns] for row in rows],
    }


def _fingerprint(query: str, scope: set[str]) -> str:
    raw = json.dumps([query, sorted(scope)]).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _hhmmss(seconds: float) -> str:
    whole = int(seconds + 0.999)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _support_message() -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    return (
        f"Please provide below info when asking for support: timestamp = {stamp}, "
        f"correlationId = {uuid.uuid4()}."
    )


def _error(code: str, message: str, details: list[dict[str, Any]]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _bad_request(detail_code: str, detail: str) -> Response:
    return Response(
        400, _error("BadRequest", _support_message(), [{"code": detail_code, "message": detail}])
    )
