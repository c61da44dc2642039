"""A seeded, randomized fault campaign: faulty syncs, each followed by a clean one, and invariants.

Every run of the campaign changes the estate a little, injects a random mix of faults into both
emulators (Port: 429 storms with and without Retry-After, 5xx, dropped connections before and
after the write, 207 partial rejections, token expiry; Azure: 429 with and without Retry-After,
Resource Graph throttling, 5xx, a listing broken mid-way, 403 on the subscription, token expiry;
or a SIGKILL of a `azure-port-pipeline sync` process at a random moment), runs one sync, clears
the faults and runs a clean sync. Checked after every run:

- wrongly deleted: an entity Port had before, that Azure still maps to, is gone after the
  faulty run (the faulty run may fail; it may never delete what still exists);
- foreign touched: an entity written by another integration changed or vanished;
- hung: the faulty run did not end within `RUN_BOUND_SECONDS`;
- lost / not converged: after the clean run, Port does not hold exactly the mapping of Azure.

`make test` runs a few fixed seeds (`test_fault_campaign.py`); `make soak` runs hundreds:
`python -m azure_port_pipeline_tests.defs.fault_campaign --runs 200` prints the counts.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import DagsterInstance

from azure_port_pipeline.defs.factory import build_definitions, configured_mapping
from azure_port_pipeline.defs.headless import RunSummary, discover, sync_partition
from azure_port_pipeline.defs.settings import PipelineSettings
from azure_port_pipeline.demo.environment import (
    EmulatorEndpoints,
    change_estate,
    emulator_resources,
)
from azure_port_pipeline.demo.once import ExpectedCatalog, _comparable
from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline_tests.azure_fixtures import start_emulator
from azure_port_pipeline_tests.defs.conftest import CREDENTIALS, PORT_ID, PORT_SECRET
from azure_port_pipeline_tests.defs.processes import dagster_home, open_instance, process_env

CLI = str(Path(sys.executable).with_name("azure-port-pipeline"))
INSTALLATION = "campaign"
FOREIGN = "another-integration"
#: Deadlines of the campaign's clients: small, so a storm of faults ends a run quickly.
AZURE_OPTIONS: dict[str, Any] = {
    "retry_total": 4,
    "retry_backoff_factor": 0.05,
    "deadline_seconds": 10.0,
}
PORT_OPTIONS: dict[str, Any] = {"deadline_seconds": 10.0, "backoff_max": 0.5}
#: The same, for the `azure-port-pipeline sync` processes the campaign kills.
CLI_SETTINGS = {
    "AZURE_RETRY_TOTAL": "4",
    "AZURE_RETRY_BACKOFF_FACTOR": "0.05",
    "AZURE_DEADLINE_SECONDS": "10",
    "PORT_DEADLINE_SECONDS": "10",
    "PORT_BACKOFF_MAX": "0.5",
}
#: A faulty run of the campaign's estate ends within this, whatever the faults.
RUN_BOUND_SECONDS = 180.0
STORAGE = "Microsoft.Storage/storageAccounts"
WRITES = "entities/bulk"


@dataclass
class Outcome:
    seed: int
    faults: list[str]
    run_succeeded: bool
    seconds: float
    wrongly_deleted: list[str] = field(default_factory=list)
    foreign_touched: list[str] = field(default_factory=list)
    hung: bool = False
    lost: list[str] = field(default_factory=list)
    not_converged: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.wrongly_deleted
            or self.foreign_touched
            or self.hung
            or self.lost
            or self.not_converged
        )

    def describe(self) -> str:
        state = "ok" if self.ok else "FAILED"
        problems = {
            "wrongly deleted": self.wrongly_deleted,
            "foreign touched": self.foreign_touched,
            "lost": self.lost,
            "not converged": self.not_converged,
        }
        detail = "; ".join(f"{k}: {v[:5]}" for k, v in problems.items() if v)
        hung = "; HUNG" if self.hung else ""
        return (
            f"seed {self.seed}: {state} ({'run ok' if self.run_succeeded else 'run failed'}, "
            f"{self.seconds:.1f} s, faults {', '.join(self.faults)}){hung} {detail}"
        )


class Campaign:
    """Both emulators, an on-disk Dagster instance and the definitions, for many runs."""

    def __init__(self, azure: AzureEmulator, port: PortEmulator, home: Path) -> None:
        self.azure = azure
        self.port = port
        self.home = home
        # The on-disk instance `azure-port-pipeline sync` uses, killed runs and all: the clean
        # run after a SIGKILL runs there too, so it must release the dead run first. Other runs
        # use an in-memory instance (same storage code, a third of the time per run).
        self.instance = open_instance(home)
        self.fast = DagsterInstance.ephemeral(tempdir=str(home / "fast"))
        settings = PipelineSettings.from_env({})
        endpoints = EmulatorEndpoints.of(azure, port)
        resources = emulator_resources(
            endpoints,
            CREDENTIALS,
            installation_id=INSTALLATION,
            azure_options=AZURE_OPTIONS,
            port_options=PORT_OPTIONS,
        )
        self.defs = build_definitions(settings=settings, resources=resources)
        self.expected = ExpectedCatalog(
            configured_mapping(settings), resources["azure"].settings(), settings.identifier_policy
        )
        self.env = process_env(azure, port, home, INSTALLATION, **CLI_SETTINGS)
        disabled = set(azure.estate.disabled_subscription_ids)
        self.subscriptions = [s for s in azure.estate.subscription_ids if s not in disabled]

    def close(self) -> None:
        self.instance.dispose()
        self.fast.dispose()

    def prepare(self) -> None:
        """The first, clean sync, then entities of another integration related to ours."""
        discover(self.defs, self.instance)
        discover(self.defs, self.fast)
        for subscription_id in self.subscriptions:
            summary = sync_partition(self.defs, self.fast, subscription_id, log_level="ERROR")
            assert summary.success, f"the campaign's first sync failed: {summary}"
        groups = sorted(e["identifier"] for e in self.port.entities("azureResourceGroup"))
        for index, group in enumerate(groups[:3]):
            self.port.put_entity(
                "azureCloudResource",
                {
                    "identifier": f"foreign-{index}",
                    "title": f"written by {FOREIGN}",
                    "properties": {},
                    "relations": {"resource_group": group},
                },
                datasource=FOREIGN,
            )

    def run(self, seed: int) -> Outcome:
        rng = random.Random(seed)
        change_estate(self.azure, rng, count=rng.randint(0, 6))
        subscription_id = rng.choice(self.subscriptions)
        expected = self.expected.entities(self.subscriptions)
        before = self._catalog()
        faults = self._inject(rng, subscription_id)
        started = time.monotonic()
        try:
            if "sigkill" in faults:
                succeeded, hung = self._killed_sync(rng, subscription_id), False
            else:
                succeeded, hung = self._sync_within_bound(subscription_id)
        finally:
            self._clear_faults()
        seconds = time.monotonic() - started
        after = self._catalog()
        outcome = Outcome(seed, faults, succeeded, seconds, hung=hung)
        outcome.wrongly_deleted = sorted(
            _name(key) for key in before.keys() & expected.keys() if key not in after
        )
        outcome.foreign_touched = _foreign_changes(before, after)
        if hung:
            return outcome  # a hung run may still be writing: nothing more can be judged
        clean = self.instance if "sigkill" in faults else self.fast
        for subscription_id in self.subscriptions:
            sync_partition(self.defs, clean, subscription_id, log_level="ERROR")
        final = self._catalog()
        ours = {key: body for key, body in final.items() if body["datasource"] != FOREIGN}
        outcome.lost = sorted(_name(key) for key in expected.keys() - ours.keys())
        outcome.not_converged = sorted(
            _name(key)
            for key in expected.keys() ^ ours.keys()
            | {
                key
                for key in expected.keys() & ours.keys()
                if expected[key] != _comparable(ours[key])
            }
        )
        outcome.foreign_touched += _foreign_changes(before, final)
        return outcome

    # -- faults ----------------------------------------------------------------------------

    def _inject(self, rng: random.Random, subscription_id: str) -> list[str]:
        if rng.random() < 0.12:
            return ["sigkill"]
        port, azure = self.port.faults, self.azure.faults
        menu = {
            "port 429": lambda n: port.throttle_next(
                n, route=WRITES, retry_after=rng.choice([None, 0.2, 1.0])
            ),
            "port 5xx": lambda n: port.fail_next(n, status=rng.choice([500, 502, 503])),
            "port drop": lambda n: port.drop_next(n, after=rng.random() < 0.5),
            "port token expiry": lambda n: port.expire_token_next(1),
            "port 207 partial": lambda n: self.port.reject(_reject_some(rng.random())),
            "azure 429": lambda n: azure.throttle_arm(n, retry_after=rng.choice([None, 0.3, 1])),
            "graph 429": lambda n: azure.throttle_graph(n),
            "azure 5xx": lambda n: azure.server_error(n, status=rng.choice([500, 503])),
            "azure broken listing": lambda n: azure.break_listing(
                subscription_id, STORAGE, ok_pages=rng.randint(0, 1)
            ),
            "azure 403": lambda n: azure.forbid_subscription(subscription_id),
            "azure token expiry": lambda n: self.azure.expire_tokens(),
        }
        chosen = [name for name in menu if rng.random() < 0.25] or [rng.choice(list(menu))]
        for name in chosen:
            menu[name](rng.randint(1, 12))
        return chosen

    def _clear_faults(self) -> None:
        self.port.faults.clear()
        self.port.reject(None)
        self.azure.faults.clear()

    # -- runs ------------------------------------------------------------------------------

    def _sync_within_bound(self, subscription_id: str) -> tuple[bool, bool]:
        """(succeeded, hung): the sync in a thread, abandoned past the bound."""
        result: list[RunSummary] = []
        worker = threading.Thread(
            target=lambda: result.append(
                sync_partition(self.defs, self.fast, subscription_id, log_level="CRITICAL")
            ),
            daemon=True,
        )
        worker.start()
        worker.join(RUN_BOUND_SECONDS)
        if worker.is_alive():
            return False, True
        return bool(result and result[0].success), False

    def _killed_sync(self, rng: random.Random, subscription_id: str) -> bool:
        """`azure-port-pipeline sync` killed with SIGKILL at a random moment of its run."""
        process = subprocess.Popen(
            [CLI, "sync", "--subscription", subscription_id],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            process.wait(timeout=rng.uniform(2.0, 12.0))
            return process.returncode == 0  # it finished first
        except subprocess.TimeoutExpired:
            return False
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def _catalog(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(body["blueprint"], body["identifier"]): body for body in self.port.entities()}


def _reject_some(fraction: float):
    """Port refuses about `fraction` of the entities of a bulk write (a 207 with errors)."""
    threshold = int(fraction * 100)

    def rule(blueprint: str, body: dict[str, Any]) -> bool | str:
        return sum(body["identifier"].encode()) % 100 < threshold and "refused by the campaign"

    return rule


def _foreign_changes(before: dict, after: dict) -> list[str]:
    return sorted(
        _name(key)
        for key, body in before.items()
        if body["datasource"] == FOREIGN and after.get(key) != body
    )


def _name(key: tuple[str, str]) -> str:
    return f"{key[0]}:{key[1]}"


@contextlib.contextmanager
def campaign(workdir: Path, seed: int = 17) -> Iterator[Campaign]:
    """A prepared campaign on a small estate: one enabled subscription, a few groups."""
    azure = start_emulator(seed=seed, subscriptions=1, resource_groups=3, resources=40)
    port = PortEmulator(client_id=PORT_ID, client_secret=PORT_SECRET)
    running = None
    try:
        port.start()
        running = Campaign(azure, port, dagster_home(workdir / "home"))
        running.prepare()
        yield running
    finally:
        if running is not None:
            running.close()
        port.stop()
        azure.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="faulty runs (each + a clean one)")
    parser.add_argument("--first-seed", type=int, default=1, help="seed of the first run")
    args = parser.parse_args(argv)
    counts: Counter[str] = Counter()
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="fault-campaign-") as workdir,
        campaign(Path(workdir)) as running,
    ):
        for seed in range(args.first_seed, args.first_seed + args.runs):
            outcome = running.run(seed)
            counts["runs"] += 1
            counts["faulty runs that succeeded"] += outcome.run_succeeded
            counts["lost"] += len(outcome.lost)
            counts["wrongly deleted"] += len(outcome.wrongly_deleted)
            counts["foreign touched"] += len(outcome.foreign_touched)
            counts["hangs"] += outcome.hung
            counts["not converged"] += bool(outcome.not_converged)
            counts.update(f"fault: {name}" for name in outcome.faults)
            print(outcome.describe(), flush=True)
            if outcome.hung:
                break  # the hung run may still be writing: later runs would be judged wrongly
    print(f"\n{counts['runs']} runs in {time.monotonic() - started:.0f} s")
    for name in (
        "runs",
        "faulty runs that succeeded",
        "lost",
        "wrongly deleted",
        "foreign touched",
        "hangs",
        "not converged",
    ):
        print(f"  {name}: {counts[name]}")
    for name, count in sorted((k, v) for k, v in counts.items() if k.startswith("fault: ")):
        print(f"  {name}: {count}")
    bad = sum(counts[k] for k in ("lost", "wrongly deleted", "foreign touched", "hangs"))
    return 1 if bad or counts["not converged"] else 0


if __name__ == "__main__":
    sys.exit(main())
