"""What a headless sync's worker processes import before they are forked (headless._worker_pool).

The fork server imports this once; every worker is forked from it with these modules loaded.
Whatever a worker imports itself, each worker pays again: profiled, a worker imported about 460
modules more than the code location (the instance's storage and its migrations, execution,
Dagster's daemon modules that storage pulls in), 2.2 s of CPU of its 6 s. Nothing here opens a
file, a connection or a thread, and nothing is built (the code location is loaded in the worker,
with the settings of the sync that forked it): imports only.
"""

from __future__ import annotations

import importlib
import os
from contextlib import suppress

import dagster._core.execution.api
import dagster._core.executor.in_process
import dagster._core.storage.base_storage
import dagster._core.storage.sqlite_storage  # noqa: F401
from dagster._core.instance.ref import InstanceRef

import azure_port_pipeline.definitions
import azure_port_pipeline.defs.headless
import azure_port_pipeline.defs.sqlite_storage  # noqa: F401


def _import_the_instances_classes() -> None:
    """The modules the instance's dagster.yaml names (storage, launcher, compute logs): the
    workers open that instance. A home that does not load is left to the worker to report."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return
    with suppress(Exception):  # reported, named, by the worker that opens it
        ref = InstanceRef.from_dir(home)
        for data in (
            ref.storage_data,
            ref.run_launcher_data,
            ref.compute_logs_data,
            ref.local_artifact_storage_data,
        ):
            if data is not None:
                importlib.import_module(data.module_name)


_import_the_instances_classes()
