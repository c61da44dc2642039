"""Real Azurite services for a test (the demo's launchers): stopped whatever happens."""

from azure_port_pipeline.demo.azurite import (
    ACCOUNT,
    AZURITE,
    AZURITE_BLOB,
    AZURITE_KEY,
    AzuriteBlob,
    connection_string,
    free_port,
    running_azurite_blob,
    running_azurite_queue,
)

__all__ = [
    "ACCOUNT",
    "AZURITE",
    "AZURITE_BLOB",
    "AZURITE_KEY",
    "AzuriteBlob",
    "connection_string",
    "free_port",
    "running_azurite_blob",
    "running_azurite_queue",
]
