"""Benchmark: full sync of a large generated estate through the real Dagster job.

The Azure and Port emulators run in a child process (so the figures for the pipeline's own
memory are not inflated by the emulators' state); the pipeline runs here, on a real Dagster
instance, one partition (subscription) after another, exactly as `demo --once` does. Then a
second full sync with no change in Azure, which must make 0 Port writes.

    .venv/bin/python benchmarks/bench_full_sync.py                     # >100k objects, 10 subs
    .venv/bin/python benchmarks/bench_full_sync.py --resources 5000 --subscriptions 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from collections import Counter
from typing import Any

WRITE_ROUTES = ("/entities/bulk", "/bulk/entities/delete")


def serve_emulators(args: argparse.Namespace, pipe: Any) -> None:
    """Child process: both emulators; answers "counters" and "stop" on the pipe."""
    from azure_port_pipeline.demo.environment import demo_environment

    with demo_environment(args.seed, args.subscriptions + 1, args.resources) as env:
        env.azure.graph_quota.quota = None
        pipe.send((env.endpoints, env.credentials))
        while True:
            command = pipe.recv()
            if command == "stop":
                return
            azure = Counter(env.azure.counters)
            port = env.port.counters
            pipe.send(
                {
                    "azure": sum(azure.values()),
                    "port": dict(port),
                    "entities": env.port.entity_count(),
                    "emulator_max_rss_mib": _max_rss_mib(),
                }
            )
            env.azure.reset_counters()
            env.port.reset_counters()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--resources",
        type=int,
        default=185_000,
        help="top-level resources in the estate (all types; ~62%% are of the seven default kinds)",
    )
    parser.add_argument("--subscriptions", type=int, default=10, help="enabled subscriptions")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    emulators = multiprocessing.get_context("spawn").Process(
        target=serve_emulators, args=(args, child), daemon=True
    )
    print(
        f"generating an estate of {args.resources:,} resources over "
        f"{args.subscriptions} enabled subscriptions (+1 disabled)...",
        flush=True,
    )
    emulators.start()
    endpoints, credentials = parent.recv()

    from dagster import DagsterInstance

    from azure_port_pipeline.defs.factory import build_definitions
    from azure_port_pipeline.defs.headless import discover_and_sync, runs_frame, sync_partition
    from azure_port_pipeline.defs.settings import PipelineSettings
    from azure_port_pipeline.demo.environment import emulator_resources

    resources = emulator_resources(
        endpoints, credentials, port_options={"requests_per_second": 1000.0}
    )
    defs = build_definitions(settings=PipelineSettings.from_env({}), resources=resources)
    with tempfile.TemporaryDirectory() as home, DagsterInstance.local_temp(home) as instance:
        started = time.monotonic()
        first = discover_and_sync(defs, instance, log_level="WARNING")
        first_seconds = time.monotonic() - started
        parent.send("counters")
        first_counts = parent.recv()

        started = time.monotonic()
        second = [
            sync_partition(defs, instance, s.subscription_id, log_level="WARNING") for s in first
        ]
        second_seconds = time.monotonic() - started
        parent.send("counters")
        second_counts = parent.recv()
    parent.send("stop")
    emulators.join(timeout=30)

    for label, summaries, seconds, counts in (
        ("first full sync", first, first_seconds, first_counts),
        ("second full sync (no change)", second, second_seconds, second_counts),
    ):
        totals = runs_frame(summaries).drop(columns=["seconds"]).sum(numeric_only=True).astype(int)
        fetched = int(totals["fetched"])
        writes = sum(v for k, v in counts["port"].items() if k.endswith(WRITE_ROUTES))
        print(
            f"\n{label}: {len(summaries)} subscriptions, all runs succeeded: "
            f"{all(s.success for s in summaries)}"
        )
        print(f"  wall time            {seconds:10.1f} s")
        print(f"  Azure objects read   {fetched:10,}   ({fetched / seconds:,.0f}/s)")
        print(
            f"  entities created     {totals['created']:10,}   updated {totals['updated']:,}  "
            f"unchanged {totals['unchanged']:,}  deleted {totals['deleted']:,}  "
            f"failed {totals['write_failures']:,}"
        )
        synced = totals["created"] + totals["updated"] + totals["unchanged"]
        print(f"  entities/s           {synced / seconds:10,.0f}")
        print(f"  Azure requests       {counts['azure']:10,}")
        print(f"  Port write requests  {writes:10,}")
        print(f"  Port requests, all   {sum(counts['port'].values()):10,}")
        print(f"  Port entities held   {counts['entities']:10,}")
    print(
        f"\npeak memory: pipeline process {_max_rss_mib():,.0f} MiB; "
        f"emulators process {second_counts['emulator_max_rss_mib']:,.0f} MiB"
    )


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
