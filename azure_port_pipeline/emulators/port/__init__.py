"""The Port API emulator: auth, blueprints, entities, search, with Port's errors and faults.

    from azure_port_pipeline.emulators.port import PortEmulator

    with PortEmulator(client_id="id", client_secret="secret") as emu:
        ...  # talk to emu.base_url

Modules: `emulator` (PortEmulator, the HTTP app, `serve`), `routes` (one function per
route), `auth` (tokens), `store` (the catalog), `search` (Port's query language),
`validation`, `faults` (rate limits and injected misbehaviour), `errors`.
"""

from azure_port_pipeline.emulators.port.emulator import BODY_LIMIT, PortEmulator, serve
from azure_port_pipeline.emulators.port.errors import PortApiError
from azure_port_pipeline.emulators.port.faults import Faults
from azure_port_pipeline.emulators.port.store import PortStore, UpsertOptions

__all__ = [
    "BODY_LIMIT",
    "Faults",
    "PortApiError",
    "PortEmulator",
    "PortStore",
    "UpsertOptions",
    "serve",
]
