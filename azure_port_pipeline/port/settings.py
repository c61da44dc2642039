"""How to reach Port, and how hard to push it: read from the environment, secret kept secret."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

DEFAULT_BASE_URL = "https://api.port.io"

_ENV = {
    "base_url": "PORT_BASE_URL",
    "client_id": "PORT_CLIENT_ID",
    "client_secret": "PORT_CLIENT_SECRET",
    "installation_id": "PORT_INSTALLATION_ID",
    "requests_per_second": "PORT_REQUESTS_PER_SECOND",
    "max_concurrency": "PORT_MAX_CONCURRENCY",
    "timeout": "PORT_TIMEOUT",
    "max_retries": "PORT_MAX_RETRIES",
}


class PortConfigError(ValueError):
    """Port settings missing or invalid in the environment; names the variable, never a value."""


class PortSettings(BaseModel):
    """Connection and pacing settings of one Port organization.

    Retry timing is configurable so tests can use millisecond backoffs; the defaults follow
    Port's published budget (about 117 entity requests/s per organization, shared by every
    client of the organization, hence a lower default here).
    """

    model_config = ConfigDict(frozen=True)

    base_url: str = DEFAULT_BASE_URL
    client_id: str
    client_secret: SecretStr
    installation_id: str = "default"
    timeout: float = Field(default=30.0, gt=0)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    requests_per_second: float = Field(default=20.0, gt=0)
    max_retries: int = Field(default=8, ge=0)
    backoff_base: float = Field(default=0.5, ge=0, description="first backoff, doubled per try")
    backoff_max: float = Field(default=30.0, ge=0, description="cap of one backoff wait")
    max_retry_wait: float = Field(default=60.0, ge=0, description="cap of a server-asked wait")
    retry_deadline: float = Field(default=600.0, gt=0, description="give up a request after")
    token_refresh_margin: float = Field(default=300.0, ge=0)
    low_remaining_ratio: float = Field(
        default=0.05, ge=0, le=1, description="pace out requests below this share of the limit"
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> PortSettings:
        """PORT_* variables (PORT_CLIENT_ID and PORT_CLIENT_SECRET are required)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {
            field: environ[name] for field, name in _ENV.items() if environ.get(name)
        }
        values.update(overrides)
        missing = [_ENV[field] for field in ("client_id", "client_secret") if field not in values]
        if missing:
            raise PortConfigError(
                f"Port credentials missing: set {' and '.join(missing)} "
                "(a Port API client id and secret)"
            )
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{_ENV.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in error.errors()
            )
            raise PortConfigError(f"invalid Port settings: {problems}") from None

    @property
    def api_url(self) -> str:
        return self.base_url.rstrip("/")
