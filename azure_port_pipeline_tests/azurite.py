"""A real Azurite queue service for a test (the demo's launcher): stopped whatever happens."""

from azure_port_pipeline.demo.azurite import (
    AZURITE,
    AZURITE_KEY,
    connection_string,
    free_port,
    running_azurite_queue,
)

__all__ = ["AZURITE", "AZURITE_KEY", "connection_string", "free_port", "running_azurite_queue"]
