"""Settings of the Azure reader, read from the environment.

Every value has a production default (public cloud, Microsoft authority, system CA store);
the emulator overrides the ARM endpoint, the authority and the CA bundle. Secrets are kept as
`SecretStr` so they never show in a repr, a log line or Dagster metadata.

| variable | meaning | default |
|---|---|---|
| AZURE_TENANT_ID | Entra tenant of the service principal | none |
| AZURE_CLIENT_ID | service principal (or user-assigned managed identity) client id | none |
| AZURE_CLIENT_SECRET | service principal secret; absent -> DefaultAzureCredential | none |
| AZURE_USE_DEFAULT_CREDENTIAL | true: DefaultAzureCredential even with a secret | false |
| AZURE_CLOUD | public, usgov or china: ARM endpoint, token scope, authority | public |
| AZURE_AUTHORITY_HOST | Entra authority (https); non-Microsoft hosts skip discovery | the cloud's |
| AZURE_ARM_ENDPOINT | ARM + Resource Graph endpoint override (https) | the cloud's |
| AZURE_CA_BUNDLE | PEM file trusted for Entra, ARM and Resource Graph | system store |
| AZURE_SUBSCRIPTIONS_INCLUDE | comma-separated GUIDs: only these are synced | all visible |
| AZURE_SUBSCRIPTIONS_EXCLUDE | comma-separated GUIDs never synced | none |
| AZURE_RG_TAGS_INCLUDE | groups must have all these tags (JSON or k=v,k=v) | none |
| AZURE_RG_TAGS_EXCLUDE | groups must have none of these tags (JSON or k=v,k=v) | none |
| AZURE_RESOURCE_GROUP_TAG_FILTERS | Port's format {"include": {..}, "exclude": {..}} | none |
| AZURE_RETRY_TOTAL | ARM/Graph HTTP retries (azure-core RetryPolicy) | 10 |
| AZURE_RETRY_BACKOFF_FACTOR | exponential backoff factor, seconds | 0.8 |
| AZURE_RETRY_BACKOFF_MAX | backoff cap, seconds | 60 |
| AZURE_TIMEOUT | HTTP read timeout, seconds | 60 |
| AZURE_GRAPH_PAGE_SIZE | Resource Graph $top (1-1000) | 1000 |
| AZURE_GRAPH_BATCH_SIZE | subscriptions per Resource Graph request (1-1000) | 1000 |
| AZURE_GRAPH_MAX_THROTTLE_WAITS | Resource Graph 429 waits per page before giving up | 20 |
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .errors import AzureConfigError

Cloud = Literal["public", "usgov", "china"]

#: ARM endpoint, ARM token scope and Entra authority of each sovereign cloud.
CLOUDS: dict[str, dict[str, str]] = {
    "public": {
        "arm_endpoint": "https://management.azure.com",
        "scope": "https://management.azure.com/.default",
        "authority_host": "https://login.microsoftonline.com",
    },
    "usgov": {
        "arm_endpoint": "https://management.usgovcloudapi.net",
        "scope": "https://management.core.usgovcloudapi.net/.default",
        "authority_host": "https://login.microsoftonline.us",
    },
    "china": {
        "arm_endpoint": "https://management.chinacloudapi.cn",
        "scope": "https://management.chinacloudapi.cn/.default",
        "authority_host": "https://login.chinacloudapi.cn",
    },
}
_CLOUD_ALIASES = {
    "public": "public",
    "azurecloud": "public",
    "azure_public_cloud": "public",
    "usgov": "usgov",
    "azureusgovernment": "usgov",
    "azure_us_government": "usgov",
    "china": "china",
    "azurechinacloud": "china",
    "azure_china_cloud": "china",
}
#: Entra authority hosts that take part in instance discovery.
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.windows.net",
        "login.microsoft.com",
        "sts.windows.net",
        "login.microsoftonline.us",
        "login.usgovcloudapi.net",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class AzureSettings(BaseModel):
    """How to reach and authenticate to Azure, and what to read."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    use_default_credential: bool = False
    cloud: Cloud = "public"
    authority_host: str | None = None  # None: the cloud's Microsoft authority
    arm_endpoint: str | None = None  # None: the cloud's ARM endpoint
    ca_bundle: str | None = None  # PEM file trusted for Entra, ARM and Resource Graph
    subscriptions_include: tuple[str, ...] = ()
    subscriptions_exclude: tuple[str, ...] = ()
    rg_tags_include: dict[str, str] = Field(default_factory=dict)
    rg_tags_exclude: dict[str, str] = Field(default_factory=dict)
    retry_total: int = 10
    retry_backoff_factor: float = 0.8
    retry_backoff_max: int = 60
    timeout: float = 60.0  # seconds per HTTP read
    graph_page_size: int = 1000
    graph_batch_size: int = 1000
    graph_max_throttle_waits: int = 20
    graph_max_wait_seconds: float = 60.0
    user_agent: str = "azure-port-pipeline"

    @field_validator("subscriptions_include", "subscriptions_exclude")
    @classmethod
    def _guids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [item for item in value if not _GUID.match(item)]
        if bad:
            raise ValueError(f"not subscription GUIDs: {bad}")
        return tuple(item.lower() for item in value)

    @field_validator("authority_host", "arm_endpoint")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" not in value:
            value = "https://" + value
        if urlparse(value).scheme != "https":
            raise ValueError(f"must be an https URL (Azure refuses tokens over http): {value}")
        return value.rstrip("/")

    @field_validator("graph_page_size", "graph_batch_size")
    @classmethod
    def _at_most_1000(cls, value: int) -> int:
        if not 1 <= value <= 1000:
            raise ValueError("must be between 1 and 1000 (Resource Graph's limit)")
        return value

    # --- derived values -------------------------------------------------------------------

    @property
    def resolved_arm_endpoint(self) -> str:
        return self.arm_endpoint or CLOUDS[self.cloud]["arm_endpoint"]

    @property
    def resolved_authority_host(self) -> str:
        return self.authority_host or CLOUDS[self.cloud]["authority_host"]

    @property
    def credential_scope(self) -> str:
        return CLOUDS[self.cloud]["scope"]

    @property
    def is_microsoft_authority(self) -> bool:
        """False for an emulator: MSAL must then skip instance discovery (it would go online)."""
        host = urlparse(self.resolved_authority_host).hostname or ""
        return host.lower() in MICROSOFT_AUTHORITY_HOSTS

    @property
    def uses_default_credential(self) -> bool:
        """DefaultAzureCredential (managed identity, workload identity, CLI...) when asked,
        or when no client secret is configured."""
        return self.use_default_credential or self.client_secret is None

    # --- environment ----------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AzureSettings:
        """Read the `AZURE_*` variables (see the README for the list and defaults)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        values: dict[str, object] = {
            "tenant_id": get("AZURE_TENANT_ID"),
            "client_id": get("AZURE_CLIENT_ID"),
            "authority_host": get("AZURE_AUTHORITY_HOST"),
            "arm_endpoint": get("AZURE_ARM_ENDPOINT"),
            "ca_bundle": get("AZURE_CA_BUNDLE"),
            "subscriptions_include": _csv(get("AZURE_SUBSCRIPTIONS_INCLUDE")),
            "subscriptions_exclude": _csv(get("AZURE_SUBSCRIPTIONS_EXCLUDE")),
        }
        secret = env.get("AZURE_CLIENT_SECRET")
        if secret:
            values["client_secret"] = SecretStr(secret)
        if get("AZURE_CLOUD"):
            values["cloud"] = _cloud(get("AZURE_CLOUD") or "")
        values["use_default_credential"] = _bool(
            "AZURE_USE_DEFAULT_CREDENTIAL", get("AZURE_USE_DEFAULT_CREDENTIAL")
        )
        include, exclude = _rg_tag_filters(env)
        values["rg_tags_include"], values["rg_tags_exclude"] = include, exclude
        for name, key, kind in (
            ("AZURE_RETRY_TOTAL", "retry_total", int),
            ("AZURE_RETRY_BACKOFF_FACTOR", "retry_backoff_factor", float),
            ("AZURE_RETRY_BACKOFF_MAX", "retry_backoff_max", int),
            ("AZURE_TIMEOUT", "timeout", float),
            ("AZURE_GRAPH_PAGE_SIZE", "graph_page_size", int),
            ("AZURE_GRAPH_BATCH_SIZE", "graph_batch_size", int),
            ("AZURE_GRAPH_MAX_THROTTLE_WAITS", "graph_max_throttle_waits", int),
        ):
            raw = get(name)
            if raw is not None:
                try:
                    values[key] = kind(raw)
                except ValueError:
                    raise AzureConfigError(f"{name} must be a number, got {raw!r}") from None
        try:
            return cls(**{k: v for k, v in values.items() if v is not None})
        except ValueError as err:  # pydantic.ValidationError is a ValueError
            raise AzureConfigError(f"invalid Azure settings: {err}") from None

    def check_credentials_configured(self) -> None:
        """Fail before any request when a service principal is half configured."""
        if self.use_default_credential:
            return
        if self.client_secret is not None:
            missing = [
                name
                for name, value in (
                    ("AZURE_TENANT_ID", self.tenant_id),
                    ("AZURE_CLIENT_ID", self.client_id),
                )
                if not value
            ]
            if missing:
                raise AzureConfigError(
                    f"AZURE_CLIENT_SECRET is set but {', '.join(missing)} is missing: "
                    "a service principal needs tenant id, client id and secret"
                )


def _csv(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _bool(name: str, raw: str | None) -> bool:
    value = (raw or "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise AzureConfigError(f"{name} must be true or false, got {raw!r}")


def _cloud(raw: str) -> str:
    cloud = _CLOUD_ALIASES.get(raw.strip().lower())
    if cloud is None:
        raise AzureConfigError(f"AZURE_CLOUD must be public, usgov or china, got {raw!r}")
    return cloud


def _rg_tag_filters(env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Resource-group tag filters, in our two variables or Port's combined JSON variable.

    `AZURE_RG_TAGS_INCLUDE` / `AZURE_RG_TAGS_EXCLUDE`: a JSON object or `key=value,key=value`.
    `AZURE_RESOURCE_GROUP_TAG_FILTERS`: Port's incremental exporter format,
    `{"include": {...}, "exclude": {...}}`. The specific variables win.
    """
    include: dict[str, str] = {}
    exclude: dict[str, str] = {}
    combined = env.get("AZURE_RESOURCE_GROUP_TAG_FILTERS", "").strip()
    if combined:
        try:
            parsed = json.loads(combined)
        except json.JSONDecodeError as err:
            raise AzureConfigError(f"AZURE_RESOURCE_GROUP_TAG_FILTERS is not JSON: {err}") from None
        if not isinstance(parsed, dict) or set(parsed) - {"include", "exclude"}:
            raise AzureConfigError(
                "AZURE_RESOURCE_GROUP_TAG_FILTERS must look like "
                '{"include": {...}, "exclude": {...}}'
            )
        include = _tag_dict("AZURE_RESOURCE_GROUP_TAG_FILTERS.include", parsed.get("include") or {})
        exclude = _tag_dict("AZURE_RESOURCE_GROUP_TAG_FILTERS.exclude", parsed.get("exclude") or {})
    for name in ("AZURE_RG_TAGS_INCLUDE", "AZURE_RG_TAGS_EXCLUDE"):
        raw = env.get(name, "").strip()
        if not raw:
            continue
        parsed_tags = _parse_tags(name, raw)
        if name.endswith("INCLUDE"):
            include = parsed_tags
        else:
            exclude = parsed_tags
    return include, exclude


def _parse_tags(name: str, raw: str) -> dict[str, str]:
    if raw.startswith("{"):
        try:
            return _tag_dict(name, json.loads(raw))
        except json.JSONDecodeError as err:
            raise AzureConfigError(f"{name} is not a JSON object: {err}") from None
    tags: dict[str, str] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise AzureConfigError(f"{name} must be key=value pairs separated by commas: {raw!r}")
        tags[key.strip()] = value.strip()
    return tags


def _tag_dict(name: str, value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise AzureConfigError(f"{name} must be an object of tag name to value")
    return {str(k): str(v) for k, v in value.items()}
