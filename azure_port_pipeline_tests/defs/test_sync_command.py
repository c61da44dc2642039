"""`azure-port-pipeline sync` as a user runs it: a subprocess, the environment, $DAGSTER_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from azure_port_pipeline.defs.jobs import SUBSCRIPTION_NAME_TAG
from azure_port_pipeline.demo.environment import EmulatorEndpoints, emulator_variables
from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline_tests.azure_fixtures import start_emulator
from azure_port_pipeline_tests.defs.conftest import CREDENTIALS, PORT_ID, PORT_SECRET
from azure_port_pipeline_tests.paths import PROJECT_ROOT

pytestmark = pytest.mark.e2e
CLI = str(Path(sys.executable).with_name("azure-port-pipeline"))


@pytest.fixture
def emulators() -> Iterator[tuple[AzureEmulator, PortEmulator]]:
    azure = start_emulator(seed=5, subscriptions=3, resource_groups=2, resources=120)
    port = PortEmulator(client_id=PORT_ID, client_secret=PORT_SECRET)
    try:
        port.start()
        yield azure, port
    finally:
        port.stop()
        azure.stop()


def _env(azure: AzureEmulator, port: PortEmulator, home: Path | None, **extra: str) -> dict:
    variables = emulator_variables(EmulatorEndpoints.of(azure, port), CREDENTIALS, "cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "PORT_"))}
    env.pop("DAGSTER_HOME", None)
    env.update(variables)
    if home is not None:
        env["DAGSTER_HOME"] = str(home)
    env.update(extra)
    return env


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


def _enabled(azure: AzureEmulator) -> list[str]:
    disabled = set(azure.estate.disabled_subscription_ids)
    return [s for s in azure.estate.subscription_ids if s not in disabled]


def test_sync_discovers_and_syncs_every_subscription_into_the_instance(emulators, tmp_path):
    azure, port = emulators
    home = _home(tmp_path)

    done = _sync(_env(azure, port, home))

    assert done.returncode == 0, done.stdout + done.stderr
    enabled = _enabled(azure)
    for subscription_id in enabled:
        assert subscription_id in done.stdout
    assert "FAILED" not in done.stdout
    with DagsterInstance.from_ref(_ref(home)) as instance:
        runs = instance.get_runs()
        assert sorted(run.tags["dagster/partition"] for run in runs) == sorted(enabled)
        assert all(run.tags[SUBSCRIPTION_NAME_TAG] for run in runs)
        assert sorted(instance.get_dynamic_partitions("azure_subscriptions")) == sorted(enabled)
    assert port.entity_count("azureSubscription") == len(enabled)


def test_sync_of_one_subscription_and_one_kind_runs_only_those_assets(emulators, tmp_path):
    azure, port = emulators
    home = _home(tmp_path)
    target = _enabled(azure)[0]

    done = _sync(_env(azure, port, home), "--subscription", target, "--kind", "storage_accounts")

    assert done.returncode == 0, done.stdout + done.stderr
    with DagsterInstance.from_ref(_ref(home)) as instance:
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
        (["--mode", "incremental"], "not available yet"),
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
    target = _enabled(azure)[0]

    done = _sync(env, "--subscription", target)

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"FAILED: run of {target}" in done.stdout
    assert "not-the-secret" not in done.stdout + done.stderr


def _home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME as the README sets one up: the project's dagster.yaml in it."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    return home


def _ref(home: Path):
    from dagster._core.instance.ref import InstanceRef

    return InstanceRef.from_dir(str(home))
