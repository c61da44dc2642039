"""Every HTTP exchange with Port goes through here: auth, budget, retries, metrics, errors.

One pooled `requests.Session` per client. A request is retried on 429, 5xx, timeouts and
dropped connections (bounded by attempts and by a deadline), honouring Port's Retry-After or
rate-limit reset, else with jittered exponential backoff. Other answers (2xx, 4xx) go back to
the caller, who knows what a 404 or a 413 means for its route.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)

from azure_port_pipeline.port.errors import PortApiError, PortAuthError
from azure_port_pipeline.port.metrics import PortMetrics
from azure_port_pipeline.port.ratelimit import RateLimiter, retry_after_seconds
from azure_port_pipeline.port.settings import PortSettings

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
TOKEN_ROUTE = "/v1/auth/access_token"


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
    """An attempt worth repeating; carries what is needed to report it if retries run out."""

    def __init__(
        self, reason: str, response: requests.Response | None = None, wait: float | None = None
    ) -> None:
        super().__init__(reason)
        self.response = response
        self.wait = wait


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
        self.limiter = RateLimiter(
            settings.requests_per_second, low_remaining_ratio=settings.low_remaining_ratio
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
        """Send until Port gives a final answer; raise PortApiError if it never does."""
        data = body if isinstance(body, bytes | None) else _dumps(body)
        headers = {"User-Agent": user_agent or self._default_user_agent}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            return self._retrying(route)(self._attempt, route, path, params, data, headers)
        except _Retryable as gave_up:
            raise self.error(route, path, gave_up.response, str(gave_up)) from None

    def error(
        self, route: Route, path: str, response: requests.Response | None, fallback: str = ""
    ) -> PortApiError:
        """A PortApiError naming the call and what Port said, with secrets redacted."""
        label = f"{route.method} {path}"
        if response is None:
            return PortApiError(label, None, None, self.redact(fallback))
        code, message = error_details(response)
        cls = PortAuthError if response.status_code == 401 else PortApiError
        return cls(
            label,
            response.status_code,
            code,
            self.redact(message),
            trace_id=response.headers.get("x-trace-id"),
        )

    # -- one attempt -------------------------------------------------------------------

    def _attempt(
        self,
        route: Route,
        path: str,
        params: dict[str, str] | None,
        data: bytes | None,
        headers: dict[str, str],
    ) -> requests.Response:
        token = self._bearer() if route is not AUTH else None
        response = self._send(route, path, params, data, headers, token)
        if response.status_code == 401 and token is not None:
            token = self._bearer(rejected=token)  # refresh once, then retry at once
            response = self._send(route, path, params, data, headers, token)
            if response.status_code == 401:
                raise self.error(route, path, response)
        if response.status_code in RETRYABLE_STATUSES:
            raise _Retryable(
                f"{response.status_code}", response, retry_after_seconds(response.headers)
            )
        return response

    def _send(
        self,
        route: Route,
        path: str,
        params: dict[str, str] | None,
        data: bytes | None,
        headers: dict[str, str],
        token: str | None,
    ) -> requests.Response:
        waited = self.limiter.acquire()
        if waited > 0:
            self.metrics.record_throttle(waited)
        if token is not None:
            headers = {**headers, "Authorization": f"Bearer {token}"}
        self.metrics.record_request(route.name, write=route.write)
        try:
            response = self._session.request(
                route.method,
                self._settings.api_url + path,
                params=params,
                data=data,
                headers=headers,
                timeout=self._settings.timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        self.limiter.observe(response.headers)
        return response

    # -- retry policy ------------------------------------------------------------------

    def _retrying(self, route: Route) -> Retrying:
        settings = self._settings
        return Retrying(
            stop=stop_after_attempt(settings.max_retries + 1)
            | stop_after_delay(settings.retry_deadline),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=lambda _state: self.metrics.record_retry(route.name),
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        """Port's own hint if it gave one (shared by all threads), else jittered backoff."""
        failure = state.outcome.exception() if state.outcome else None
        hint = failure.wait if isinstance(failure, _Retryable) else None
        if hint is not None:
            self.limiter.pause(min(hint, self._settings.max_retry_wait))
            return 0.0
        ceiling = min(
            self._settings.backoff_max,
            self._settings.backoff_base * 2 ** (state.attempt_number - 1),
        )
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    # -- token -------------------------------------------------------------------------

    def _bearer(self, rejected: str | None = None) -> str:
        """The current token; fetched when missing, near expiry, or just rejected with a 401."""
        tokens = self._tokens
        with tokens.lock:
            stale = tokens.token is None or time.monotonic() >= tokens.refresh_at
            if stale or (rejected is not None and rejected == tokens.token):
                self._fetch_token()
            assert tokens.token is not None
            return tokens.token

    def _fetch_token(self) -> None:
        settings = self._settings
        body = {
            "clientId": settings.client_id,
            "clientSecret": settings.secret,
        }
        response = self.request(AUTH, TOKEN_ROUTE, body=body)
        if response.status_code != 200:
            code, message = error_details(response)
            raise PortAuthError(
                f"POST {TOKEN_ROUTE}",
                response.status_code,
                code,
                self.redact(message) + " (check PORT_CLIENT_ID / PORT_CLIENT_SECRET)",
                trace_id=response.headers.get("x-trace-id"),
            )
        payload = response.json()
        lifetime = float(payload.get("expiresIn") or 3600)
        margin = min(settings.token_refresh_margin, lifetime / 10)
        self._tokens.token = payload["accessToken"]
        self._tokens.refresh_at = time.monotonic() + lifetime - margin

    def redact(self, text: str) -> str:
        """`text` with the client secret and the current token replaced by ***."""
        for secret in (self._settings.secret, self._tokens.token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"PortTransport(base_url={self._settings.api_url!r})"


def error_details(response: requests.Response) -> tuple[str | None, str]:
    """Port's error code and message from an error body (or the raw text if not JSON)."""
    try:
        payload = response.json()
    except ValueError:
        return None, (response.text or response.reason or "")[:500]
    if not isinstance(payload, dict):
        return None, str(payload)[:500]
    code = payload.get("error")
    message = payload.get("message") or payload.get("details") or ""
    return (str(code) if code is not None else None), str(message)[:2000]


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
