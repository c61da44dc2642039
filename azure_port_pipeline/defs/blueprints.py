"""`port/blueprints`: the first step of every sync: both sides' credentials, then the blueprints.

An asset of its own (unpartitioned, upstream of every `azure/*` and `port_sync/*` asset) rather
than a side effect hidden in the first sync step of a process:
- a wrong or missing Azure or Port credential fails here, once, with one message, before any
  Azure read or mapping (instead of once per step, minutes later);
- the UI shows when the blueprints were last checked and what was created, and a transient
  failure is retried on its own (credential errors are not retried: they will not heal).
"""

from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Backoff,
    Failure,
    MaterializeResult,
    RetryPolicy,
    asset,
)

from azure_port_pipeline.azure import AzureAuthError, AzureConfigError
from azure_port_pipeline.defs.pools import PORT_POOL
from azure_port_pipeline.defs.resources import AzureResource, PortResource
from azure_port_pipeline.port import PortAuthError, PortConfigError

BLUEPRINTS_KEY = AssetKey(["port", "blueprints"])
SYNC_GROUP = "port_sync"
CREDENTIAL_ERRORS = (AzureAuthError, AzureConfigError, PortAuthError, PortConfigError)


def build_blueprints_asset(blueprints: Sequence[dict[str, Any]]) -> AssetsDefinition:
    identifiers = [blueprint["identifier"] for blueprint in blueprints]

    @asset(
        key=BLUEPRINTS_KEY,
        group_name=SYNC_GROUP,
        kinds={"port"},
        pool=PORT_POOL,
        retry_policy=RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL),
        description=(
            "Checks the Azure and Port credentials, then creates the Port blueprints the mapping "
            f"writes into when they are missing ({', '.join(identifiers)}); existing blueprints "
            "are left exactly as they are. Every other step of a sync waits for this one."
        ),
    )
    def port_blueprints(
        context: AssetExecutionContext, azure: AzureResource, port: PortResource
    ) -> MaterializeResult:
        try:
            with azure.reader() as reader:
                reader.verify_credentials()
            with port.client() as client:
                setup = client.ensure_blueprints(list(blueprints))
        except CREDENTIAL_ERRORS as error:
            raise Failure(
                description=f"credentials refused, nothing was read or written: {error}",
                allow_retries=False,
            ) from None
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
