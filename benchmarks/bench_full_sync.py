"""Benchmark: full sync of a large generated estate through the real Dagster job.

The Azure and Port emulators run in a child process (so the figures for the pipeline's own
memory are not inflated by the emulators' state); the pipeline runs here, on a real Dagster
instance, a few partitions (subscriptions) at once as the daemon runs them (`demo --once`
does the same). Then a second full sync with no change in Azure, which must make 0 Port writes.

By default the emulators answer as fast as they can and the pipeline does not pace its Port
requests, which measures the pipeline itself. `--realistic` adds Azure's and Port's response
times (ARM 0.15 s a page, Resource Graph 0.3 s a query, Port 0.06 s a request) and enforces
Port's published organization limit (35,000 requests per 300 s), with the pipeline's Port
budget at its defaults: then the wall time is compared with the bound Port's limit sets
(ceil(N/20) bulk writes at the organization's rate), and the figures say what bounds the rest.

    .venv/bin/python benchmarks/bench_full_sync.py                     # >100k objects, 10 subs
    .venv/bin/python benchmarks/bench_full_sync.py --resources 5000 --subscriptions 3
    .venv/bin/python benchmarks/bench_full_sync.py --realistic
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import resource
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

WRITE_ROUTES = ("/entities/bulk", "/bulk/entities/delete")
GRAPH_ROUTE = "ResourceGraph"
ENTRA_ROUTES = ("/oauth2/", "openid-configuration", "/discovery/")

#: what `--realistic` sets, flag by flag (an explicit flag still wins)
REALISTIC = {
    "arm_latency": 0.15,
    "graph_latency": 0.3,
    "port_latency": 0.06,
    "port_rate_limit": 35_000,  # Port's published organization limit...
    "port_rate_window": 300.0,  # ...per 5 minutes
}
#: what the other flags default to without `--realistic`
UNREALISTIC = {
    "arm_latency": 0.0,
    "graph_latency": 0.0,
    "port_latency": 0.0,
    "port_rate_limit": None,
    "port_rate_window": 300.0,
}
UNPACED = {"requests_per_second": 1000.0}  # the pipeline's Port pace when Port is not realistic


@dataclass(frozen=True)
class PortBudget:
    """The rates the Port bounds are computed at (requests per second)."""

    organization: float  # Port's limit: enforced by the emulator, or Port's published one
    enforced: bool
    pipeline: float  # this process's pace: one limiter shared by every run here


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--resources",
        type=int,
        default=185_000,
        help="top-level resources in the estate (all types; ~62%% are of the seven default kinds)",
    )
    parser.add_argument("--subscriptions", type=int, default=10, help="enabled subscriptions")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="ARM 0.15 s, Graph 0.3 s, Port 0.06 s latency and Port's limit of 35,000 requests "
        "per 300 s, with the pipeline's Port pace at its defaults (otherwise unpaced)",
    )
    seconds = {"type": float, "default": None, "metavar": "SECONDS"}
    parser.add_argument("--arm-latency", **seconds, help="added to each ARM request (default 0)")
    parser.add_argument(
        "--graph-latency", **seconds, help="added to each Resource Graph query (default 0)"
    )
    parser.add_argument("--port-latency", **seconds, help="added to each Port request (default 0)")
    parser.add_argument(
        "--port-rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="Port emulator's organization limit: N requests per --port-rate-window seconds, "
        "429 beyond (default: not enforced). Without --realistic the pipeline stays unpaced "
        "and meets the limit as 429s",
    )
    parser.add_argument(
        "--port-rate-window", **seconds, help="window of --port-rate-limit (default 300)"
    )
    args = parser.parse_args()
    preset = REALISTIC if args.realistic else UNREALISTIC
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def serve_emulators(args: argparse.Namespace, pipe: Any) -> None:
    """Child process: both emulators; answers "counters" and "stop" on the pipe."""
    from azure_port_pipeline.demo.environment import demo_environment

    with demo_environment(args.seed, args.subscriptions + 1, args.resources) as env:
        env.azure.graph_quota.quota = None
        slow_down(env, args)
        pipe.send((env.endpoints, env.credentials))
        while True:
            command = pipe.recv()
            if command == "stop":
                return
            pipe.send(phase_counts(env, args))


def slow_down(env: Any, args: argparse.Namespace) -> None:
    """The latency and Port limit asked for (the emulators' own faults: nothing else knows)."""
    env.azure.faults.latency(arm=args.arm_latency, graph=args.graph_latency)
    env.port.faults.configure(
        latency=args.port_latency,
        rate_limit=args.port_rate_limit,
        rate_window=args.port_rate_window,
    )
    env.port.faults.take_peaks()  # peaks measured with the window just set


def phase_counts(env: Any, args: argparse.Namespace) -> dict[str, Any]:
    """What both emulators saw since the last call; then every counter starts again."""
    azure = Counter(env.azure.counters)
    counts = {
        "azure": azure_split(azure),
        "azure_latency": env.azure.faults.latency_stats(),
        "port": dict(env.port.counters),
        "port_peaks": env.port.peaks(),
        "entities": env.port.entity_count(),
        "emulator_max_rss_mib": _max_rss_mib(),
    }
    env.azure.reset_counters()
    env.azure.faults.clear()  # the latency counters restart only with `clear`...
    env.azure.faults.latency(arm=args.arm_latency, graph=args.graph_latency)  # ...so set again
    env.port.reset_counters()  # the peaks too
    return counts


def azure_split(counts: Counter[str]) -> dict[str, int]:
    """Azure requests by service: what each latency applies to, and Entra's (none)."""
    graph = sum(v for k, v in counts.items() if GRAPH_ROUTE in k)
    entra = sum(v for k, v in counts.items() if any(route in k for route in ENTRA_ROUTES))
    total = sum(counts.values())
    return {"total": total, "arm": total - graph - entra, "graph": graph, "entra": entra}


def main() -> None:
    args = parse_args()
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
    print(describe_conditions(args), flush=True)

    from dagster import DagsterInstance

    from azure_port_pipeline.defs.factory import build_definitions
    from azure_port_pipeline.defs.headless import (
        DEFAULT_CONCURRENCY,
        discover_and_sync,
        run_queue_limit,
        sync_partitions,
    )
    from azure_port_pipeline.defs.settings import PipelineSettings
    from azure_port_pipeline.demo.environment import emulator_resources

    port_options = None if args.realistic else UNPACED
    resources = emulator_resources(endpoints, credentials, port_options=port_options)
    settings = resources["port"].settings()
    defs = build_definitions(settings=PipelineSettings.from_env({}), resources=resources)
    with tempfile.TemporaryDirectory() as home, DagsterInstance.local_temp(home) as instance:
        # one limiter here, a share per run in flight (run_queue_limit of them), up to its ceiling
        runs = run_queue_limit(instance) or DEFAULT_CONCURRENCY
        pace = min(settings.effective_requests_per_second() * runs, settings.rate_ceiling())
        budget = port_budget(args, pace)
        started = time.monotonic()
        first = discover_and_sync(defs, instance, log_level="WARNING")
        first_seconds = time.monotonic() - started
        parent.send("counters")
        first_counts = parent.recv()

        started = time.monotonic()
        subscriptions = [s.subscription_id for s in first]
        second = sync_partitions(defs, instance, subscriptions, log_level="WARNING")
        second_seconds = time.monotonic() - started
        parent.send("counters")
        second_counts = parent.recv()
    parent.send("stop")
    emulators.join(timeout=30)

    for label, summaries, seconds, counts in (
        ("first full sync", first, first_seconds, first_counts),
        ("second full sync (no change)", second, second_seconds, second_counts),
    ):
        report_phase(label, summaries, seconds, counts, budget)
    print(
        f"\npeak memory: pipeline process {_max_rss_mib():,.0f} MiB; "
        f"emulators process {second_counts['emulator_max_rss_mib']:,.0f} MiB"
    )


def describe_conditions(args: argparse.Namespace) -> str:
    """One line: the latency and Port limit this run is under."""
    limit = (
        f"Port limit {args.port_rate_limit:,} requests per {args.port_rate_window:g} s"
        if args.port_rate_limit
        else "Port limit not enforced"
    )
    pace = "pipeline's Port pace at its defaults" if args.realistic else "pipeline unpaced"
    return (
        f"latency: ARM {args.arm_latency:g} s, Resource Graph {args.graph_latency:g} s, "
        f"Port {args.port_latency:g} s; {limit}; {pace}"
    )


def port_budget(args: argparse.Namespace, pipeline_rate: float) -> PortBudget:
    """Port's organization rate (the emulator's enforced limit, else Port's published one)
    and the pipeline's: the rates that bound how fast the writes can go."""
    from azure_port_pipeline.emulators.port.faults import NOMINAL_LIMIT, NOMINAL_WINDOW

    if args.port_rate_limit:
        return PortBudget(args.port_rate_limit / args.port_rate_window, True, pipeline_rate)
    return PortBudget(NOMINAL_LIMIT / NOMINAL_WINDOW, False, pipeline_rate)


def writes_needed(created_or_updated: int, deleted: int) -> int:
    """The fewest write requests Port's bulk routes allow: 20 entities an upsert, 100
    identifiers a delete (more when a blueprint or a subscription leaves a batch short)."""
    from azure_port_pipeline.port.batching import MAX_BULK_ENTITIES, MAX_DELETE_IDS

    return math.ceil(created_or_updated / MAX_BULK_ENTITIES) + math.ceil(deleted / MAX_DELETE_IDS)


def report_phase(
    label: str, summaries: list[Any], seconds: float, counts: dict[str, Any], budget: PortBudget
) -> None:
    """The phase's figures: throughput, requests, and the bounds Port's budget sets."""
    from azure_port_pipeline.defs.headless import runs_frame

    totals = runs_frame(summaries).drop(columns=["seconds"]).sum(numeric_only=True).astype(int)
    fetched = int(totals["fetched"])
    port = counts["port"]
    writes = sum(v for k, v in port.items() if k.endswith(WRITE_ROUTES))
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
    report_azure(counts["azure"], counts["azure_latency"])
    print(f"  Port write requests  {writes:10,}")
    print(f"  Port requests, all   {sum(port.values()):10,}")
    print(f"  Port entities held   {counts['entities']:10,}")
    report_port_peaks(counts["port_peaks"])
    needed = writes_needed(int(totals["created"] + totals["updated"]), int(totals["deleted"]))
    report_bounds(seconds, needed, sum(port.values()), budget)


def report_azure(requests: dict[str, int], latency: dict[str, Any]) -> None:
    """Azure requests by service, and the latency they waited (summed, and most at once)."""
    print(
        f"  Azure requests       {requests['total']:10,}   (ARM {requests['arm']:,}, "
        f"Resource Graph {requests['graph']:,}, Entra {requests['entra']:,})"
    )
    arm_wait = latency["delayed"]["arm"] * latency["arm_latency"]
    graph_wait = latency["delayed"]["graph"] * latency["graph_latency"]
    if arm_wait or graph_wait:
        print(
            f"  Azure latency        {arm_wait + graph_wait:10,.1f} s summed   (ARM "
            f"{arm_wait:,.1f} s, Graph {graph_wait:,.1f} s; at most "
            f"{latency['peak_in_flight']} requests waiting at once)"
        )


def report_port_peaks(peaks: dict[str, Any]) -> None:
    """What the writers did with Port's budget, as the emulator measured it (sliding)."""
    print(
        f"  Port peaks           {peaks['peak_requests_per_second']:10,} requests in 1 s   "
        f"{peaks['peak_requests_per_window']:,} in {peaks['rate_window']:g} s   "
        f"429s (rate_limited) {peaks['rate_limited']:,}"
    )


def report_bounds(seconds: float, needed: int, requests: int, budget: PortBudget) -> None:
    """The least time Port's budget allows: the writes needed at the organization's rate
    (the issue's bound) and at the pipeline's pace, and every Port request at the pace (the
    pipeline's limiter paces searches as well as writes); each with wall time over it."""
    limit = "enforced" if budget.enforced else "published, not enforced"
    print(f"  Port writes needed   {needed:10,}   (ceil(upserts/20) + ceil(deletes/100))")
    org, pace = budget.organization, budget.pipeline
    rows = (
        (f"writes at Port's limit ({org:.1f}/s, {limit})", needed, org),
        (f"writes at the pipeline's pace ({pace:.1f}/s)", needed, pace),
        (f"all Port requests at the pipeline's pace ({pace:.1f}/s)", requests, pace),
    )
    for text, count, rate in rows:
        bound = count / rate
        ratio = f"wall/bound {seconds / bound:5.2f}x" if bound else "no bound"
        print(f"  bound: {text:58} {bound:8.1f} s   {ratio}")


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
