"""Benchmark: a full Port sync of N cloud resources against the in-process Port emulator.

Pass 1 writes everything (expect ceil(N/20) bulk writes); pass 2 searches the owned entities,
plans and applies the same set again (expect 0 writes). Prints entities/s per pass, request
counts and peak memory (process max RSS, emulator included since it runs in-process).

    .venv/bin/python benchmarks/bench_port_sync.py --entities 20000 --rps 117
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time
from pathlib import Path

from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline.mapping.models import Entity
from azure_port_pipeline.port import PortClient, PortSettings, apply_plan, plan_sync

BLUEPRINTS = Path(__file__).parents[1] / "mapping" / "blueprints.json"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
TYPES = ["Microsoft.Storage/storageAccounts", "Microsoft.Web/sites", "Microsoft.Sql/servers"]


def resource_groups(count: int) -> list[Entity]:
    return [
        Entity(
            blueprint="azureResourceGroup",
            identifier=f"/subscriptions/{SUBSCRIPTION}/resourcegroups/rg-{n}",
            title=f"rg-{n}",
            properties={"location": "westeurope", "provisioningState": "Succeeded"},
            relations={"subscription": f"/subscriptions/{SUBSCRIPTION}"},
        )
        for n in range(count)
    ]


def cloud_resources(count: int, groups: list[Entity]) -> list[Entity]:
    entities = []
    for n in range(count):
        group = groups[n % len(groups)].identifier
        kind = TYPES[n % len(TYPES)]
        identifier = f"{group}/providers/{kind.lower()}/res-{n}"
        entities.append(
            Entity(
                blueprint="azureCloudResource",
                identifier=identifier,
                title=f"res-{n}",
                properties={
                    "type": kind,
                    "location": "westeurope",
                    "tags": {"env": "bench", "owner": f"team-{n % 7}"},
                    "url": f"https://portal.azure.com/#@/resource{identifier}",
                },
                relations={"resource_group": group},
            )
        )
    return entities


def sync_pass(client: PortClient, desired: list[Entity], scope: str) -> dict[str, float]:
    before = client.metrics.as_dict()
    started = time.perf_counter()
    owned = client.search_owned("azureCloudResource", scope)
    searched = time.perf_counter()
    plan = plan_sync(desired, owned, listing_complete=True, deletion_threshold=0.9)
    planned = time.perf_counter()
    report = apply_plan(client, plan, scope=scope)
    finished = time.perf_counter()
    after = client.metrics.as_dict()
    bulk = "POST /v1/blueprints/{bp}/entities/bulk"
    return {
        "seconds": round(finished - started, 2),
        "search_s": round(searched - started, 2),
        "plan_s": round(planned - searched, 2),
        "apply_s": round(finished - planned, 2),
        "entities_per_s": round(len(desired) / (finished - started)),
        "owned_found": len(owned),
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "failed": report.failed,
        "write_requests": after["writes"] - before["writes"],
        "bulk_requests": after["by_route"].get(bulk, 0) - before["by_route"].get(bulk, 0),
        "requests": after["requests"] - before["requests"],
        "retries": after["retries"] - before["retries"],
        "throttle_seconds": round(after["throttle_seconds"] - before["throttle_seconds"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--rps", type=float, default=117.0, help="client requests/s budget")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    with PortEmulator(client_id="bench", client_secret="bench-secret") as emu:
        settings = PortSettings(
            base_url=emu.base_url,
            client_id="bench",
            client_secret="bench-secret",
            installation_id="bench",
            requests_per_second=args.rps,
            max_concurrency=args.concurrency,
        )
        with PortClient(settings) as client:
            setup = client.ensure_blueprints(json.loads(BLUEPRINTS.read_text()))
            groups = resource_groups(args.groups)
            client.bulk_upsert(groups, scope=f"{SUBSCRIPTION}:Microsoft.Resources/resourceGroups")
            desired = cloud_resources(args.entities, groups)
            scope = f"{SUBSCRIPTION}:cloudResource"
            first = sync_pass(client, desired, scope)
            second = sync_pass(client, desired, scope)
            stored = emu.entity_count("azureCloudResource")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "entities": args.entities,
                "rps_budget": args.rps,
                "concurrency": args.concurrency,
                "blueprints_created": setup.created,
                "expected_first_pass_bulk_writes": math.ceil(args.entities / 20),
                "first_pass": first,
                "second_pass": second,
                "stored_in_emulator": stored,
                "peak_rss_mib": round(peak_mib, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
