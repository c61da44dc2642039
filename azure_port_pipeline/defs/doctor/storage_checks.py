"""Check 8: snapshot storage takes a write, read back and deleted.

The store is the pipeline's own: `SnapshotStore.from_settings` as definitions build it, so an
`az://` URL is reached with the same credential a run uses (the connection string, or the
account URL signed in with the pipeline's Azure credential), and its container is created when
missing, as the first run would. Its blob calls are bounded by the check's deadline. Only the
local default (`<DAGSTER_HOME>/storage/snapshots`) needs the Dagster instance.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping

from azure.core.exceptions import HttpResponseError
from upath import UPath

from azure_port_pipeline.defs.doctor.azure_checks import bounded
from azure_port_pipeline.defs.doctor.findings import Findings
from azure_port_pipeline.defs.doctor.results import Verdict, fail, ok, skipped, warn
from azure_port_pipeline.defs.resources import AzureResource
from azure_port_pipeline.defs.settings import (
    PipelineSettings,
    blob_credential_problem,
    is_blob_url,
)
from azure_port_pipeline.defs.snapshot_store import SnapshotStore, SnapshotStoreError

PROBE = b"azure-port-pipeline doctor: safe to delete\n"
STORAGE_URL = "AZURE_PORT_STORAGE_URL"
CONNECTION_STRING = "AZURE_PORT_STORAGE_CONNECTION_STRING"
ACCOUNT_URL = "AZURE_PORT_STORAGE_ACCOUNT_URL"
_MISSING_CREDENTIAL_HINT = (
    f"an account URL signs in with the pipeline's Azure credential (AZURE_TENANT_ID / "
    f"AZURE_CLIENT_ID / AZURE_CLIENT_SECRET, or a managed identity); or unset {STORAGE_URL} to "
    "keep snapshots under DAGSTER_HOME"
)


def check_snapshot_storage(found: Findings) -> Verdict:
    """A small probe file written, read back and deleted where snapshots go."""
    settings = found.pipeline
    if settings is None:
        problem = _credential_problem(found.environ)
        if problem:  # the settings failed on this check's own variables: say so here too
            return fail(problem, _MISSING_CREDENTIAL_HINT)
        return skipped("valid AZURE_PORT_* settings")
    blob = is_blob_url(settings.storage_url)
    if not settings.storage_url and found.instance is None:
        return skipped("the dagster instance")
    if blob and settings.storage_account_url and found.azure_credential is None:
        return skipped("azure credentials")  # the store signs in with that same credential
    hint = _hint(settings, found)
    where = settings.storage_url or "the instance's storage directory"
    try:
        store = _store(found, settings)
        # an az:// root connects here (and creates a missing container, as a first run does)
        root = (
            store.path(settings.storage_url) if settings.storage_url else _local_root(store, found)
        )
    except SnapshotStoreError as error:
        return fail(str(error), hint)
    except Exception as error:  # the SDK's and adlfs's own errors, an unreadable CA bundle
        return fail(f"cannot reach {where}: {_reason(error)}", hint)
    return _probe(root, blob, hint)


def _store(found: Findings, settings: PipelineSettings) -> SnapshotStore:
    """The pipeline's store, with the doctor's deadline, credentials from doctor's environment.

    A run resolves the connection string's EnvVar in its own process; here it is the value
    the settings just read, so `run_doctor(environ)` checks `environ`'s.
    """
    limits = found.limits
    bounded_settings = settings.model_copy(
        update={
            "storage_timeout": min(settings.storage_timeout, limits.request_timeout),
            "storage_retries": min(settings.storage_retries, limits.retries),
        }
    )
    azure = _azure(found) if settings.storage_account_url else None
    store = SnapshotStore.from_settings(bounded_settings, azure=azure)
    secret = settings.storage_connection_string
    if secret is not None:
        store = store.model_copy(update={"connection_string": secret.get_secret_value()})
    return store


def _azure(found: Findings) -> AzureResource | None:
    """The pipeline's Azure resource for an account URL's sign-in, cut to the deadline."""
    if found.azure is None:
        return None
    settings = bounded(found.azure, found.limits)
    secret = settings.client_secret.get_secret_value() if settings.client_secret else None
    resource = AzureResource.from_env(found.environ)
    return resource.model_copy(
        update={
            "client_secret": secret,
            "timeout": settings.timeout,
            "deadline_seconds": settings.deadline_seconds,
            "retry_total": settings.retry_total,
            "retry_backoff_factor": settings.retry_backoff_factor,
            "retry_backoff_max": settings.retry_backoff_max,
        }
    )


def _local_root(store: SnapshotStore, found: Findings) -> UPath:
    """The default under the instance's storage directory, as the store chooses it."""
    assert found.instance is not None  # checked by the caller: no URL needs the instance
    return store.root(found.instance)


