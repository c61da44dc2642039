"""The mapping layer: Port's YAML + jq mapping format, loaded once, evaluated in bulk.

Pure: no Dagster, no HTTP. The records it produces live in `models.py`.
"""

from .config import PortAppConfig, ResourceMapping
from .engine import map_items, map_items_per_field
from .errors import MappingConfigError
from .loader import load_mapping, load_mapping_text
from .models import Entity, MappingError, MappingReport, MappingResult

__all__ = [
    "Entity",
    "MappingConfigError",
    "MappingError",
    "MappingReport",
    "MappingResult",
    "PortAppConfig",
    "ResourceMapping",
    "load_mapping",
    "load_mapping_text",
    "map_items",
    "map_items_per_field",
]
