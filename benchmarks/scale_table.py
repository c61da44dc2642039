"""The cost of a large estate, computed from a measured sync: runs, API requests and time.

Measures one subscription of `--resources-per-subscription` resources end to end (the whole
`azure-port-pipeline sync` process, as bench_sync_process.py does: a first sync, then one with
nothing changed), then scales the measured figures per subscription to `--subscriptions`
subscriptions at the published limits:

- Port: about 35,000 entity requests per 5 minutes per organization (~117/s), shared by every
  writer of the organization: the floor on a full resync's wall time is the Port requests / 117.
- Azure Resource Manager reads: a token bucket per subscription and principal (250 tokens,
  refilled 25/s), so a subscription's listing takes at least its ARM requests / 25 s; it does
  not bound subscriptions read side by side.
- The pipeline's own work: the measured wall time of one run, `--concurrent-runs` at once
  (dagster.yaml's max_concurrent_runs; one pod per run under the K8sRunLauncher).

The time of a resync is the larger of the Port floor and the run-slot time (runs x run wall /
concurrent runs). Nothing is guessed: every per-subscription figure is the measured one.

    .venv/bin/python benchmarks/scale_table.py
    .venv/bin/python benchmarks/scale_table.py --subscriptions 200 --concurrent-runs 3 5
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync_process import SyncTiming, one_round

PORT_REQUESTS_PER_SECOND = 35_000 / 300
ARM_READS_PER_SECOND = 25.0  # refill of the per-subscription bucket
WORKER_START_SECONDS_NOTE = "each run pays a process start (~4 s) on top of its own work"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1000, help="subscriptions to cost")
    parser.add_argument(
        "--resources-per-subscription", type=int, default=10_000, help="resources in each"
    )
    parser.add_argument(
        "--concurrent-runs",
        type=int,
        nargs="+",
        default=[3, 10, 30],
        help="max_concurrent_runs values to cost",
    )
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    sample = SimpleNamespace(
        subscriptions=1, resources=args.resources_per_subscription, seed=args.seed
    )
    print(
        f"measuring one subscription of {args.resources_per_subscription:,} resources "
        "(the whole `sync` process, emulators without latency)...",
        flush=True,
    )
    first, second = one_round(sample)
    for timing in (first, second):
        print(timing.describe())
        if timing.exit_code != 0:
            print(timing.output[-3000:])
            return 1
    print()
    print(table(args, first, second))
    return 0


def table(args: argparse.Namespace, first: SyncTiming, second: SyncTiming) -> str:
    subscriptions = args.subscriptions
    lines = [
        f"{subscriptions:,} subscriptions x {args.resources_per_subscription:,} resources "
        f"({subscriptions * args.resources_per_subscription:,} resources):",
        "",
        "| resync | runs | Azure requests | Port requests (writes) | Port floor at 117/s | "
        + " | ".join(f"{n} runs at once" for n in args.concurrent_runs)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(args.concurrent_runs),
    ]
    for label, timing in (("first full sync", first), ("full resync, nothing changed", second)):
        azure = sum(timing.counts["azure"].values()) * subscriptions
        port = sum(timing.counts["port"].values()) * subscriptions
        writes = timing.port_writes * subscriptions
        port_floor = port / PORT_REQUESTS_PER_SECOND
        cells = []
        for concurrent in args.concurrent_runs:
            slots = math.ceil(subscriptions / concurrent) * timing.seconds
            cells.append(_duration(max(port_floor, slots)))
        lines.append(
            f"| {label} | {subscriptions:,} | {azure:,} | {port:,} ({writes:,}) | "
            f"{_duration(port_floor)} | " + " | ".join(cells) + " |"
        )
    arm_seconds = sum(first.counts["azure"].values()) / ARM_READS_PER_SECOND
    lines += [
        "",
        f"Measured per subscription: first sync {first.seconds:.1f} s wall "
        f"({first.cpu:.1f} s CPU), nothing changed {second.seconds:.1f} s "
        f"({second.cpu:.1f} s CPU); {WORKER_START_SECONDS_NOTE}.",
        f"Azure's per-subscription read bucket (25/s) needs {arm_seconds:.1f} s for one "
        "subscription's listing: never the bound, since subscriptions are read side by side.",
        "A cell is the larger of Port's floor and runs x run wall / runs at once; past the "
        "Port floor, more runs at once only split Port's budget finer.",
    ]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


if __name__ == "__main__":
    sys.exit(main())
