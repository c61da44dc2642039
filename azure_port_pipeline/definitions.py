"""The code location Dagster loads (`dagster dev -w workspace.yaml`)."""

from azure_port_pipeline.defs.factory import build_definitions

defs = build_definitions()
