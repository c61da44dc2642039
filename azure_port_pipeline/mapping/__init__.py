"""The mapping layer: Port's YAML + jq mapping format, loaded once, evaluated in bulk.

Pure: no Dagster, no HTTP. The records it produces live in `models.py` (`Entity` itself in
`azure_port_pipeline.entities`, re-exported here); the packaged default mapping and blueprints
in `defaults/`; the identifier policy (escape what Port rejects) in `identifiers.py`.
"""

from azure_port_pipeline.entities import Entity

from .config import PortAppConfig, ResourceMapping
from .defaults import (
    DEFAULT_BLUEPRINTS_NAME,
    DEFAULT_MAPPING_NAME,
    default_blueprints,
    load_blueprints,
    load_default_mapping,
)
from .engine import map_items, map_items_per_field
from .errors import MappingConfigError
from .identifiers import IdentifierPolicy, escape_identifier, unescape_identifier
from .loader import load_mapping, load_mapping_text
from .models import MappingError, MappingReport, MappingResult

__all__ = [
    "DEFAULT_BLUEPRINTS_NAME",
    "DEFAULT_MAPPING_NAME",
    "Entity",
    "IdentifierPolicy",
    "MappingConfigError",
    "MappingError",
    "MappingReport",
    "MappingResult",
    "PortAppConfig",
    "ResourceMapping",
    "default_blueprints",
    "escape_identifier",
    "load_blueprints",
    "load_default_mapping",
    "load_mapping",
    "load_mapping_text",
    "map_items",
    "map_items_per_field",
    "unescape_identifier",
]
