"""Stores snapshots as gzip-compressed JSON lines, on local disk or any fsspec object store.

Pickles would tie stored values to today's classes and hide them from people; JSON lines stay
readable and stream at 100k resources. A `base_path` of `az://container/prefix` keeps them in
Azure Blob Storage through adlfs (see blob_storage.py), with the store's one credential: a
connection string or an account URL and the pipeline's Azure credential. Each asset and
subscription has one file (`<base>/<asset key path>/<subscription>.jsonl.gz`), rewritten by
each materialization, whose `path` metadata names it: an incremental run starts from it, a
write step reads it.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from dagster import AssetKey, ConfigurableResource, DagsterInstance, EnvVar, InitResourceContext
from pydantic import Field, PrivateAttr
from upath import UPath

from azure_port_pipeline.azure.credentials import build_credential
from azure_port_pipeline.defs.resources import AzureResource
from azure_port_pipeline.defs.settings import (
    PipelineSettings,
    blob_credential_problem,
    is_blob_url,
)
from azure_port_pipeline.defs.snapshots import (
    SNAPSHOT_TYPES,
    EntitySnapshot,
    RawSnapshot,
    SnapshotKeys,
)
from azure_port_pipeline.redaction import redact

if TYPE_CHECKING:
    from azure_port_pipeline.defs.blob_storage import SnapshotBlobFileSystem

T = TypeVar("T")

EXTENSION = ".jsonl.gz"
COMPRESS_LEVEL = 1
"""Measured on 10k generated resources: orjson with level 1 writes a snapshot about 4x faster
than `json` with level 5, for files about 30% larger (still about 150 bytes a resource)."""
DUMP_OPTIONS = orjson.OPT_NON_STR_KEYS
CHUNK_ROWS = 1000
"""Rows compressed per call: one call a row costs zlib's per-call overhead 10,000 times."""


class SnapshotStoreError(RuntimeError):
    """The snapshot store cannot be reached or used; names AZURE_PORT_STORAGE_URL, never a
    secret."""


