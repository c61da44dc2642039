"""`retire_subscription`: the explicit removal of a subscription that vanished from Azure.

The discovery sensor never deletes: a subscription that disappears may be a permissions
hiccup. An operator launches this job (config: subscription_id and confirm) to delete the
entities this installation wrote for it and drop its partition.
"""

from graphlib import TopologicalSorter

from dagster import Config, JobDefinition, OpExecutionContext, in_process_executor, job, op
from pydantic import Field

from azure_port_pipeline.defs.partitions import SUBSCRIPTIONS_PARTITION
from azure_port_pipeline.defs.resources import PortResource
from azure_port_pipeline.defs.sync_step import scope_of
from azure_port_pipeline.mapping import PortAppConfig, ResourceMapping
from azure_port_pipeline.port import PortClient

RETIRE_JOB = "retire_subscription"


class RetireSubscriptionConfig(Config):
    subscription_id: str = Field(description="The subscription whose entities to remove.")
    confirm: str = Field(
        description="Type the subscription id again: removing entities cannot be undone."
    )


def build_retire_job(
    mapping: PortAppConfig, dependencies: dict[str, list[str]], *, foreign_cascade: bool = False
) -> JobDefinition:
    """Deletes cascade only into this installation's own entities unless `foreign_cascade`
    (an entity others depend on is kept, and the job fails naming it)."""
    order = sources_first(mapping.entries, dependencies)
    delete_dependents = mapping.delete_dependent_entities

    @op(name="delete_subscription_entities")
    def retire_subscription(
        context: OpExecutionContext, config: RetireSubscriptionConfig, port: PortResource
    ) -> None:
        if config.confirm != config.subscription_id:
            raise ValueError("confirm must repeat subscription_id exactly; nothing was deleted")
        with port.client() as client:
            for entry in order:
                _delete_owned(
                    context,
                    client,
                    entry,
                    config.subscription_id,
                    delete_dependents,
                    foreign_cascade,
                )
        context.instance.delete_dynamic_partition(SUBSCRIPTIONS_PARTITION, config.subscription_id)
        context.log.info(f"partition {config.subscription_id} removed")

    @job(name=RETIRE_JOB, executor_def=in_process_executor)
    def retire_subscription_job() -> None:
        retire_subscription()

    return retire_subscription_job


def sources_first(
    entries: list[ResourceMapping], dependencies: dict[str, list[str]]
) -> list[ResourceMapping]:
    """Entries whose entities relate to others come before the entries they relate to."""
    by_key = {entry.key: entry for entry in entries}
    targets_first = TopologicalSorter({key: dependencies[key] for key in by_key}).static_order()
    return [by_key[key] for key in reversed(list(targets_first))]


def _delete_owned(
    context: OpExecutionContext,
    client: PortClient,
    entry: ResourceMapping,
    subscription_id: str,
    delete_dependents: bool,
    foreign_cascade: bool = False,
) -> None:
    scope = scope_of(entry, subscription_id)
    for blueprint in sorted(entry.blueprints or ()):
        owned = client.search_owned(blueprint, scope)
        if not owned:
            continue
        outcomes = client.bulk_delete(
            blueprint,
            [entity["identifier"] for entity in owned],
            delete_dependents=delete_dependents,
            foreign_cascade=foreign_cascade,
        )
        failed = [outcome for outcome in outcomes if not outcome.ok]
        context.log.info(f"{scope}: deleted {len(outcomes) - len(failed)} {blueprint} entities")
        if failed:
            raise RuntimeError(
                f"{scope}: {len(failed)} deletions failed, first: "
                f"{failed[0].identifier}: {failed[0].status} {failed[0].message}"
            )
