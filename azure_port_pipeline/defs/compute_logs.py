"""Dagster compute logs (each step's stdout/stderr) in Azure Blob Storage, from a connection
string.

dagster-azure's `AzureBlobComputeLogManager` (0.29) always builds its client for
`https://{storage_account}.blob.{endpoint_suffix}/`: it cannot reach an account behind any
other endpoint (Azurite, a private endpoint, Azure Stack), and it has no connection-string
option. This subclass changes only that: its `connection_string` (an `env:` reference in
dagster.yaml) names the endpoint and the key, and the client gets a per-try deadline and a
bounded retry policy. Capturing, uploading, listing and downloading stay dagster-azure's.

    compute_logs:
      module: azure_port_pipeline.defs.compute_logs
      class: ConnectionStringBlobComputeLogManager
      config:
        connection_string:
          env: AZURE_PORT_STORAGE_CONNECTION_STRING
        container: dagster-compute-logs
        prefix: azure-port-pipeline
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

from azure.storage.blob import BlobServiceClient
from dagster import Field, IntSource, Noneable, StringSource
from dagster._core.storage.compute_log_manager import ComputeIOType
from dagster._serdes import ConfigurableClassData
from dagster_azure.blob.compute_log_manager import AzureBlobComputeLogManager

from azure_port_pipeline.defs.blob_storage import BlobClientOptions, account_name


class ConnectionStringBlobComputeLogManager(AzureBlobComputeLogManager):
    """`AzureBlobComputeLogManager` against the account a connection string names."""

    def __init__(
        self,
        connection_string: str,
        container: str,
        *,
        timeout: int = 30,
        retries: int = 3,
        **kwargs: Any,
    ) -> None:
        options = BlobClientOptions(timeout=float(timeout), retries=retries)
        client = BlobServiceClient.from_connection_string(
            connection_string, **options.client_kwargs()
        )
        # The parent builds its client for the public endpoint (no call is made) from the
        # account key; it is replaced by the client of the connection string's endpoint.
        account_key = getattr(client.credential, "account_key", None)
        if account_key is None:
            raise ValueError(
                "compute_logs: the connection string has no AccountKey (a SAS connection "
                "string?): give the account's key connection string, or use dagster-azure's "
                "AzureBlobComputeLogManager with a SAS token or a credential"
            )
        super().__init__(
            storage_account=account_name(connection_string, None),
            container=container,
            access_key_or_sas_token=account_key,
            **kwargs,
        )
        self._blob_client = client
        self._container_client = client.get_container_client(container)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        fields = {
            name: field
            for name, field in super().config_type().items()
            if name
            not in (
                "storage_account",
                "access_key_or_sas_token",
                "secret_credential",
                "default_azure_credential",
                "endpoint_suffix",
            )
        }
        return {
            **fields,
            "connection_string": Field(StringSource, description="use `env:`, never the value"),
            "timeout": Field(IntSource, is_required=False, default_value=30),
            "retries": Field(IntSource, is_required=False, default_value=3),
            "local_dir": Field(Noneable(StringSource), is_required=False, default_value=None),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        return cls(inst_data=inst_data, **config_value)

    def display_path_for_type(self, log_key: Sequence[str], io_type: ComputeIOType) -> str:
        """The blob's URL at the real endpoint (the parent assumes the public one)."""
        if not self.is_capture_complete(log_key):
            return super().display_path_for_type(log_key, io_type)
        return f"{self._container_client.url}/{self._blob_key(log_key, io_type)}"