class SnapshotStore(ConfigurableResource):
    """Where snapshots live; defaults to `<DAGSTER_HOME>/storage/snapshots`.

    An Azure Blob `base_path` (az://container/prefix) is reached with exactly one credential:
    `connection_string` (an EnvVar), or `account_url` signed in with the pipeline's Azure
    credential (`azure`'s service principal or DefaultAzureCredential). Every blob call is
    bounded by `timeout` per try and `retries`.
    """

    base_path: str | None = Field(
        default=None,
        description="Directory or object-store URL (e.g. az://container/prefix) for snapshots.",
    )
    connection_string: str | None = Field(
        default=None,
        repr=False,
        description="Storage connection string; set as "
        "EnvVar('AZURE_PORT_STORAGE_CONNECTION_STRING').",
    )
    account_url: str | None = Field(
        default=None, description="https://<account>.blob.core.windows.net (token credential)"
    )
    ca_bundle: str | None = Field(default=None, description="PEM file trusted for the account")
    timeout: float = Field(default=30.0, gt=0, description="seconds per try of a blob call")
    retries: int = Field(default=3, ge=0, le=10, description="retries of a failed blob call")
    azure: AzureResource | None = Field(
        default=None, description="whose credential signs in at account_url"
    )

    _filesystem: Any = PrivateAttr(default=None)
    _credential: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_settings(
        cls, settings: PipelineSettings, azure: AzureResource | None = None
    ) -> SnapshotStore:
        """From AZURE_PORT_STORAGE_*: the connection string as an EnvVar, resolved in a run."""
        secret = None
        if settings.storage_connection_string is not None:
            secret = EnvVar("AZURE_PORT_STORAGE_CONNECTION_STRING")
        return cls(
            base_path=settings.storage_url,
            connection_string=secret,
            account_url=settings.storage_account_url,
            ca_bundle=settings.storage_ca_bundle,
            timeout=settings.storage_timeout,
            retries=settings.storage_retries,
            azure=azure if settings.storage_account_url else None,
        )

    def root(self, instance: DagsterInstance) -> UPath:
        if self.base_path:
            return self.path(self.base_path)
        return UPath(instance.storage_directory()) / "snapshots"

    def path(self, text: str) -> UPath:
        """A stored snapshot's path (e.g. a materialization's `path`), reachable with this
        store's credential when it is a blob URL."""
        path = UPath(text)
        if is_blob_url(text):
            if not is_blob_url(self.base_path or ""):
                raise SnapshotStoreError(
                    f"snapshot {text} is in Azure Blob Storage, but AZURE_PORT_STORAGE_URL "
                    f"is {self.base_path or 'unset (local disk)'}: set it back to read it"
                )
            # UPath has no public way to take a configured filesystem; every path derived
            # from this one (joinpath, parent) shares it, as UPath does for its own.
            path._fs_cached = self._call("connect to read", path, self._blob_filesystem)
        return path

    def write(
        self,
        instance: DagsterInstance,
        key: AssetKey,
        partition: str,
        snapshot: RawSnapshot | EntitySnapshot,
    ) -> UPath:
        path = self.root(instance).joinpath(*key.path, f"{partition}{EXTENSION}")
        if not is_blob_url(str(path)):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._call("write", path, lambda: write_snapshot(path, snapshot))
        return path

    def read(self, text: str) -> RawSnapshot | EntitySnapshot:
        path = self.path(text)
        return self._call("read", path, lambda: read_snapshot(path))

    def exists(self, text: str) -> bool:
        """False for a snapshot stored under another AZURE_PORT_STORAGE_URL (in Blob Storage
        while this store is local): after a storage change the next run reads Azure afresh."""
        if is_blob_url(text) and not is_blob_url(self.base_path or ""):
            return False
        path = self.path(text)
        return self._call("look for", path, path.exists)

    def stored_keys(self, text: str) -> StoredKeys:
        return StoredKeys(self.path(text), self)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Forget this run's blob client. Not closed here: runs of one process may share the
        resource's state, and a run still writing must keep its client; adlfs closes the
        client and the credential when the filesystem is collected."""
        with self._lock:
            self._filesystem = None
            self._credential = None

    # ---- internals -----------------------------------------------------------------------
    def _call(self, action: str, path: UPath, call: Callable[[], T]) -> T:
        """`call`, its failure turned into one naming the setting and the path, secrets out."""
        if not is_blob_url(str(path)):
            return call()
        try:
            return call()
        except SnapshotStoreError:
            raise
        except Exception as error:
            reason = redact(f"{type(error).__name__}: {error}", self._secrets())
            raise SnapshotStoreError(
                f"could not {action} snapshot {path} in the Azure Blob snapshot store "
                f"(AZURE_PORT_STORAGE_URL={self.base_path}): {' '.join(reason.split())[:1000]}. "
                f"Check {self._credential_variable()}, the account and the network."
            ) from None

    def _blob_filesystem(self) -> SnapshotBlobFileSystem:
        with self._lock:
            if self._filesystem is None:
                filesystem = self._connect()
                self._call(
                    "create the container of",
                    UPath(self.base_path or ""),
                    lambda: _ensure_container(filesystem, self.base_path or ""),
                )
                self._filesystem = filesystem
            return self._filesystem

    def _connect(self) -> SnapshotBlobFileSystem:
        # adlfs and the blob SDK only when snapshots go to Blob Storage (0.3 s of imports)
        from azure_port_pipeline.defs.blob_storage import (
            BlobClientOptions,
            SnapshotBlobFileSystem,
        )

        connection_string = _value(self.connection_string)
        problem = blob_credential_problem(
            self.base_path, connection_string is not None, self.account_url is not None
        )
        if problem:
            raise SnapshotStoreError(problem)
        options = BlobClientOptions(self.timeout, self.retries, self.ca_bundle)
        if connection_string is not None:
            return SnapshotBlobFileSystem(
                blob_connection_string=connection_string, client_options=options
            )
        if self.azure is None:
            raise SnapshotStoreError(
                "AZURE_PORT_STORAGE_ACCOUNT_URL is set but the snapshot store has no Azure "
                "credential to sign in with (AZURE_TENANT_ID / AZURE_CLIENT_ID / "
                "AZURE_CLIENT_SECRET, or a managed identity)"
            )
        self._credential = build_credential(self.azure.settings())
        return SnapshotBlobFileSystem(
            blob_account_url=self.account_url,
            blob_credential=self._credential,
            client_options=options,
        )

    def _secrets(self) -> list[str]:
        from azure_port_pipeline.defs.blob_storage import connection_string_secrets

        return connection_string_secrets(_value(self.connection_string))

    def _credential_variable(self) -> str:
        if self.connection_string is not None:
            return "AZURE_PORT_STORAGE_CONNECTION_STRING"
        return "AZURE_PORT_STORAGE_ACCOUNT_URL and the Azure credential (AZURE_CLIENT_ID ...)"


def _ensure_container(filesystem: SnapshotBlobFileSystem, base_path: str) -> None:
    """The store's container exists (created if not); another process may create it at the
    same moment, which is as good."""
    container = filesystem.split_path(base_path)[0]
    try:
        filesystem.mkdir(container, exist_ok=True)
    except Exception:
        if not filesystem.exists(container):
            raise


def _value(value: Any) -> Any:
    """A field's value; an EnvVar still unresolved (outside a run) read now."""
    return value.get_value() if isinstance(value, EnvVar) else value


