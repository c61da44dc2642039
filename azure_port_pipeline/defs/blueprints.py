"""`port/blueprints`: the blueprints every sync writes into, created when missing.

An asset of its own (unpartitioned, upstream of every `port_sync/*` asset) rather than a
side effect hidden in the first sync step of a process: the UI shows when the blueprints were
last checked and what was created, and a failure is retried and visible on its own.
"""

from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Backoff,
    MaterializeResult,
    RetryPolicy,
    asset,
)

from azure_port_pipeline.defs.resources import PortResource

BLUEPRINTS_KEY = AssetKey(["port", "blueprints"])
SYNC_GROUP = "port_sync"


def build_blueprints_asset(blueprints: Sequence[dict[str, Any]]) -> AssetsDefinition:
    identifiers = [blueprint["identifier"] for blueprint in blueprints]

    @asset(
        key=BLUEPRINTS_KEY,
        group_name=SYNC_GROUP,
        kinds={"port"},
        pool="port_api",
        retry_policy=RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL),
        description=(
            "Creates the Port blueprints the mapping writes into when they are missing "
            f"({', '.join(identifiers)}); existing blueprints are left exactly as they are."
        ),
    )
    def port_blueprints(context: AssetExecutionContext, port: PortResource) -> MaterializeResult:
        with port.client() as client:
            setup = client.ensure_blueprints(list(blueprints))
        if setup.created:
            context.log.info(f"created missing Port blueprints: {', '.join(setup.created)}")
        return MaterializeResult(
            metadata={
                "blueprints": len(identifiers),
                "created": len(setup.created),
                "existing": len(setup.existing),
                "created_blueprints": ", ".join(setup.created),
            }
        )

    return port_blueprints
