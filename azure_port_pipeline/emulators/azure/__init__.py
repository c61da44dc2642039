"""The Azure emulator: Entra, ARM reads, Resource Graph (KQL), change feed and Event Grid.

    from azure_port_pipeline.emulators.azure import AzureEmulator, generate_estate

    with AzureEmulator(generate_estate(seed=1)) as emu:
        ...  # point the SDKs at emu.base_url, trusting emu.ca_file

Modules: `emulator` (AzureEmulator, its write methods, `serve`), `entra`, `arm` (reads),
`writes` (ARM's PUT / PATCH / DELETE, subscription cancel / enable, operation monitors),
`graph`, `events` (change rows, Event Grid events), `faults`, `estate` (the generated estate),
`wire` (ARM's request view, error envelope and paging).
"""

from .emulator import DEFAULT_CHANGE_DELAY, AzureEmulator, EventPublishError, serve
from .estate import Estate, generate_estate
from .events import Actor
from .faults import AzureFaults
from .graph import GraphQuota

__all__ = [
    "DEFAULT_CHANGE_DELAY",
    "Actor",
    "AzureEmulator",
    "AzureFaults",
    "Estate",
    "EventPublishError",
    "GraphQuota",
    "generate_estate",
    "serve",
]
