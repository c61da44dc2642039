"""Port's client-credentials tokens: `POST /v1/auth/access_token` and bearer checks."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from azure_port_pipeline.emulators.port.errors import PortApiError, invalid_request

AUTH_ROUTE = "/v1/auth/access_token"


class Tokens:
    """Port's client-credentials tokens: one active token per credential until it expires."""

    def __init__(self, credentials: dict[str, str], lifetime: float) -> None:
        self._lock = threading.Lock()
        self._credentials = dict(credentials)
        self.lifetime = lifetime
        self._active: dict[str, tuple[str, float]] = {}
        self._by_token: dict[str, tuple[str, float]] = {}

    def add_credentials(self, client_id: str, client_secret: str) -> None:
        with self._lock:
            self._credentials[client_id] = client_secret

    def issue(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise invalid_request("body must be object")
        for key in ("clientId", "clientSecret"):
            if key not in body:
                raise invalid_request(f"body must have required property '{key}'")
            if not isinstance(body[key], str):
                raise invalid_request(f"body/{key} must be string")
        extra = set(body) - {"clientId", "clientSecret"}
        if extra:
            raise invalid_request(f"body must NOT have additional properties ({sorted(extra)})")
        client_id, secret = body["clientId"], body["clientSecret"]
        now = time.monotonic()
        with self._lock:
            expected = self._credentials.get(client_id)
            if expected is None or not secrets.compare_digest(expected, secret):
                raise PortApiError(401, "unauthorized", "Invalid client id or client secret")
            token, expires = self._active.get(client_id, ("", 0.0))
            if not token or expires <= now:
                self._by_token.pop(token, None)
                token, expires = f"emu.{secrets.token_urlsafe(32)}", now + self.lifetime
                self._active[client_id] = (token, expires)
                self._by_token[token] = (client_id, expires)
        remaining = max(0.0, expires - now)
        # round, not int: (now + lifetime) - now can come out a hair under the lifetime
        expires_in: float | int = round(remaining) if remaining >= 60 else round(remaining, 3)
        return {"ok": True, "accessToken": token, "expiresIn": expires_in, "tokenType": "Bearer"}

    def verify(self, authorization: str | None) -> str:
        """The client id of a valid bearer token; 401 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise PortApiError(401, "unauthorized", "Missing bearer token")
        with self._lock:
            found = self._by_token.get(token.strip())
        if found is None:
            raise PortApiError(401, "unauthorized", "Invalid token")
        client_id, expires = found
        if expires <= time.monotonic():
            raise PortApiError(401, "unauthorized", "Token expired")
        return client_id

    def expire_all(self) -> None:
        with self._lock:
            self._active.clear()
            self._by_token = {t: (c, 0.0) for t, (c, _) in self._by_token.items()}
