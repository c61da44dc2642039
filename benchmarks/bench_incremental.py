"""Benchmark: incremental change windows against a full sync of the same estate.

The Azure and Port emulators run in a child process, as in bench_full_sync.py; the pipeline
runs here, on a real Dagster instance. A full sync of the estate first (the ratios'
denominator), then one quiet window, then for each k a burst of k changes (mostly tag
updates, some creates and deletes, of the mapped kinds) spread over exactly 3 subscriptions,
each followed by one tick of the real `incremental_windows` sensor whose run requests are
executed to the end (`headless.incremental_window`); then a quiet window again, and a full
re-sync, which must write nothing to Port if the windows left Port exactly as a full sync
would. The changes are made through the emulator's own write methods (the ones its ARM
PUT / PATCH / DELETE handlers call), so they record change rows but no HTTP request.

    .venv/bin/python benchmarks/bench_incremental.py        # 100k resources, 10 subs, k=10,100,1000
    .venv/bin/python benchmarks/bench_incremental.py --resources 5000 --subscriptions 4 --ks 10,100
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

WRITE_ROUTES = ("/entities/bulk", "/bulk/entities/delete")
GRAPH_ROUTE = "POST /providers/Microsoft.ResourceGraph/resources"
GET_BY_ID_ROUTE = "GET /{resourceId}"
AUTH = "/{tenant}/"
CHANGED_SUBSCRIPTIONS = 3
#: share of each burst that creates, and that deletes, a resource (the rest: tag updates)
CREATE_SHARE = DELETE_SHARE = 0.1
#: no ingestion lag to wait out: the emulator shows a change row as soon as it is written
WINDOW_SETTINGS = {"AZURE_PORT_CHANGE_LAG_SECONDS": "0"}


# ---- child process: both emulators ------------------------------------------------------------
def serve_emulators(args: argparse.Namespace, pipe: Any) -> None:
    """Child process: both emulators; answers commands on the pipe (see `_answer`)."""
    from azure_port_pipeline.demo.environment import demo_environment
    from azure_port_pipeline.mapping.defaults import load_default_mapping

    entries = {
        entry.kind.lower(): entry
        for entry in load_default_mapping().entries
        if "/" in entry.kind and entry.kind.lower() != "microsoft.resources/resourcegroups"
    }
    with demo_environment(args.seed, args.subscriptions + 1, args.resources) as env:
        env.azure.graph_quota.quota = None
        pipe.send((env.endpoints, env.credentials))
        rng = random.Random(args.seed)
        made: list[dict[str, Any]] = []
        while True:
            command, *rest = pipe.recv()
            if command == "stop":
                return
            if command == "change":
                made = _change(env.azure, rng, rest[0], sorted(entries))
                env.azure.reset_counters()
                env.port.reset_counters()
                pipe.send(_describe(made))
            elif command == "check":
                pipe.send(_check(env, entries, made))
            elif command == "counters":
                pipe.send(
                    {
                        "azure": dict(env.azure.counters),
                        "port": dict(env.port.counters),
                        "entities": env.port.entity_count(),
                    }
                )
                env.azure.reset_counters()
                env.port.reset_counters()


def _change(azure: Any, rng: random.Random, k: int, types: list[str]) -> list[dict[str, Any]]:
    """k changes of distinct resources of the mapped types, in 3 subscriptions round-robin."""
    estate = azure.estate
    disabled = set(estate.disabled_subscription_ids)
    enabled = [s for s in estate.subscription_ids if s not in disabled]
    subscriptions = sorted(rng.sample(enabled, min(CHANGED_SUBSCRIPTIONS, len(enabled))))
    creates = max(1, round(k * CREATE_SHARE)) if k >= 3 else 0
    deletes = max(1, round(k * DELETE_SHARE)) if k >= 3 else 0
    operations = ["create"] * creates + ["delete"] * deletes
    operations += ["update"] * (k - len(operations))
    rng.shuffle(operations)
    per_subscription = Counter(subscriptions[i % len(subscriptions)] for i in range(k))
    victims: dict[str, list[str]] = {}
    for subscription_id, count in per_subscription.items():
        ids = [rec.id for kind in types for rec in estate.list_type(subscription_id, kind)]
        victims[subscription_id] = rng.sample(ids, count)
    stamp = f"{time.time_ns():x}"
    made: list[dict[str, Any]] = []
    for index, operation in enumerate(operations):
        subscription_id = subscriptions[index % len(subscriptions)]
        resource_id = victims[subscription_id].pop()
        body = estate.get(resource_id)
        if operation == "update":  # a PATCH of one tag (ARM merges it into the others)
            azure.update_resource(resource_id, {"tags": {"bench-touched": f"{stamp}-{index}"}})
        elif operation == "create":  # a PUT of a new resource, a copy of an existing one
            name = f"bench{stamp}x{index}"
            new_id = f"{resource_id.rsplit('/', 1)[0]}/{name}"
            clone = {key: value for key, value in body.items() if key not in ("id", "name")}
            azure.put_resource({**clone, "id": new_id, "name": name})
            resource_id, body = new_id, None
        else:
            azure.delete_resource(resource_id)
        made.append(
            {
                "operation": operation,
                "subscription": subscription_id,
                "id": resource_id,
                "type": (body or estate.get(resource_id))["type"].lower(),
                "before": body,
            }
        )
    return made


def _describe(made: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "operations": dict(Counter(change["operation"] for change in made)),
        "subscriptions": dict(Counter(change["subscription"] for change in made)),
        "types": dict(Counter(change["type"].split("/")[-1] for change in made)),
    }


def _check(env: Any, entries: dict[str, Any], made: list[dict[str, Any]]) -> dict[str, Any]:
    """Each changed resource's entity in Port against the mapping of its current Azure body:
    present with the same title, tags and relations, or gone when it was deleted."""
    from azure_port_pipeline.mapping import map_items

    wrong: list[str] = []
    for change in made:
        current = env.azure.estate.get(change["id"])
        body = current if current is not None else change["before"]
        [mapped] = map_items(entries[change["type"]], [body]).entities
        found = env.port.entity(mapped.blueprint, mapped.identifier)
        if change["operation"] == "delete":
            if current is not None or found is not None:
                wrong.append(f"deleted {change['id']} still in Port")
        elif found is None:
            wrong.append(f"{change['operation']}d {change['id']} missing in Port")
        else:
            differs = [
                f"{name}: Port {port!r}, Azure {azure!r}"
                for name, port, azure in (
                    ("title", found["title"], mapped.title),
                    ("tags", found["properties"].get("tags"), mapped.properties.get("tags")),
                    ("relations", found["relations"], mapped.relations),
                )
                if port != azure
            ]
            if differs:
                wrong.append(f"{change['operation']}d {change['id']}: {'; '.join(differs)}")
    return {"checked": len(made), "wrong": wrong}


# ---- this process: the pipeline ----------------------------------------------------------------
@dataclass
class Figures:
    """One measured step: a full sync or a window."""

    label: str
    k: int | None
    seconds: float
    counts: dict[str, Any]
    runs: int
    ok: bool
    modes: Counter[str] = field(default_factory=Counter)
    run_seconds: float = 0.0
    check: dict[str, Any] | None = None
    listed: list[str] = field(default_factory=list)
    changes: dict[str, Any] | None = None

    @property
    def azure(self) -> Counter[str]:
        return Counter(self.counts["azure"])

    @property
    def port(self) -> Counter[str]:
        return Counter(self.counts["port"])

    @property
    def graph(self) -> int:
        return self.azure[GRAPH_ROUTE]

    @property
    def gets(self) -> int:
        return self.azure[GET_BY_ID_ROUTE]

    @property
    def azure_total(self) -> int:
        return sum(self.azure.values())

    @property
    def auth(self) -> int:
        """Entra: OpenID discovery and tokens (each reader, sensor and run steps, signs in)."""
        return sum(n for route, n in self.azure.items() if route.split()[1].startswith(AUTH))

    @property
    def azure_other(self) -> int:
        """Other ARM requests: listings (a kind listed instead of read by id), groups..."""
        return self.azure_total - self.graph - self.gets - self.auth

    @property
    def writes(self) -> int:
        return sum(n for route, n in self.port.items() if route.endswith(WRITE_ROUTES))

    @property
    def searches(self) -> int:
        return sum(n for route, n in self.port.items() if route.endswith("/search"))

    @property
    def port_matches(self) -> str:
        if self.check is None:
            return "-"
        return "yes" if not self.check["wrong"] else f"NO ({len(self.check['wrong'])})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=100_000, help="resources in the estate")
    parser.add_argument("--subscriptions", type=int, default=10, help="enabled subscriptions")
    parser.add_argument("--ks", default="10,100,1000", help="changes per window, comma-separated")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--no-resync", action="store_true", help="skip the final full re-sync (Port check)"
    )
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",") if k.strip()]

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
    from azure_port_pipeline.defs.headless import (
        discover_and_sync,
        incremental_window,
        sync_partition,
    )
    from azure_port_pipeline.defs.jobs import MODE_TAG
    from azure_port_pipeline.defs.settings import PipelineSettings
    from azure_port_pipeline.demo.environment import emulator_resources

    def ask(*command: Any) -> Any:
        parent.send(command)
        return parent.recv()

    resources = emulator_resources(
        endpoints, credentials, port_options={"requests_per_second": 1000.0}
    )
    settings = PipelineSettings.from_env(WINDOW_SETTINGS)
    defs = build_definitions(settings=settings, resources=resources)
    raw_keys = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "azure"]
    results: list[Figures] = []
    with tempfile.TemporaryDirectory() as home, DagsterInstance.local_temp(home) as instance:
        print("full sync...", flush=True)
        started = time.monotonic()
        first = discover_and_sync(defs, instance, log_level="WARNING")
        seconds = time.monotonic() - started
        full = Figures(
            "full sync",
            None,
            seconds,
            ask("counters"),
            len(first),
            all(s.success for s in first),
            Counter({"full": len(first)}),
            sum(s.seconds for s in first),
        )
        subscriptions = [s.subscription_id for s in first]
        cursor: str | None = None

        def window(label: str, k: int | None) -> Figures:
            nonlocal cursor
            changes = ask("change", k) if k else None
            print(f"{label}...", flush=True)
            started = time.monotonic()
            outcome = incremental_window(defs, instance, cursor, log_level="WARNING")
            seconds = time.monotonic() - started
            cursor = outcome.cursor
            requests = outcome.result.run_requests or []
            figures = Figures(
                label,
                k,
                seconds,
                ask("counters"),
                len(requests),
                all(s.success for s in outcome.summaries),
                Counter(r.tags.get(MODE_TAG, "?") for r in requests),
                sum(s.seconds for s in outcome.summaries),
                ask("check") if k else None,
                _listed_instead(instance, raw_keys, [r.partition_key or "" for r in requests]),
                changes,
            )
            for summary in outcome.summaries:
                if not summary.success or summary.failed_checks:
                    print(
                        f"  run of {summary.subscription_id}: success={summary.success} "
                        f"failed checks={summary.failed_checks}",
                        flush=True,
                    )
            return figures

        results.append(window("quiet window", None))
        results.extend(window(f"window k={k}", k) for k in ks)
        results.append(window("quiet window", None))
        resync = None
        if not args.no_resync:
            print("full re-sync...", flush=True)
            started = time.monotonic()
            again = [sync_partition(defs, instance, s, log_level="WARNING") for s in subscriptions]
            seconds = time.monotonic() - started
            resync = Figures(
                "full re-sync",
                None,
                seconds,
                ask("counters"),
                len(again),
                all(s.success for s in again),
                Counter({"full": len(again)}),
                sum(s.seconds for s in again),
            )
    parent.send(("stop",))
    emulators.join(timeout=30)
    _report(args, full, results, resync)


def _listed_instead(instance: Any, raw_keys: list[Any], subscriptions: list[str]) -> list[str]:
    """The kinds each window's runs listed instead of reading changed ids by id (and why)."""
    from dagster import AssetRecordsFilter

    listed = []
    for subscription_id in subscriptions:
        for key in raw_keys:
            records = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, asset_partitions=[subscription_id]), limit=1
            ).records
            for record in records:
                metadata = record.asset_materialization.metadata
                reason = metadata.get("listed_instead")
                if reason is not None and reason.value:
                    listed.append(f"{subscription_id[:8]} {key.path[-1]}: {reason.value}")
    return listed


