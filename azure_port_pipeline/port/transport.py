"""Every HTTP exchange with Port goes through here: auth, budget, retries, metrics, errors.

One pooled `requests.Session` per client. A request is one operation with one total
deadline (`PORT_DEADLINE_SECONDS`, or `PORT_RETRY_DEADLINE` when smaller): every attempt,
every wait, the client's own pacing and any token fetch fit in it, and each attempt's socket
timeout is cut to the time left. Inside it, 429, 5xx, timeouts and dropped connections are
retried: after Port's `Retry-After` (or, on a 429 with the budget used up, its rate-limit
reset), else after a full-jitter exponential backoff (`uniform(0, min(max, base * 2**n))`), so
the first retries come quickly and recovery is quick once a fault clears. A 429 is Port
pacing us, not a failure: it does not use up `PORT_MAX_RETRIES`, only time. A 401 fetches a
new token and resends at once, without using a retry. Other answers (2xx, 4xx) go back to the
caller, who knows what a 404 or a 413 means for its route; `json_object` reads a body and
refuses one that is not Port's JSON object or says `ok: false`.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from azure_port_pipeline.port.errors import (
    PortApiError,
    PortAuthError,
    PortDeadlineError,
    PortResponseError,
)
from azure_port_pipeline.port.metrics import PortMetrics
from azure_port_pipeline.port.ratelimit import organization_key, server_wait, shared_limiter
from azure_port_pipeline.port.settings import PortSettings
from azure_port_pipeline.redaction import redact

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
TOKEN_ROUTE = "/v1/auth/access_token"
DEFAULT_TOKEN_LIFETIME = 3600.0


def operation_deadline(settings: PortSettings) -> float:
    """Seconds one Port operation may take in all: `PORT_DEADLINE_SECONDS`, or
    `PORT_RETRY_DEADLINE` when that is smaller. An operation ends within this (plus the time
    Python needs to notice), since every wait and every socket timeout is cut to what is left.
    """
    return min(settings.deadline_seconds, settings.retry_deadline)


@dataclass(frozen=True, slots=True)
class Route:
    """A Port route: its template names it in metrics, `write` says if it changes state."""

    method: str
    template: str
    write: bool = False

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


AUTH = Route("POST", TOKEN_ROUTE)


class PortTokenCache:
    """One Port access token shared by every client built for a run (thread-safe).

    Each step of a run gets a client of its own (so its metrics describe that step); sharing
    the token means a run asks Port for one token, not one per step.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: str | None = None
        self.refresh_at = 0.0


