"""The pools a sync run's steps declare, and their limits made before runs race to make them.

Dagster makes a pool's limit row (from `concurrency.pools.default_limit`) when a step first
claims a slot of it. On Postgres, runs that start together on a new instance race on that insert:
the losers' transactions abort on the unique key, Dagster's fallback update cannot run inside an
aborted transaction, and those runs fail (seen with three headless runs on a fresh database).
Making the rows once, before the first runs (discovery's tick, a headless sync), avoids the race.
"""

from __future__ import annotations

import logging

from dagster import DagsterInstance

AZURE_POOL = "azure_api"
"""Steps that read Azure (azure_read)."""
PORT_POOL = "port_api"
"""Steps that write Port (port__blueprints, port_write)."""
POOLS = (AZURE_POOL, PORT_POOL)

log = logging.getLogger(__name__)


def ensure_pool_limits(instance: DagsterInstance) -> None:
    """Every pool's limit row exists (made from the instance's default limit when missing).
    Another process making one at the same moment is as good: its failure here is logged, not
    raised, since a run would then find the row made."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    missing = [pool for pool in POOLS if pool not in storage.get_concurrency_keys()]
    for pool in missing:
        try:
            storage.initialize_concurrency_limit_to_default(pool)
        except Exception as error:  # a concurrent maker won the insert
            log.info("pool %s: limit made elsewhere meanwhile (%s)", pool, type(error).__name__)
