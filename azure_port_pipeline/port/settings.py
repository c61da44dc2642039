"""How to reach Port, and how hard to push it: `PORT_*` variables, secret kept secret."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from azure_port_pipeline import envsettings

DEFAULT_BASE_URL = "https://api.port.io"
DEFAULT_ORGANIZATION_RATE = 115.0
"""Port's published organization limit, 35,000 entity requests per 300 s (116.7/s), a hair
under it: what the writers' full buckets let through at once must fit in the window too."""
DEFAULT_CONCURRENT_WRITERS = 3
"""dagster.yaml's `max_concurrent_runs`: at most that many run processes write at once."""


class PortConfigError(ValueError):
    """Port settings missing or invalid in the environment; names the variable, never a value."""


class PortSettings(BaseSettings):
    """Connection and pacing settings of one Port organization (`PORT_<FIELD>` variables).

    Retry timing is configurable so tests can use millisecond backoffs. The pace follows
    Port's published budget (35,000 entity requests per 5 minutes, about 117/s, per
    organization, shared by every client of the organization): each process gets its share,
    `effective_requests_per_second()`. The credentials may be absent while settings are
    validated (definitions load without secrets); a client requires them.
    """

    model_config = SettingsConfigDict(
        env_prefix="PORT_",
        frozen=True,
        extra="ignore",
        env_ignore_empty=True,
        allow_inf_nan=False,  # `inf` seconds is no deadline, `nan` no number
    )

    base_url: str = DEFAULT_BASE_URL
    client_id: str | None = None
    client_secret: SecretStr | None = None
    installation_id: str = "default"
    timeout: float = Field(default=30.0, gt=0)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    requests_per_second: float | None = Field(
        default=None,
        gt=0,
        description="this process's pace, overriding the share of the organization's budget "
        "(None: organization_requests_per_second / concurrent_writers)",
    )
    organization_requests_per_second: float = Field(
        default=DEFAULT_ORGANIZATION_RATE,
        gt=0,
        description="Port's limit for the whole organization, shared by every writer",
    )
    concurrent_writers: int = Field(
        default=DEFAULT_CONCURRENT_WRITERS,
        ge=1,
        le=1000,
        description="processes that may write to the organization at once (dagster.yaml's "
        "max_concurrent_runs): each gets an equal share of the organization's budget",
    )
    max_retries: int = Field(default=8, ge=0)
    backoff_base: float = Field(default=0.5, ge=0, description="first backoff, doubled per try")
    backoff_max: float = Field(default=5.0, ge=0, description="cap of one backoff wait")
    max_retry_wait: float = Field(default=60.0, ge=0, description="cap of a server-asked wait")
    retry_deadline: float = Field(default=600.0, gt=0, description="give up a request after")
    deadline_seconds: float = Field(
        default=120.0,
        gt=0,
        description="total time of one Port operation (one bulk write, one search page, a "
        "token fetch): attempts, retries, waits and token refresh included; "
        "retry_deadline caps it too",
    )
    token_refresh_margin: float = Field(default=300.0, ge=0)
    low_remaining_ratio: float = Field(
        default=0.05, ge=0, le=1, description="pace out requests below this share of the limit"
    )

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return port_base_url(value)

    @field_validator("installation_id")
    @classmethod
    def _installation_id(cls, value: str) -> str:
        # it becomes part of the User-Agent that marks ownership: one plain, stable token
        if not value.strip() or value != value.strip():
            raise ValueError("must be a non-empty name without surrounding spaces")
        if _UNSAFE_ID.search(value):
            raise ValueError("must not contain control characters, ';', '(' or ')'")
        return value

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, require_credentials: bool = True
    ) -> PortSettings:
        """PORT_* variables (default: the process environment)."""
        settings = envsettings.from_environ(cls, environ, PortConfigError)
        if require_credentials:
            settings.require_credentials()
        return settings

    @classmethod
    def from_values(cls, **values: Any) -> PortSettings:
        """Settings from explicit values (a Dagster resource's fields), no environment."""
        return envsettings.from_values(cls, values, PortConfigError)

    def require_credentials(self) -> None:
        missing = [
            envsettings.variable_of(PortSettings, name)
            for name in ("client_id", "client_secret")
            if not _present(getattr(self, name))
        ]
        if missing:
            raise PortConfigError(
                f"Port credentials missing: set {' and '.join(missing)} "
                "(a Port API client id and secret)"
            )

    def rate_ceiling(self) -> float:
        """The most this process may send however many runs it holds: the organization's
        limit, or `PORT_REQUESTS_PER_SECOND` when set (then a fixed pace per process)."""
        if self.requests_per_second is not None:
            return self.requests_per_second
        return self.organization_requests_per_second

    def effective_requests_per_second(self) -> float:
        """The pace of this process: `PORT_REQUESTS_PER_SECOND` when set, else an equal share
        of the organization's budget, so the writers together never go over Port's limit."""
        if self.requests_per_second is not None:
            return self.requests_per_second
        return self.organization_requests_per_second / self.concurrent_writers

    @property
    def secret(self) -> str:
        return self.client_secret.get_secret_value() if self.client_secret else ""

    @property
    def api_url(self) -> str:
        return self.base_url.rstrip("/")


_UNSAFE_ID = re.compile(r"[\x00-\x1f\x7f;()]")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def port_base_url(value: str) -> str:
    """Port's API root: https, or http only to this machine (the emulator).

    The client secret is sent to `{base_url}/v1/auth/access_token`: over http to another host
    it would cross the network in clear text. The message never repeats the value.
    """
    value = value.strip()
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a port that is not a number
        host = parts.hostname
    except ValueError:
        raise ValueError("must be an http(s) URL with a valid host and port") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ValueError("must be an https URL such as https://api.port.io")
    if not host or not _valid_host(host):
        raise ValueError("must be an https URL with a valid host name or IP address")
    if scheme == "http" and not _is_loopback(host):
        raise ValueError(
            "must use https: over http the client secret would travel in clear text "
            "(http is only allowed to 127.0.0.1, ::1 or localhost)"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query string or fragment")
    if port == 0:
        raise ValueError("must not use port 0")
    return value


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return all(_HOST_LABEL.match(label) for label in host.rstrip(".").split("."))


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _present(value: str | SecretStr | None) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return bool(value)
