"""`azure-port-pipeline sync` as a user runs it: a subprocess, the environment, $DAGSTER_HOME."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from azure_port_pipeline.defs.change_windows import FULL_REASON_TAG
from azure_port_pipeline.defs.jobs import MODE_TAG, SUBSCRIPTION_NAME_TAG
from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline_tests.defs.processes import (
    dagster_home,
    enabled_subscriptions,
    open_instance,
    process_env,
    running_emulators,
)
from azure_port_pipeline_tests.paths import PROJECT_ROOT

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).with_name("azure-port-pipeline"))


@pytest.fixture
def emulators() -> Iterator[tuple[AzureEmulator, PortEmulator]]:
    with running_emulators(seed=5, subscriptions=3, resource_groups=2, resources=120) as both:
        yield both


def _env(azure: AzureEmulator, port: PortEmulator, home: Path | None, **extra: str) -> dict:
    return process_env(azure, port, home, "cli", **extra)


def _sync(env: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "sync", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )


def test_sync_discovers_and_syncs_every_subscription_into_the_instance(emulators, tmp_path):
    azure, port = emulators
    home = dagster_home(tmp_path / "home")

    done = _sync(_env(azure, port, home))

    assert done.returncode == 0, done.stdout + done.stderr
    enabled = enabled_subscriptions(azure)
    for subscription_id in enabled:
        assert subscription_id in done.stdout
    assert "FAILED" not in done.stdout
    with open_instance(home) as instance:
        runs = instance.get_runs()
        assert sorted(run.tags["dagster/partition"] for run in runs) == sorted(enabled)
        assert all(run.tags[SUBSCRIPTION_NAME_TAG] for run in runs)
        assert sorted(instance.get_dynamic_partitions("azure_subscriptions")) == sorted(enabled)
    assert port.entity_count("azureSubscription") == len(enabled)


def test_incremental_sync_runs_full_syncs_first_then_only_the_subscriptions_that_changed(
    emulators, tmp_path
):
    azure, port = emulators
    home = dagster_home(tmp_path / "home")
    env = _env(azure, port, home, AZURE_PORT_CHANGE_LAG_SECONDS="0")
    enabled = enabled_subscriptions(azure)

    first = _sync(env, "--mode", "incremental")

    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{len(enabled)} full syncs" in first.stdout
    with open_instance(home) as instance:
        runs = instance.get_runs()
        assert sorted(run.tags["dagster/partition"] for run in runs) == sorted(enabled)
        assert all("no watermark" in run.tags[FULL_REASON_TAG] for run in runs)
    target = enabled[0]
    account = next(iter(azure.estate.resources(target, "Microsoft.Storage/storageAccounts")))
    azure.update_resource(account["id"], {"tags": {"owner": "cli-test"}})

    second = _sync(env, "--mode", "incremental")

    assert second.returncode == 0, second.stdout + second.stderr
    assert "1 incremental runs" in second.stdout
    with open_instance(home) as instance:
        (run,) = instance.get_runs(limit=1)
        assert (run.tags["dagster/partition"], run.tags[MODE_TAG]) == (target, "incremental")
    identifier = account["id"].replace("resourceGroups", "resourcegroups")
    stored = [
        body
        for body in port.entities("azureCloudResource")
        if body["identifier"].lower() == identifier.lower()
    ]
    current = azure.estate.get(account["id"])["tags"]
    assert current["owner"] == "cli-test"
    assert stored and stored[0]["properties"]["tags"] == current


def test_sync_of_one_subscription_and_one_kind_runs_only_those_assets(emulators, tmp_path):
    azure, port = emulators
    home = dagster_home(tmp_path / "home")
    target = enabled_subscriptions(azure)[0]

    done = _sync(_env(azure, port, home), "--subscription", target, "--kind", "storage_accounts")

    assert done.returncode == 0, done.stdout + done.stderr
    with open_instance(home) as instance:
        (run,) = instance.get_runs()
        assert run.tags["dagster/partition"] == target
        materialized = {
            entry.dagster_event.asset_key.to_user_string()
            for entry in instance.all_logs(run.run_id)
            if entry.dagster_event is not None and entry.dagster_event.is_step_materialization
        }
        assert materialized == {
            "port/blueprints",
            "azure/storage_accounts",
            "port_entities/storage_accounts",
            "port_sync/storage_accounts",
        }
    stored = {body["properties"]["type"] for body in port.entities("azureCloudResource")}
    assert stored == {"Microsoft.Storage/storageAccounts"}

    # Once the partition exists, Dagster's own CLI runs the same job (the README's command).
    dagster = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "job",
            "execute",
            "-m",
            "azure_port_pipeline.definitions",
            "-j",
            "azure_port_sync",
            "--tags",
            f'{{"dagster/partition": "{target}"}}',
        ],
        cwd=PROJECT_ROOT,
        env=_env(azure, port, home),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert dagster.returncode == 0, dagster.stdout[-3000:] + dagster.stderr[-3000:]
    assert port.entity_count("azureResourceGroup") > 0, "the whole job ran this time"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "incremental", "--kind", "storage_accounts"], "needs --mode full"),
        (["--subscription", "00000000-0000-0000-0000-000000000000"], "not an enabled subscription"),
        (["--kind", "teapots"], "not in the mapping"),
    ],
)
def test_a_request_the_command_cannot_run_exits_2_naming_it(emulators, tmp_path, args, message):
    azure, port = emulators
    done = _sync(_env(azure, port, tmp_path), *args)
    assert done.returncode == 2
    assert message in done.stderr and args[0] in done.stderr


def test_without_dagster_home_it_says_what_to_set(emulators):
    azure, port = emulators
    done = _sync(_env(azure, port, None))
    assert done.returncode == 2 and "DAGSTER_HOME" in done.stderr


def test_a_failed_run_exits_1_and_says_which(emulators, tmp_path):
    azure, port = emulators
    env = _env(azure, port, tmp_path, PORT_CLIENT_SECRET="not-the-secret")
    target = enabled_subscriptions(azure)[0]

    done = _sync(env, "--subscription", target)

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAILED: run of {target}" in done.stdout
    assert "not-the-secret" not in done.stdout + done.stderr


def test_sync_on_a_new_postgres_instance_runs_every_subscription_at_once(
    emulators, tmp_path, postgres_database
):
    """Three runs start together on a new Postgres instance: none may lose the race to make
    the pools' limit rows (they are made once, before the runs: defs/pools.py)."""
    azure, port = emulators
    env = _env(azure, port, None, **postgres_database.env())
    home = dagster_home(tmp_path / "home", env)
    env["DAGSTER_HOME"] = str(home)

    done = _sync(env)

    assert done.returncode == 0, done.stdout + done.stderr
    with open_instance(home, env) as instance:
        runs = instance.get_runs()
        assert len(runs) == len(enabled_subscriptions(azure))
        assert all(run.is_success for run in runs)
        assert {"azure_api", "port_api"} <= instance.event_log_storage.get_concurrency_keys()
        stats = [instance.get_run_stats(run.run_id) for run in runs]
    assert max(s.start_time for s in stats) < min(s.end_time for s in stats), "side by side"
