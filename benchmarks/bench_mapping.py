"""Mapping throughput: our bulk jq engine vs Port's per-field evaluation, same run, same data.

Generates storage accounts shaped like ARM's REST output (~2 KB each), maps them with the
default mapping (mapping/azure.yaml), checks both engines give identical entities and reports,
and prints entities/s and the speedup.

    .venv/bin/python benchmarks/bench_mapping.py [--count 20000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from pathlib import Path

from azure_port_pipeline.mapping import load_mapping, map_items, map_items_per_field

ROOT = Path(__file__).resolve().parent.parent
REGIONS = ["westeurope", "northeurope", "eastus", "eastus2", "uksouth", "swedencentral"]
STAMP = "2023-05-04T10:11:12.1234567Z"
SKUS = [("Standard_LRS", "Standard"), ("Standard_GRS", "Standard"), ("Premium_LRS", "Premium")]


def storage_account(rng: random.Random, number: int) -> dict:
    """One storage account as `GET .../storageAccounts?api-version=2023-01-01` returns it."""
    sub = str(uuid.UUID(int=rng.getrandbits(128)))
    group = rng.choice(["Prod-RG", "dev-rg", "Shared-Services", "DATA_platform"]) + str(number % 50)
    name = f"st{number:08d}{rng.choice('abcdef')}"
    location = rng.choice(REGIONS)
    sku, tier = rng.choice(SKUS)
    endpoints = {
        svc: f"https://{name}.{svc}.core.windows.net/"
        for svc in ("blob", "queue", "table", "file", "dfs", "web")
    }
    return {
        "id": f"/subscriptions/{sub}/resourceGroups/{group}"
        f"/providers/Microsoft.Storage/storageAccounts/{name}",
        "name": name,
        "type": "Microsoft.Storage/storageAccounts",
        "location": location,
        "tags": {
            "env": rng.choice(["prod", "dev", "test"]),
            "owner": f"team-{number % 17}",
            "costCenter": str(1000 + number % 300),
        },
        "sku": {"name": sku, "tier": tier},
        "kind": "StorageV2",
        "properties": {
            "provisioningState": "Succeeded",
            "creationTime": STAMP,
            "primaryLocation": location,
            "statusOfPrimary": "available",
            "primaryEndpoints": endpoints,
            "accessTier": rng.choice(["Hot", "Cool"]),
            "allowBlobPublicAccess": False,
            "allowSharedKeyAccess": rng.random() < 0.5,
            "minimumTlsVersion": "TLS1_2",
            "supportsHttpsTrafficOnly": True,
            "isHnsEnabled": rng.random() < 0.3,
            "largeFileSharesState": "Enabled",
            "publicNetworkAccess": "Enabled",
            "dnsEndpointType": "Standard",
            "defaultToOAuthAuthentication": False,
            "keyCreationTime": {"key1": STAMP, "key2": STAMP},
            "networkAcls": {
                "bypass": "AzureServices",
                "defaultAction": "Allow",
                "virtualNetworkRules": [],
                "ipRules": [{"value": f"203.0.113.{rng.randrange(255)}", "action": "Allow"}],
                "resourceAccessRules": [],
            },
            "encryption": {
                "keySource": "Microsoft.Storage",
                "requireInfrastructureEncryption": False,
                "services": {
                    svc: {"enabled": True, "keyType": "Account", "lastEnabledTime": STAMP}
                    for svc in ("blob", "file", "queue", "table")
                },
            },
            "privateEndpointConnections": [],
        },
    }


def timed(fn, rm, items):
    start = time.perf_counter()
    result = fn(rm, items)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mapping", default=str(ROOT / "mapping" / "azure.yaml"))
    args = parser.parse_args()

    rng = random.Random(args.seed)
    items = [storage_account(rng, n) for n in range(args.count)]
    size = sum(len(json.dumps(item)) for item in items) / len(items)
    rm = next(r for r in load_mapping(args.mapping).entries if r.key == "storage_accounts")
    print(f"{len(items)} storage accounts, {size:.0f} bytes each on average")

    bulk, bulk_s = timed(map_items, rm, items)
    per_field, per_field_s = timed(map_items_per_field, rm, items)

    same = [e.to_port() for e in bulk.entities] == [
        e.to_port() for e in per_field.entities
    ] and bulk.report.as_dict() == per_field.report.as_dict()
    print(f"bulk engine      : {len(bulk.entities) / bulk_s:>10,.0f} entities/s ({bulk_s:.2f} s)")
    print(
        f"per-field (Port) : {len(per_field.entities) / per_field_s:>10,.0f} entities/s "
        f"({per_field_s:.2f} s)"
    )
    print(f"speedup          : {per_field_s / bulk_s:.1f}x")
    print(
        f"identical output : {same} ({len(bulk.entities)} entities, "
        f"{len(bulk.report.errors)} errors)"
    )
    if not same:
        raise SystemExit("bulk and per-field outputs differ")


if __name__ == "__main__":
    main()
