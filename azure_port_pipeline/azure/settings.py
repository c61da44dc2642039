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
| AZURE_DEADLINE_SECONDS | one request's limit, retries, waits and token included | 300 |
| AZURE_GRAPH_PAGE_SIZE | Resource Graph $top (1-1000) | 1000 |
| AZURE_GRAPH_BATCH_SIZE | subscriptions per Resource Graph request (1-1000) | 1000 |
| AZURE_GRAPH_MAX_THROTTLE_WAITS | Resource Graph 429 waits per page before giving up | 20 |
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlparse, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from azure_port_pipeline import envsettings

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

CsvList = Annotated[tuple[str, ...], NoDecode]
TagMap = Annotated[dict[str, str], NoDecode]


class AzureSettings(BaseSettings):
    """How to reach and authenticate to Azure, and what to read (`AZURE_*` variables)."""

    model_config = SettingsConfigDict(
        env_prefix="AZURE_",
        frozen=True,
        extra="ignore",
        env_ignore_empty=True,
        allow_inf_nan=False,  # `inf` seconds is no timeout, `nan` no number
    )

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    use_default_credential: bool = False
    cloud: Cloud = "public"
    authority_host: str | None = None  # None: the cloud's Microsoft authority
    arm_endpoint: str | None = None  # None: the cloud's ARM endpoint
    ca_bundle: str | None = None  # PEM file trusted for Entra, ARM and Resource Graph
    subscriptions_include: CsvList = ()
    subscriptions_exclude: CsvList = ()
    rg_tags_include: TagMap = Field(default_factory=dict)
    rg_tags_exclude: TagMap = Field(default_factory=dict)
    retry_total: int = Field(default=10, ge=0)
    retry_backoff_factor: float = Field(default=0.8, ge=0)
    retry_backoff_max: int = Field(default=60, ge=0)
    timeout: float = Field(default=60.0, gt=0)  # seconds per HTTP read
    # one request, from its first attempt to its last: retries, waits and token included
    deadline_seconds: float = Field(default=120.0, gt=0)
    graph_page_size: int = 1000
    graph_batch_size: int = 1000
    graph_max_throttle_waits: int = Field(default=20, ge=0)
    graph_max_wait_seconds: float = Field(default=60.0, ge=0)
    resource_group_tag_filters: Annotated[str | None, NoDecode] = Field(
        default=None, exclude=True, repr=False, description="Port's combined tag filter format"
    )

    @model_validator(mode="before")
    @classmethod
    def _port_tag_filters(cls, data: Any) -> Any:
        """Port's combined `AZURE_RESOURCE_GROUP_TAG_FILTERS`; the specific variables win."""
        if not isinstance(data, dict):
            return data
        combined = data.get("resource_group_tag_filters")
        data["resource_group_tag_filters"] = None
        if not combined:
            return data
        include, exclude = _combined_tag_filters(combined)
        data.setdefault("rg_tags_include", include)
        data.setdefault("rg_tags_exclude", exclude)
        return data

    @field_validator("cloud", mode="before")
    @classmethod
    def _cloud_alias(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        cloud = _CLOUD_ALIASES.get(value.strip().lower())
        if cloud is None:
            raise ValueError(f"must be public, usgov or china, got {value!r}")
        return cloud

    @field_validator("subscriptions_include", "subscriptions_exclude", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("subscriptions_include", "subscriptions_exclude")
    @classmethod
    def _guids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [item for item in value if not _GUID.match(item)]
        if bad:
            raise ValueError(f"not subscription GUIDs: {bad}")
        return tuple(item.lower() for item in value)

    @field_validator("rg_tags_include", "rg_tags_exclude", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return _parse_tags(value) if isinstance(value, str) else _tag_dict(value)

    @field_validator("authority_host", "arm_endpoint")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if "://" not in value:
            value = "https://" + value
        return https_endpoint(value)

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

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AzureSettings:
        """Read the `AZURE_*` variables (default: the process environment; see the README)."""
        return envsettings.from_environ(cls, environ, AzureConfigError)

    @classmethod
    def from_values(cls, **values: Any) -> AzureSettings:
        """Settings from explicit values (a Dagster resource's fields), no environment."""
        return envsettings.from_values(cls, values, AzureConfigError)

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


def _combined_tag_filters(raw: Any) -> tuple[dict[str, str], dict[str, str]]:
    name = "AZURE_RESOURCE_GROUP_TAG_FILTERS"
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ValueError(f"{name} is not JSON: {err}") from None
    if not isinstance(raw, dict) or set(raw) - {"include", "exclude"}:
        raise ValueError(f'{name} must look like {{"include": {{...}}, "exclude": {{...}}}}')
    tags = []
    for part in ("include", "exclude"):
        try:
            tags.append(_tag_dict(raw.get(part) or {}))
        except ValueError as err:
            raise ValueError(f"{name}: {part}: {err}") from None
    return tags[0], tags[1]


def _parse_tags(raw: str) -> dict[str, str]:
    """A JSON object, or `key=value,key=value`."""
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            return _tag_dict(json.loads(raw))
        except json.JSONDecodeError as err:
            raise ValueError(f"not a JSON object: {err}") from None
    tags: dict[str, str] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"must be key=value pairs separated by commas: {raw!r}")
        tags[key.strip()] = value.strip()
    return tags


def _tag_dict(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("must be an object of tag name to value")
    bad = sorted(str(k) for k, v in value.items() if not isinstance(v, str))
    if bad:  # Azure tag values are strings; `[1, 2]` or `{...}` would never match anything
        raise ValueError(f"tag values must be strings (tags {', '.join(map(repr, bad))})")
    blank = [k for k in value if not str(k).strip()]
    if blank:
        raise ValueError("tag names must not be empty")
    return {str(k): v for k, v in value.items()}


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def https_endpoint(value: str) -> str:
    """An https URL with a real host (name or IP), no credentials, query or fragment.

    The message never repeats the value (it could hold credentials in its user part).
    """
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a port that is not a number
        host = parts.hostname
    except ValueError:
        raise ValueError("must be an https URL with a valid host and port") from None
    if parts.scheme.lower() != "https":
        raise ValueError("must be an https URL (Azure refuses tokens over http)")
    if not host or not _valid_host(host):
        raise ValueError("must be an https URL with a valid host name or IP address")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query string or fragment")
    if port == 0:
        raise ValueError("must not use port 0")
    return value.rstrip("/")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return all(_HOST_LABEL.match(label) for label in labels)