def _probe(root: UPath, blob: bool, hint: str) -> Verdict:
    """Write, read back and delete one file under `root`, leaving `root` as it was."""
    probe = root / f".doctor-probe-{uuid.uuid4().hex}"
    kind = "blob" if blob else "file"
    existed = blob or root.exists()  # blobs have no directories to leave behind
    try:
        if not blob:
            probe.parent.mkdir(parents=True, exist_ok=True)  # as SnapshotStore.write does
        probe.write_bytes(PROBE)
        if probe.read_bytes() != PROBE:
            return fail(f"{probe} did not read back what was written", hint)
    except Exception as error:  # OSError locally; adlfs and the Storage SDK raise their own
        return fail(f"cannot write {probe}: {_reason(error)}", hint)
    finally:
        with contextlib.suppress(Exception):
            probe.unlink()
    if not existed:
        with contextlib.suppress(Exception):  # leave the store as it was (best effort)
            root.rmdir()
    try:
        left = probe.exists()
    except Exception:  # cannot tell: say so rather than claim it is gone
        left = True
    if left:
        return warn(f"wrote {probe} but could not delete it", f"delete {probe} by hand")
    where = f"{root} (Azure Blob Storage)" if blob else str(root)
    return ok(f"wrote, read back and deleted a probe {kind} in {where}")


def _reason(error: BaseException) -> str:
    """The Storage service's answer (status, error code, first sentence) when there is one in
    the chain (adlfs wraps it in its own RuntimeError), else the exception itself."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, HttpResponseError) and seen.status_code:
            code = getattr(seen.error_code, "value", seen.error_code)
            first = (str(seen.message or seen).strip().splitlines() or [""])[0]
            return f"{seen.status_code} {code or seen.reason}: {first}"
        seen = seen.__cause__ or seen.__context__
    return f"{type(error).__name__}: {error}"


def _hint(settings: PipelineSettings, found: Findings) -> str:
    if is_blob_url(settings.storage_url):
        if settings.storage_connection_string is not None:
            return (
                f"check {CONNECTION_STRING} (account name, key and blob endpoint), the "
                f"container in {STORAGE_URL}, and the network"
            )
        return (
            f"check {ACCOUNT_URL}, that the Azure credential may write blobs there (Storage "
            "Blob Data Contributor), AZURE_PORT_STORAGE_CA_BUNDLE, and the network"
        )
    if settings.storage_url:
        return f"make {settings.storage_url} writable for this user, or change {STORAGE_URL}"
    local = f"{found.instance.storage_directory()}/snapshots" if found.instance else "it"
    return (
        f"make {local} writable for this user, or set {STORAGE_URL} (az://container/prefix "
        "for Azure Blob Storage)"
    )


def _credential_problem(environ: Mapping[str, str]) -> str:
    """An `az://` URL without (or with both) credentials, from the variables themselves."""
    return blob_credential_problem(
        environ.get(STORAGE_URL) or None,
        bool(environ.get(CONNECTION_STRING)),
        bool(environ.get(ACCOUNT_URL)),
    )
