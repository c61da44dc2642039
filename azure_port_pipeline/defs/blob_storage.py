"""The fsspec filesystem behind `az://` snapshot paths: adlfs, with the Storage client ours.

adlfs (2026.8) builds its `BlobServiceClient` itself, from a connection string or from
`https://{account_host}` and a credential, with the SDK's default retries and no way to pass
client options. The pipeline needs three things it cannot say: a bounded retry policy and a
per-try deadline on *every* blob call (adlfs forwards its timeouts to uploads and downloads
only), a CA bundle to trust (a private CA, Azurite's throwaway one), and an account URL taken
as given (path-style `https://127.0.0.1:10000/devstoreaccount1` for an emulator). So this
subclass changes only `do_connect`, the one method that creates the client; listing, reading
and writing stay adlfs's.

It also never lets adlfs fill in credentials from `AZURE_STORAGE_*` variables or fall back to
`DefaultAzureCredential` on its own: the snapshot store hands it exactly one credential.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from adlfs import AzureBlobFileSystem
from azure.storage.blob import ExponentialRetry
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.blob.aio import ExponentialRetry as AsyncExponentialRetry

#: Connection string parts that are secrets (the account key, a SAS token)
_SECRET_PARTS = re.compile(r"(?i)(?:^|;)\s*(AccountKey|SharedAccessSignature)\s*=\s*([^;]+)")
_ACCOUNT_NAME = re.compile(r"(?i)(?:^|;)\s*AccountName\s*=\s*([^;]+)")


@dataclass(frozen=True)
class BlobClientOptions:
    """How each blob call is bounded, and which CA the client trusts."""

    timeout: float = 30.0
    retries: int = 3
    ca_bundle: str | None = None

    def client_kwargs(self, asynchronous: bool = False) -> dict[str, Any]:
        """`BlobServiceClient` keywords (of the aio client if `asynchronous`): per-try connect
        and read deadlines, and a retry policy of `retries` tries after the first, backing off
        about 1, 3, 5... seconds."""
        retry = AsyncExponentialRetry if asynchronous else ExponentialRetry
        kwargs: dict[str, Any] = {
            "connection_timeout": min(self.timeout, 30.0),
            "read_timeout": self.timeout,
            "retry_policy": retry(
                initial_backoff=1, increment_base=2, retry_total=self.retries, random_jitter_range=1
            ),
        }
        if self.ca_bundle:
            kwargs["connection_verify"] = self.ca_bundle
        return kwargs


class SnapshotBlobFileSystem(AzureBlobFileSystem):
    """adlfs with the Storage client built from exactly the given connection details."""

    def __init__(
        self,
        *,
        blob_connection_string: str | None = None,
        blob_account_url: str | None = None,
        blob_credential: Any = None,
        client_options: BlobClientOptions | None = None,
        **kwargs: Any,
    ) -> None:
        if (blob_connection_string is None) == (blob_account_url is None):
            raise ValueError("give either a connection string or an account URL")
        self._connection_string = blob_connection_string
        self._account_url = blob_account_url
        self._options = client_options or BlobClientOptions()
        timeout = max(1, math.ceil(self._options.timeout))  # adlfs takes whole seconds
        super().__init__(
            account_name=account_name(blob_connection_string, blob_account_url),
            connection_string=blob_connection_string,
            credential=blob_credential if blob_connection_string is None else None,
            anon=False,
            timeout=timeout,
            connection_timeout=min(timeout, 30),
            read_timeout=timeout,
            skip_instance_cache=True,
            **kwargs,
        )

    def do_connect(self) -> None:
        kwargs = self._options.client_kwargs(asynchronous=True)
        if self._connection_string is not None:
            self.service_client = BlobServiceClient.from_connection_string(
                self._connection_string, **kwargs
            )
        else:
            self.service_client = BlobServiceClient(
                self._account_url or "", credential=self.credential, **kwargs
            )

    def __repr__(self) -> str:  # never the connection string
        return f"SnapshotBlobFileSystem(account={self.account_name!r})"


def account_name(connection_string: str | None, account_url: str | None) -> str:
    """The storage account's name: from the connection string, or the account URL's host
    (`<name>.blob.core.windows.net`) or, path-style (an IP host, an emulator), its first
    path segment."""
    if connection_string is not None:
        match = _ACCOUNT_NAME.search(connection_string)
        return match.group(1).strip() if match else ""
    from urllib.parse import urlparse

    url = urlparse(account_url or "")
    host = url.hostname or ""
    if re.fullmatch(r"[\d.]+|localhost|\[.*\]", host) or ":" in host:
        return url.path.strip("/").split("/", 1)[0]
    return host.split(".", 1)[0]


def connection_string_secrets(connection_string: str | None) -> list[str]:
    """The parts of a connection string to scrub from any text: the whole string, the account
    key and a SAS token."""
    if not connection_string:
        return []
    return [
        connection_string,
        *(m.group(2).strip() for m in _SECRET_PARTS.finditer(connection_string)),
    ]