def _report(
    args: argparse.Namespace, full: Figures, windows: list[Figures], resync: Figures | None
) -> None:
    print(
        f"\nestate: {args.resources:,} resources over {args.subscriptions} enabled "
        f"subscriptions (+1 disabled), seed {args.seed}"
    )
    print(
        f"full sync: {full.runs} runs, all succeeded: {full.ok}, {full.seconds:.1f} s; "
        f"Azure requests {full.azure_total:,} (graph {full.graph}, GET by id {full.gets}, "
        f"auth {full.auth}, other {full.azure_other:,}); Port writes {full.writes:,}, "
        f"searches {full.searches:,}; "
        f"Port entities {full.counts['entities']:,}"
    )
    header = (
        f"{'window':>12} {'k':>5} {'graph':>5} {'GETs':>5} {'other':>5} {'auth':>4} {'Azure':>6} "
        f"{'target':>6} {'writes':>6} {'target':>6} {'search':>6} {'runs':>4} {'ok':>3} "
        f"{'secs':>6} {'runs s':>6} {'Port ok':>7} {'Az/full':>7} {'wr/full':>7} "
        f"{'run/full':>8} {'s/full':>6}"
    )
    print(f"\n{header}\n{'-' * len(header)}")
    for w in windows:
        k = w.k or 0
        azure_target = 1 + math.ceil(k / 1000) + k
        port_target = math.ceil(k / 20)
        print(
            f"{'quiet' if w.k is None else 'changes':>12} {k:>5} {w.graph:>5} {w.gets:>5} "
            f"{w.azure_other:>5} {w.auth:>4} "
            f"{w.azure_total:>6} {azure_target:>6} {w.writes:>6} {port_target:>6} "
            f"{w.searches:>6} {w.runs:>4} {'yes' if w.ok else 'NO':>3} {w.seconds:>6.1f} "
            f"{w.run_seconds:>6.1f} {w.port_matches:>7} "
            f"{_ratio(w.azure_total, full.azure_total):>7} {_ratio(w.writes, full.writes):>7} "
            f"{_ratio(w.runs, full.runs):>8} {_ratio(w.seconds, full.seconds):>6}"
        )
    print(
        "\ncolumns: graph = Resource Graph POSTs (two change tables, resourcechanges and "
        "resourcecontainerchanges: 2 requests when each fits in a page; the target counts "
        "1 + ceil(k/1000)); GETs = ARM GET by id; other = other ARM requests (listings); "
        "auth = Entra sign-ins (OpenID discovery + token, one pair per reader); Azure = all "
        "of them; Azure target = 1 + ceil(k/1000) + k; writes = Port bulk upserts "
        "+ bulk deletes, target ceil(k/20) (each run writes its own subscription, so 3 runs "
        "need at least 3); search = Port searches; runs s = the runs' own time (the rest of "
        "secs is the sensor's evaluation); x/full = the window's figure over the full sync's."
    )
    for w in windows:
        details = [
            f"runs by mode {dict(w.modes) or '{}'}",
            "other Azure: "
            + (
                ", ".join(
                    f"{route} {n}"
                    for route, n in sorted(w.azure.items())
                    if route not in (GRAPH_ROUTE, GET_BY_ID_ROUTE)
                )
                or "none"
            ),
            "Port: " + ", ".join(f"{route} {n}" for route, n in sorted(w.port.items())),
        ]
        if w.changes:
            details.insert(0, f"changes {w.changes['operations']} in {w.changes['types']}")
        if w.listed:
            details.append(f"kinds listed instead of read by id ({len(w.listed)}):")
            details.extend(f"  {line}" for line in w.listed)
        if w.check and w.check["wrong"]:
            details.extend(f"  Port mismatch: {line}" for line in w.check["wrong"][:10])
        print(f"\n{w.label}:\n  " + "\n  ".join(details))
    if resync is not None:
        print(
            f"\nfull re-sync after the windows: {resync.runs} runs, all succeeded: {resync.ok}, "
            f"{resync.seconds:.1f} s; Azure requests {resync.azure_total:,}; Port writes "
            f"{resync.writes} (0: the windows left Port as a full sync would), "
            f"searches {resync.searches:,}"
        )


def _ratio(part: float, whole: float) -> str:
    return f"{part / whole:.4f}" if whole else "-"


if __name__ == "__main__":
    main()