def write_snapshot(path: UPath, snapshot: RawSnapshot | EntitySnapshot) -> None:
    """Writes into an existing directory (or container: blobs have no directories).

    Through a partial file moved over the old one at the end: a write that fails half-way
    (a row that cannot be encoded, a dropped connection) would otherwise leave a truncated
    snapshot where the last materialization's `path` points, and the next incremental run
    would start from it."""
    partial = path.with_name(f"{path.name}.partial-{uuid.uuid4().hex[:12]}")
    try:
        _write_lines(partial, snapshot)
        partial.rename(path)
    except BaseException:
        with contextlib.suppress(Exception):
            partial.unlink()
        raise


def _write_lines(path: UPath, snapshot: RawSnapshot | EntitySnapshot) -> None:
    with (
        path.open("wb") as raw,
        gzip.open(raw, "wb", compresslevel=COMPRESS_LEVEL) as out,
    ):
        lines = [orjson.dumps(snapshot.header(), option=DUMP_OPTIONS)]
        for row in snapshot.rows():
            lines.append(orjson.dumps(row, option=DUMP_OPTIONS))
            if len(lines) >= CHUNK_ROWS:
                out.write(b"\n".join(lines) + b"\n")
                lines.clear()
        if lines:
            out.write(b"\n".join(lines) + b"\n")


def read_snapshot(path: UPath) -> RawSnapshot | EntitySnapshot:
    with path.open("rb") as raw, gzip.open(raw, "rb") as lines:
        header = orjson.loads(next(lines))
        snapshot_type = SNAPSHOT_TYPES[header["record_type"]]
        return snapshot_type.from_lines(header, _rows(lines))


class StoredKeys:
    """Another kind's entity snapshot a write may need: read (keys only) when asked, so a
    write that deletes nothing never reads the other kinds' snapshots."""

    def __init__(self, path: UPath, store: SnapshotStore | None = None) -> None:
        self.path = path
        self.store = store

    def __repr__(self) -> str:
        return f"StoredKeys({str(self.path)!r})"

    def read(self) -> SnapshotKeys:
        if self.store is None:
            return self._read()
        return self.store._call("read", self.path, self._read)

    def _read(self) -> SnapshotKeys:
        with self.path.open("rb") as raw, gzip.open(raw, "rb") as lines:
            return SnapshotKeys.from_lines(orjson.loads(next(lines)), _rows(lines))


def _rows(lines: Any) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            yield orjson.loads(line)
