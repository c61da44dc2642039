"""KQL subset engine throughput on a generated Resource Graph table.

Runs the queries the pipeline and emulator rely on over N `resources` rows and N change
rows, and prints the wall time of each (parse + compile + evaluate, best of 3).

    .venv/bin/python benchmarks/bench_kql.py [--rows 100000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from azure_port_pipeline.emulators.kql import execute

TYPES = [
    "microsoft.storage/storageaccounts",
    "microsoft.web/sites",
    "microsoft.compute/virtualmachines",
    "microsoft.network/virtualnetworks",
]
NOW = datetime(2026, 1, 1, 1, tzinfo=UTC)
QUERIES = [
    "resources | where type =~ 'Microsoft.Storage/StorageAccounts' | order by id asc",
    "resources | where type =~ 'microsoft.web/sites' and tags['env'] == 'prod' "
    "| project id, name, location | order by id asc",
    "resources | summarize count() by type, location",
    "resourcechanges | where properties.changeAttributes.timestamp > ago(30m) | take 1000",
    """resourcechanges
| extend changeTime = todatetime(properties.changeAttributes.timestamp),
         targetResourceId = tostring(properties.targetResourceId),
         changeType = tostring(properties.changeType)
| where changeTime > datetime(2026-01-01T00:00:00Z) and changeTime <= datetime(2026-01-01T00:45:00Z)
| summarize arg_max(changeTime, *) by targetResourceId
| order by changeTime asc, targetResourceId asc""",
]


def tables(rows: int, seed: int) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    resources, changes = [], []
    for i in range(rows):
        rid = (
            f"/subscriptions/s{i % 7}/resourceGroups/rg{i % 50}/providers/x/{rng.getrandbits(40):x}"
        )
        resources.append(
            {
                "id": rid,
                "name": f"r{i}",
                "type": rng.choice(TYPES),
                "location": rng.choice(["westeurope", "eastus"]),
                "subscriptionId": f"s{i % 7}",
                "tags": {"env": rng.choice(["prod", "dev"])},
                "properties": {"i": i},
            }
        )
        stamp = NOW - timedelta(seconds=rng.randrange(3600))
        changes.append(
            {
                "id": f"c{i}",
                "subscriptionId": f"s{i % 7}",
                "properties": {
                    "targetResourceId": resources[rng.randrange(len(resources))]["id"],
                    "changeType": rng.choice(["Create", "Update", "Delete"]),
                    "changeAttributes": {"timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
                },
            }
        )
    return {"resources": resources, "resourcechanges": changes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data = tables(args.rows, args.seed)
    print(f"{args.rows} rows per table")
    for query in QUERIES:
        best, count = float("inf"), 0
        for _ in range(3):
            start = time.perf_counter()
            count = len(execute(query, data, NOW))
            best = min(best, time.perf_counter() - start)
        print(f"{best * 1000:8.1f} ms  {count:7d} rows  {' '.join(query.split())[:90]}")


if __name__ == "__main__":
    main()
