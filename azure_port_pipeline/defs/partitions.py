"""One partition per Azure subscription GUID, added at run time by the discovery sensor."""

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DynamicPartitionsDefinition,
    RunRequest,
)

from azure_port_pipeline.defs.jobs import SUBSCRIPTION_NAME_TAG

SUBSCRIPTIONS_PARTITION = "azure_subscriptions"
SUBSCRIPTION_RAW_KEY = AssetKey(["azure", "subscription"])

subscription_partitions = DynamicPartitionsDefinition(name=SUBSCRIPTIONS_PARTITION)


def subscription_names(instance: DagsterInstance, subscription_ids: list[str]) -> dict[str, str]:
    """Display names recorded by the latest `azure/subscription` materialization per partition.

    Partition keys must be the stable GUIDs; the names make runs and checks readable.
    """
    if not subscription_ids:
        return {}
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=SUBSCRIPTION_RAW_KEY, asset_partitions=subscription_ids),
        limit=len(subscription_ids) * 20,
    )
    names: dict[str, str] = {}
    for record in result.records:  # newest first
        name = record.asset_materialization.metadata.get("subscription_name")
        if record.partition_key and name is not None and record.partition_key not in names:
            names[record.partition_key] = str(name.value)
    return names


def with_subscription_names(
    instance: DagsterInstance, requests: list[RunRequest]
) -> list[RunRequest]:
    """The requests with their subscription's display name tag (looked up for these only)."""
    names = subscription_names(instance, [r.partition_key or "" for r in requests])
    return [
        r.with_replaced_attrs(
            tags={**r.tags, SUBSCRIPTION_NAME_TAG: names.get(r.partition_key or "", "")}
        )
        for r in requests
    ]
