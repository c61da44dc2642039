"""Snapshots and compute logs in Azure Blob Storage, against a real Azurite blob service.

Real parts throughout: the pipeline's runs on a real Dagster instance, adlfs and the Storage
SDK over HTTP(S) to Azurite, the Azure and Port emulators. Both credential styles: a
connection string, and an account URL signed in with the pipeline's own Entra credential
(Azurite over HTTPS with `--oauth basic`, the token from the Entra emulator).
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient
from dagster import AssetKey, Definitions, instance_for_test, job, op

from azure_port_pipeline.defs.assets import KindAssetKeys
from azure_port_pipeline.defs.factory import build_definitions
from azure_port_pipeline.defs.headless import discover_and_sync, sync_partition
from azure_port_pipeline.defs.settings import PipelineSettings, PipelineSettingsError
from azure_port_pipeline.defs.snapshot_store import SnapshotStore, SnapshotStoreError
from azure_port_pipeline.mapping.defaults import load_default_mapping
from azure_port_pipeline_tests.azurite import (
    AZURITE_KEY,
    AzuriteBlob,
    free_port,
    running_azurite_blob,
)
from azure_port_pipeline_tests.defs.conftest import Pipeline
from azure_port_pipeline_tests.defs.test_full_sync import materialization
from azure_port_pipeline_tests.defs.test_incremental_sync import (
    STORAGE,
    STORAGE_VERSION,
    WINDOW_SETTINGS,
    Estate,
)

pytestmark = pytest.mark.e2e

CONTAINER, PREFIX = "snapshots", "e2e/pipeline"
SECRET_VARIABLE = "AZURE_PORT_STORAGE_CONNECTION_STRING"
STORAGE_AUDIENCE = "https://storage.azure.com"


@pytest.fixture
def azurite() -> Iterator[AzuriteBlob]:
    with running_azurite_blob() as blob:
        yield blob


@pytest.fixture
def azurite_oauth() -> Iterator[AzuriteBlob]:
    with running_azurite_blob(https=True, oauth=True) as blob:
        yield blob


class BlobEstate(Estate):
    """The incremental tests' estate, its snapshots in Azurite's blob service."""

    def __init__(self, pipeline: Pipeline, storage: dict[str, str], **kwargs: Any) -> None:
        self.storage = storage
        super().__init__(pipeline, **kwargs)

    def definitions(self, resources: dict[str, Any]) -> Definitions:
        settings = PipelineSettings.from_env({**WINDOW_SETTINGS, **self.storage})
        return build_definitions(settings=settings, resources=resources)


def blob_names(blob: AzuriteBlob) -> set[str]:
    """What the container holds, listed with the Storage SDK (not through the pipeline)."""
    client = BlobServiceClient.from_connection_string(
        blob.connection_string, connection_verify=blob.ca_file or True, retry_total=2
    )
    with client:
        return {item.name for item in client.get_container_client(CONTAINER).list_blobs()}


def snapshot_keys() -> list[AssetKey]:
    keys = [KindAssetKeys.for_entry(entry) for entry in load_default_mapping().entries]
    return [key for pair in keys for key in (pair.raw, pair.entities)]


def assert_every_snapshot_is_a_blob(pipeline: Pipeline, blob: AzuriteBlob, subscriptions):
    names = blob_names(blob)
    for subscription_id in subscriptions:
        for key in snapshot_keys():
            name = "/".join([PREFIX, *key.path, f"{subscription_id}.jsonl.gz"])
            assert name in names, f"{name} not in the container"
            path = materialization(pipeline, list(key.path), subscription_id)["path"]
            assert path == f"az://{CONTAINER}/{name}"


def everything_the_runs_recorded(pipeline: Pipeline) -> str:
    """Every event of every run (logs, metadata, failures) as text."""
    texts = []
    for run in pipeline.instance.get_runs():
        for entry in pipeline.instance.all_logs(run.run_id):
            texts.append(repr(entry))
            if entry.dagster_event is not None:
                texts.append(repr(entry.dagster_event.event_specific_data))
    return "\n".join(texts)


# ---- connection string --------------------------------------------------------------------


def test_a_sync_by_connection_string_keeps_every_snapshot_in_blobs_and_reads_them_back(
    pipeline: Pipeline, azurite: AzuriteBlob, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, azurite.connection_string)
    storage = {
        "AZURE_PORT_STORAGE_URL": f"az://{CONTAINER}/{PREFIX}",
        SECRET_VARIABLE: azurite.connection_string,
    }
    pipeline.azure.page_size = 3  # the incremental run reads changed ids one by one
    estate = BlobEstate(pipeline, storage)
    estate.full_sync()
    subscriptions = pipeline.enabled_subscriptions
    assert_every_snapshot_is_a_blob(pipeline, azurite, subscriptions)
    for subscription_id in subscriptions:  # what a sync with snapshots on local disk gives
        estate.assert_port_matches_azure(subscription_id)

    # an incremental run starts from the stored raw snapshot (read back from the blob) and
    # writes its new snapshots over it
    first = subscriptions[0]
    before = materialization(pipeline, ["azure", "storage_accounts"], first)
    target = next(iter(pipeline.azure.estate.resources(first, STORAGE)))["id"]
    estate.client(first).resources.begin_update_by_id(
        target, api_version=STORAGE_VERSION, parameters={"tags": {"blob": "read-back"}}
    ).result()
    outcome = estate.window()
    assert outcome.summaries and all(summary.success for summary in outcome.summaries)
    after = materialization(pipeline, ["azure", "storage_accounts"], first)
    assert after["path"] == before["path"]
    assert after["fetched"] < before["fetched"]  # brought forward, not listed again
    estate.assert_port_matches_azure(first)

    recorded = everything_the_runs_recorded(pipeline)
    assert "az://" in recorded
    assert AZURITE_KEY not in recorded
    assert azurite.connection_string not in recorded


# ---- account URL + the pipeline's Entra credential ---------------------------------------


def test_a_sync_by_account_url_signs_in_with_the_pipelines_credential(
    pipeline: Pipeline, azurite_oauth: AzuriteBlob
) -> None:
    storage = {
        "AZURE_PORT_STORAGE_URL": f"az://{CONTAINER}/{PREFIX}",
        "AZURE_PORT_STORAGE_ACCOUNT_URL": azurite_oauth.account_url,
        "AZURE_PORT_STORAGE_CA_BUNDLE": azurite_oauth.ca_file or "",
    }
    settings = PipelineSettings.from_env(storage)
    defs = build_definitions(settings=settings, resources=pipeline.resources())
    summaries = discover_and_sync(defs, pipeline.instance, log_level="WARNING")

    assert summaries and all(summary.success for summary in summaries)
    assert_every_snapshot_is_a_blob(pipeline, azurite_oauth, pipeline.enabled_subscriptions)
    audiences = {_claims(token)["aud"] for token in pipeline.azure.entra.issued_tokens()}
    assert STORAGE_AUDIENCE in audiences  # Azurite took the Entra emulator's storage token


def test_azurite_refuses_the_account_url_without_a_token_it_accepts(
    pipeline: Pipeline, azurite_oauth: AzuriteBlob
) -> None:
    """The bearer path is really checked: an anonymous client cannot create the container."""
    from azure.core.exceptions import HttpResponseError

    client = BlobServiceClient(
        azurite_oauth.account_url, connection_verify=azurite_oauth.ca_file, retry_total=0
    )
    with client, pytest.raises(HttpResponseError):
        client.create_container(CONTAINER)


# ---- misconfiguration ------------------------------------------------------------------------


def test_a_blob_url_without_a_credential_stops_definitions_from_loading() -> None:
    with pytest.raises(PipelineSettingsError) as raised:
        PipelineSettings.from_env({"AZURE_PORT_STORAGE_URL": f"az://{CONTAINER}/{PREFIX}"})
    message = str(raised.value)
    assert "AZURE_PORT_STORAGE_URL" in message
    assert SECRET_VARIABLE in message and "AZURE_PORT_STORAGE_ACCOUNT_URL" in message


def test_a_store_built_without_a_credential_names_what_is_missing() -> None:
    store = SnapshotStore(base_path=f"az://{CONTAINER}/{PREFIX}")
    with pytest.raises(SnapshotStoreError, match=r"AZURE_PORT_STORAGE_URL.*no credential"):
        store.exists(f"az://{CONTAINER}/{PREFIX}/x.jsonl.gz")


def test_an_unreachable_account_fails_the_run_naming_the_setting_without_the_key(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/devstoreaccount1"  # nothing listens there
    secret = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={nobody};"
    )
    monkeypatch.setenv(SECRET_VARIABLE, secret)
    settings = PipelineSettings.from_env(
        {
            "AZURE_PORT_STORAGE_URL": f"az://{CONTAINER}/{PREFIX}",
            SECRET_VARIABLE: secret,
            "AZURE_PORT_STORAGE_RETRIES": "0",
            "AZURE_PORT_STORAGE_TIMEOUT": "5",
        }
    )
    defs = build_definitions(settings=settings, resources=pipeline.resources())
    from azure_port_pipeline.defs.headless import discover

    discover(defs, pipeline.instance)
    summary = sync_partition(defs, pipeline.instance, pipeline.enabled_subscriptions[0])

    assert not summary.success
    recorded = everything_the_runs_recorded(pipeline)
    assert "Azure Blob snapshot store (AZURE_PORT_STORAGE_URL=az://" in recorded
    assert SECRET_VARIABLE in recorded
    assert AZURITE_KEY not in recorded and secret not in recorded


# ---- compute logs -----------------------------------------------------------------------------


@op
def say_hello() -> None:
    print("compute log to stdout: hello from the op")
    print("compute log to stderr: hello from the op", file=sys.stderr)


@job
def hello_job() -> None:
    say_hello()


def test_compute_logs_land_in_the_blob_container(
    azurite: AzuriteBlob, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, azurite.connection_string)
    container = "compute-logs"
    with BlobServiceClient.from_connection_string(azurite.connection_string) as client:
        client.create_container(container)
    overrides = {
        "compute_logs": {
            "module": "azure_port_pipeline.defs.compute_logs",
            "class": "ConnectionStringBlobComputeLogManager",
            "config": {
                "connection_string": {"env": SECRET_VARIABLE},
                "container": container,
                "prefix": "azure-port-pipeline",
                "retries": 1,
            },
        }
    }
    with instance_for_test(overrides=overrides) as instance:
        result = hello_job.execute_in_process(instance=instance)
        assert result.success
        assert AZURITE_KEY not in repr(instance.get_ref())  # the config holds `env:` only

    with BlobServiceClient.from_connection_string(azurite.connection_string) as client:
        logs = client.get_container_client(container)
        names = [item.name for item in logs.list_blobs(name_starts_with="azure-port-pipeline/")]
        texts = {name: logs.download_blob(name).readall().decode() for name in names}
    out = [text for name, text in texts.items() if name.endswith(".out")]
    err = [text for name, text in texts.items() if name.endswith(".err")]
    assert any("compute log to stdout: hello from the op" in text for text in out)
    assert any("compute log to stderr: hello from the op" in text for text in err)
    assert all(f"/{result.run_id}/" in name for name in names)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
