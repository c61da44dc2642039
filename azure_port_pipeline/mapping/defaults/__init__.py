"""The default mapping and blueprints, shipped inside the package (Port's documented defaults).

The files next to this module are package data, read through `importlib.resources`, so they
load the same from a checkout, an editable install or a wheel. The repository's top-level
`mapping/azure.yaml` and `mapping/blueprints.json` are the user-facing copies the README
documents; a test keeps them byte-identical to these.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from ..config import PortAppConfig
from ..errors import MappingConfigError
from ..loader import load_mapping_text

MAPPING_FILE = "azure.yaml"
BLUEPRINTS_FILE = "blueprints.json"
DEFAULT_MAPPING_NAME = "azure_port_pipeline/mapping/defaults/azure.yaml"
"""How errors, logs and metadata name the package copy of the default mapping."""
DEFAULT_BLUEPRINTS_NAME = "azure_port_pipeline/mapping/defaults/blueprints.json"
"""How errors, logs and metadata name the package copy of the default blueprints."""


def default_mapping_file() -> Traversable:
    """The packaged default mapping (use `importlib.resources.as_file` for a real path)."""
    return resources.files(__name__).joinpath(MAPPING_FILE)


def default_blueprints_file() -> Traversable:
    """The packaged default blueprints (use `importlib.resources.as_file` for a real path)."""
    return resources.files(__name__).joinpath(BLUEPRINTS_FILE)


def load_default_mapping() -> PortAppConfig:
    """Load and compile the packaged default mapping; errors name `DEFAULT_MAPPING_NAME`."""
    try:
        text = default_mapping_file().read_text(encoding="utf-8")
    except OSError as exc:
        detail = f"cannot read mapping: {exc.strerror or exc}"
        raise MappingConfigError(detail, source=DEFAULT_MAPPING_NAME) from None
    return load_mapping_text(text, source=DEFAULT_MAPPING_NAME)


def default_blueprints() -> list[dict[str, Any]]:
    """The packaged default blueprints (a fresh list on every call)."""
    return _read_blueprints(default_blueprints_file(), DEFAULT_BLUEPRINTS_NAME)


def load_blueprints(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Blueprints from a JSON file: a list, or `{"blueprints": [...]}`; each needs an identifier.

    Raises ValueError naming the file when it cannot be read or has the wrong shape.
    """
    path = Path(path)
    return _read_blueprints(path, str(path))


def _read_blueprints(file: Traversable | Path, name: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: JSON or UTF-8 decoding
        raise ValueError(f"{name}: cannot read blueprints: {error}") from error
    blueprints = data.get("blueprints") if isinstance(data, dict) else data
    if not isinstance(blueprints, list) or not all(
        isinstance(b, dict) and "identifier" in b for b in blueprints
    ):
        raise ValueError(f"{name}: expected a list of blueprints, each with an identifier")
    return blueprints


__all__ = [
    "DEFAULT_BLUEPRINTS_NAME",
    "DEFAULT_MAPPING_NAME",
    "default_blueprints",
    "default_blueprints_file",
    "default_mapping_file",
    "load_blueprints",
    "load_default_mapping",
]
