"""What the checks learn and hand on: settings, the mapping, live clients, the instance.

Each check reads what earlier checks found (and reports "skipped: needs X" when that is
missing), and records what later checks need. Everything opened is registered on `cleanup`,
closed once the last check has run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from azure.core.credentials import TokenCredential
from dagster import DagsterInstance

from azure_port_pipeline.azure import AzureSettings
from azure_port_pipeline.defs.settings import PipelineSettings
from azure_port_pipeline.mapping import PortAppConfig
from azure_port_pipeline.port import PortClient, PortSettings

DEFAULT_SECONDS = 20.0
"""Each check's deadline; a host that does not answer costs at most this much."""
GRACE_SECONDS = 10.0
"""Added to the deadline before the runner gives up waiting on a check: SDK imports, a
first SQLite migration, the interpreter's own latency on a busy machine."""
_SECRET_NAMES = re.compile(r"(?i)(secret|password|passwd|token|key|connection_string|sas)")


@dataclass(frozen=True)
class Limits:
    """How long any one check may take, and so how its clients time out and retry."""

    seconds: float = DEFAULT_SECONDS

    @property
    def request_timeout(self) -> float:
        """One socket connect or read: room for one retry inside the deadline."""
        return max(self.seconds / 3, 1.0)

    @property
    def retries(self) -> int:
        return 2


@dataclass
class Findings:
    environ: Mapping[str, str]
    limits: Limits = field(default_factory=Limits)
    cleanup: ExitStack = field(default_factory=ExitStack)
    pipeline: PipelineSettings | None = None
    azure: AzureSettings | None = None
    port: PortSettings | None = None
    mapping: PortAppConfig | None = None
    blueprints: list[dict[str, Any]] | None = None
    blueprints_source: str | None = None
    azure_credential: TokenCredential | None = None
    port_client: PortClient | None = None
    instance: DagsterInstance | None = None


def secrets_of(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Values never to print: every variable named like a secret (client secrets, queue
    connection strings, Postgres passwords), the parts of a connection string, and the
    Port client id (Port treats the pair as credentials), and the password of any URL
    (DAGSTER_PG_URL's), as written and decoded."""
    found: set[str] = set()
    for name, value in environ.items():
        found.update(_url_passwords(value))
        if not value or len(value) < 4:  # shorter: too common to scrub without garbling
            continue
        if _SECRET_NAMES.search(name) or name == "PORT_CLIENT_ID":
            found.add(value)
            found.update(_connection_string_values(value))
    return tuple(sorted(found, key=len, reverse=True))


def _url_passwords(value: str) -> list[str]:
    """`scheme://user:PASSWORD@host` (a database URL), both as written and percent-decoded."""
    if "://" not in value or "@" not in value:
        return []
    try:
        password = urlsplit(value.strip()).password
    except ValueError:  # not a URL after all (a bad port, a bad IPv6 host)
        return []
    if not password or len(password) < 4:
        return []
    return [password, unquote(password)]


def _connection_string_values(value: str) -> list[str]:
    """`AccountKey=...;SharedAccessSignature=...` parts of an Azure connection string."""
    parts = []
    for part in value.split(";"):
        key, sep, secret = part.partition("=")
        if sep and key.strip().lower() in ("accountkey", "sharedaccesssignature") and secret:
            parts.append(secret.strip())
    return [part for part in parts if len(part) >= 8]