class _Retryable(Exception):
    """An attempt worth repeating; carries what is needed to report it if retries run out.

    `wait`: what Port asked for (None: back off); `throttled`: a 429, Port pacing us, which
    costs time but not a retry; `during`: the token fetch, when that is what failed.
    """

    def __init__(
        self,
        reason: str,
        response: requests.Response | None = None,
        wait: float | None = None,
        *,
        throttled: bool = False,
        during: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.response = response
        self.wait = wait
        self.throttled = throttled
        self.during = during


class _Budget:
    """What one operation may still spend and has spent: its deadline, its attempts, its
    failures (429s apart), the wait ahead, and the last thing that went wrong."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.ends = self.started + seconds
        self.attempts = 0
        self.failures = 0
        self.next_wait = 0.0
        self.last: _Retryable | None = None
        self.out_of_time: str | None = None  # why the deadline ended it, once it has

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def spent(self) -> float:
        return time.monotonic() - self.started


class PortTransport:
    """Authenticated, paced, retried HTTP to one Port organization (thread-safe)."""

    def __init__(
        self,
        settings: PortSettings,
        default_user_agent: str,
        tokens: PortTokenCache | None = None,
    ) -> None:
        settings.require_credentials()
        self._settings = settings
        self._default_user_agent = default_user_agent
        self.metrics = PortMetrics()
        # one budget for every client of this organization in the process (steps, threads)
        self.limiter = shared_limiter(
            organization_key(settings.api_url, settings.client_id or ""),
            settings.effective_requests_per_second(),
            ceiling=settings.rate_ceiling(),
            low_remaining_ratio=settings.low_remaining_ratio,
        )
        self._session = requests.Session()
        adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=settings.max_concurrency + 1, max_retries=0
        )
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._tokens = tokens or PortTokenCache()

    def close(self) -> None:
        self._session.close()

    def request(
        self,
        route: Route,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: bytes | dict[str, Any] | None = None,
        user_agent: str | None = None,
    ) -> requests.Response:
        """Send until Port gives a final answer; raise PortApiError if it never does.

        One operation: its attempts, retries, waits and token fetches all fit in one
        deadline (`operation_deadline`); past it, PortDeadlineError.
        """
        data = body if isinstance(body, bytes | None) else _dumps(body)
        headers = {"User-Agent": user_agent or self._default_user_agent}
        if data is not None:
            headers["Content-Type"] = "application/json"
        budget = _Budget(operation_deadline(self._settings))
        try:
            return self._retrying(route, budget)(
                self._attempt, route, path, params, data, headers, budget
            )
        except _Retryable as gave_up:
            raise self._gave_up(route, path, budget, gave_up) from None

    def authenticate(self) -> None:
        """Fetch a new token now (a credentials check): one operation, with the deadline
        and retries of any request; PortAuthError when Port refuses the credentials."""
        budget = _Budget(operation_deadline(self._settings))
        try:
            self._retrying(AUTH, budget)(self._authenticate_once, budget)
        except _Retryable as gave_up:
            raise self._gave_up(AUTH, TOKEN_ROUTE, budget, gave_up) from None

    def _authenticate_once(self, budget: _Budget) -> None:
        budget.attempts += 1
        tokens = self._tokens
        if not tokens.lock.acquire(timeout=max(budget.remaining(), 0.0)):
            budget.out_of_time = "waiting for another thread's token request"
            raise self._deadline_error(AUTH, TOKEN_ROUTE, budget)
        try:
            self._fetch_token(budget)
        except _Retryable as failure:
            budget.last = failure
            raise
        finally:
            tokens.lock.release()

    def _gave_up(
        self, route: Route, path: str, budget: _Budget, gave_up: _Retryable
    ) -> PortApiError:
        if budget.out_of_time:
            return self._deadline_error(route, path, budget)
        note = f"gave up after {_attempts(budget.attempts)}"
        if gave_up.during:
            note += f"; it was the token request ({gave_up.during}) that failed"
        return self.error(route, path, gave_up.response, str(gave_up), note=note)

    def error(
        self,
        route: Route,
        path: str,
        response: requests.Response | None,
        fallback: str = "",
        *,
        note: str = "",
        cls: type[PortApiError] | None = None,
    ) -> PortApiError:
        """A PortApiError naming the call and what Port said, with secrets redacted."""
        label = f"{route.method} {path}"
        status: int | None = None
        code: str | None = None
        message, trace_id = fallback, None
        if response is not None:
            status, trace_id = response.status_code, response.headers.get("x-trace-id")
            code, message = error_details(response)
        if note:
            message = f"{message} ({note})" if message else note
        if cls is None:
            cls = PortAuthError if status == 401 else PortApiError
        return cls(label, status, code, self.redact(message), trace_id=trace_id)

    def json_object(
        self, route: Route, path: str, response: requests.Response, *, allow_not_ok: bool = False
    ) -> dict[str, Any]:
        """The JSON object Port answered; PortResponseError when the body is not JSON, not
        an object, or says `ok: false` (a 207 says so with per-entity results:
        `allow_not_ok`). Nothing else may be read from a body: a raw JSONDecodeError or a
        list where an object belongs must never reach a caller."""
        try:
            payload = response.json()
        except ValueError:
            what = f"a body that is not JSON ({_describe_body(response)})"
            raise self.bad_answer(route, path, response, what) from None
        if not isinstance(payload, dict):
            kind = "list" if isinstance(payload, list) else type(payload).__name__
            raise self.bad_answer(
                route, path, response, f"a JSON {kind} where Port's API has an object"
            )
        if payload.get("ok") is False and not allow_not_ok:
            code, message = error_details(response)
            raise self.bad_answer(route, path, response, f"ok: false: {message or '-'}", code)
        return payload

    def bad_answer(
        self,
        route: Route,
        path: str,
        response: requests.Response,
        what: str,
        code: str | None = None,
    ) -> PortResponseError:
        """PortResponseError for an answer that is not what Port's API promises."""
        status = response.status_code
        return PortResponseError(
            f"{route.method} {path}",
            status,
            code,
            self.redact(f"answered {status} with {what}"),
            trace_id=response.headers.get("x-trace-id"),
        )

    def _deadline_error(self, route: Route, path: str, budget: _Budget) -> PortDeadlineError:
        last = budget.last
        note = (
            f"deadline: gave up after {budget.spent():.1f} s and {_attempts(budget.attempts)}, "
            f"{budget.out_of_time or 'out of time'}; one Port operation may take "
            f"{budget.seconds:g} s in all, retries, waits and token refresh included "
            "(PORT_DEADLINE_SECONDS)"
        )
        if last is not None and last.during:
            note += f"; it was the token request ({last.during}) that failed"
        response = last.response if last is not None else None
        fallback = str(last) if last is not None else "no answer from Port in time"
        error = self.error(route, path, response, fallback, note=note, cls=PortDeadlineError)
        assert isinstance(error, PortDeadlineError)
        return error

    # -- one attempt -------------------------------------------------------------------

    def _attempt(
        self,
        route: Route,
        path: str,
        params: dict[str, str] | None,
        data: bytes | None,
        headers: dict[str, str],
        budget: _Budget,
    ) -> requests.Response:
        budget.attempts += 1
        try:
            token = self._bearer(budget) if route is not AUTH else None
            response = self._send(route, path, params, data, headers, token, budget)
            if response.status_code == 401 and token is not None:
                # expired or revoked: a new token and the same request at once, no retry used
                token = self._bearer(budget, rejected=token)
                response = self._send(route, path, params, data, headers, token, budget)
                if response.status_code == 401:
                    raise self.error(route, path, response)
            _raise_if_retryable(response)
        except _Retryable as failure:
            budget.last = failure
            raise
        return response

    def _send(
        self,
        route: Route,
        path: str,
        params: dict[str, str] | None,
        data: bytes | None,
        headers: dict[str, str],
        token: str | None,
        budget: _Budget,
    ) -> requests.Response:
        remaining = budget.remaining()
        waited = self.limiter.acquire(max_wait=remaining) if remaining > 0 else None
        if waited is None:  # the pause Port asked for, or our pace, outlasts the deadline
            budget.out_of_time = "the wait before the next request would outlast it"
            raise self._deadline_error(route, path, budget)
        if waited > 0:
            self.metrics.record_throttle(waited)
        if token is not None:
            headers = {**headers, "Authorization": f"Bearer {token}"}
        timeout = min(self._settings.timeout, max(budget.remaining(), 0.001))
        self.metrics.record_request(route.name, write=route.write)
        try:
            response = self._session.request(
                route.method,
                self._settings.api_url + path,
                params=params,
                data=data,
                headers=headers,
                timeout=timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        self.limiter.observe(response.headers)
        return response

    # -- retry policy ------------------------------------------------------------------

    def _retrying(self, route: Route, budget: _Budget) -> Retrying:
        return Retrying(
            retry=retry_if_exception_type(_Retryable),
            wait=partial(self._wait, budget),
            stop=partial(self._stop, budget),
            before_sleep=lambda _state: self.metrics.record_retry(route.name),
            reraise=True,
        )

    def _wait(self, budget: _Budget, state: RetryCallState) -> float:
        """Port's own hint if it gave one (every thread of every client of the organization
        in this process waits it out, in the shared `limiter.acquire`), else full-jitter
        exponential backoff."""
        settings = self._settings
        failure = state.outcome.exception() if state.outcome else None
        throttled = isinstance(failure, _Retryable) and failure.throttled
        hint = failure.wait if isinstance(failure, _Retryable) else None
        if not throttled:
            budget.failures += 1
        if hint is not None:
            budget.next_wait = min(hint, settings.max_retry_wait)
            self.limiter.pause(budget.next_wait)
            return 0.0
        ceiling = min(settings.backoff_max, settings.backoff_base * 2 ** (state.attempt_number - 1))
        budget.next_wait = random.uniform(0, ceiling)
        return budget.next_wait

    def _stop(self, budget: _Budget, state: RetryCallState) -> bool:
        """Out of retries (429s do not count), or the next try would start past the deadline."""
        if budget.failures > self._settings.max_retries:
            return True
        if budget.next_wait >= budget.remaining():
            failure = state.outcome.exception() if state.outcome else None
            asked = failure.wait if isinstance(failure, _Retryable) else None
            budget.out_of_time = (
                "no time left for another try"
                if asked is None
                else f"Port asked to wait {asked:g} s before trying again"
            )
            return True
        return False

    # -- token -------------------------------------------------------------------------

    def _bearer(self, budget: _Budget, rejected: str | None = None) -> str:
        """The current token; fetched when missing, near expiry, or just rejected with a 401.

        Waiting for another thread's fetch and the fetch itself count against `budget`. A
        fetch is one request: when it fails the operation's own retry decides (the lock is
        not held meanwhile, so the other threads take their turn instead of queueing).
        """
        tokens = self._tokens
        if not tokens.lock.acquire(timeout=max(budget.remaining(), 0.0)):
            budget.out_of_time = "waiting for another thread's token request"
            raise self._deadline_error(AUTH, TOKEN_ROUTE, budget)
        try:
            if rejected is not None and rejected == tokens.token:
                tokens.refresh_at = 0.0  # stale for every thread, even if the fetch fails
            if tokens.token is None or time.monotonic() >= tokens.refresh_at:
                self._fetch_token(budget)
            assert tokens.token is not None
            return tokens.token
        finally:
            tokens.lock.release()

    def _fetch_token(self, budget: _Budget) -> None:
        settings = self._settings
        body = _dumps({"clientId": settings.client_id, "clientSecret": settings.secret})
        headers = {"User-Agent": self._default_user_agent, "Content-Type": "application/json"}
        try:
            response = self._send(AUTH, TOKEN_ROUTE, None, body, headers, None, budget)
            _raise_if_retryable(response)
        except _Retryable as failure:
            failure.during = AUTH.name
            raise
        if response.status_code != 200:
            code, message = error_details(response)
            raise PortAuthError(
                f"POST {TOKEN_ROUTE}",
                response.status_code,
                code,
                self.redact(message) + " (check PORT_CLIENT_ID / PORT_CLIENT_SECRET)",
                trace_id=response.headers.get("x-trace-id"),
            )
        payload = self.json_object(AUTH, TOKEN_ROUTE, response)
        token = payload.get("accessToken")
        if not isinstance(token, str) or not token:
            raise self.bad_answer(AUTH, TOKEN_ROUTE, response, "no accessToken")
        lifetime = payload.get("expiresIn")
        if not _positive_number(lifetime):
            lifetime = DEFAULT_TOKEN_LIFETIME
        margin = min(settings.token_refresh_margin, float(lifetime) / 10)
        self._tokens.token = token
        self._tokens.refresh_at = time.monotonic() + float(lifetime) - margin

    def redact(self, text: str) -> str:
        """`text` without the client secret, the current token or anything token-shaped (an
        echoed `Authorization` header, a JWT) that a proxy or an error body may carry."""
        return redact(text, [self._settings.secret, self._tokens.token])

    def __repr__(self) -> str:
        return f"PortTransport(base_url={self._settings.api_url!r})"


def error_details(response: requests.Response) -> tuple[str | None, str]:
    """Port's error code and message from an error body; for anything else (a proxy's HTML
    502, a list) what it was, so the error says a gateway answered, not Port."""
    try:
        payload = response.json()
    except ValueError:
        return None, f"not Port's JSON but {_describe_body(response)}"
    if not isinstance(payload, dict):
        kind = type(payload).__name__
        return None, f"not Port's JSON object but a JSON {kind}: {str(payload)[:300]}"
    code = payload.get("error")
    message = payload.get("message") or payload.get("details") or ""
    return (str(code) if code is not None else None), str(message)[:2000]


def _raise_if_retryable(response: requests.Response) -> None:
    status = response.status_code
    if status in RETRYABLE_STATUSES:
        wait = server_wait(status, response.headers)
        raise _Retryable(f"{status}", response, wait, throttled=status == 429)


def _attempts(count: int) -> str:
    return f"{count} attempt{'' if count == 1 else 's'}"


def _describe_body(response: requests.Response) -> str:
    """What a body that is not Port's JSON was: its content type and its first words."""
    kind = response.headers.get("content-type") or "no content type"
    text = " ".join((response.text or "").split())
    if not text:
        return f"{kind}, empty"
    return f"{kind}: {text[:200]}{'...' if len(text) > 200 else ''}"


def _positive_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
