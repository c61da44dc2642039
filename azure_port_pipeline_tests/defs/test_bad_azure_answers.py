"""A run whose ARM page holds a string instead of an object syncs the rest of the kind."""

from __future__ import annotations

from typing import Any

import pytest
from dagster import AssetKey

from azure_port_pipeline.defs.blueprints import BLUEPRINTS_KEY
from azure_port_pipeline.defs.headless import sync_partition
from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION
from azure_port_pipeline.mapping import unescape_identifier
from azure_port_pipeline_tests.defs.conftest import Pipeline

pytestmark = pytest.mark.e2e

STORAGE = "Microsoft.Storage/storageAccounts"
STORAGE_KEYS = [
    BLUEPRINTS_KEY,
    AssetKey(["azure", "storage_accounts"]),
    AssetKey(["port_entities", "storage_accounts"]),
    AssetKey(["port_sync", "storage_accounts"]),
]


def test_a_string_item_is_reported_and_the_other_accounts_are_written(pipeline: Pipeline) -> None:
    subscription_id = pipeline.enabled_subscriptions[0]
    pipeline.instance.add_dynamic_partitions(SUBSCRIPTIONS_PARTITION, [subscription_id])
    accounts = list(pipeline.azure.estate.resources(subscription_id, STORAGE))
    assert len(accounts) >= 2

    def garble(body: dict[str, Any]) -> dict[str, Any]:
        body["value"].insert(0, "not an object")
        return body

    pipeline.azure.faults.rewrite_page(garble, times=1, route=f"*{STORAGE}*")
    summary = sync_partition(
        pipeline.defs, pipeline.instance, subscription_id, asset_selection=STORAGE_KEYS
    )

    assert summary.success, "one bad item must not fail the kind"
    raw = pipeline.instance.fetch_materializations(AssetKey(["azure", "storage_accounts"]), limit=1)
    metadata = {k: v.value for k, v in raw.records[0].asset_materialization.metadata.items()}
    assert metadata["fetched"] == len(accounts)
    assert metadata["complete"] is False
    assert "item 0 of page 1 is a string, not a JSON object" in metadata["listing_error"]
    written = {
        unescape_identifier(body["identifier"]).lower()
        for body in pipeline.port.entities("azureCloudResource")
        if "/storageaccounts/" in body["identifier"].lower()
    }
    assert written == {account["id"].lower() for account in accounts}
