"""One partition per Azure subscription GUID, added at run time by the discovery sensor."""

from dagster import DynamicPartitionsDefinition

SUBSCRIPTIONS_PARTITION = "azure_subscriptions"

subscription_partitions = DynamicPartitionsDefinition(name=SUBSCRIPTIONS_PARTITION)
