"""`azure-port-pipeline doctor` as a user runs it: a subprocess, wired to the real emulators,
a real Azurite (events queue, snapshot blobs) and a real PostgreSQL server (the instance).

Each case breaks one thing (a secret, a host, a file, a variable) and checks the one line that
must say so, with its hint, the exit code, and that no secret reaches the output. Doctor is
read-only: Port's blueprints are never created by it.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from azure_port_pipeline.defs.doctor import run_doctor
from azure_port_pipeline.defs.instance_config import write_instance
from azure_port_pipeline.emulators.azure import AzureEmulator
from azure_port_pipeline.emulators.port import PortEmulator
from azure_port_pipeline.mapping import default_blueprints
from azure_port_pipeline_tests.azure_fixtures import CLIENT_SECRET
from azure_port_pipeline_tests.azurite import (
    AZURITE_KEY,
    AzuriteBlob,
    running_azurite_blob,
    running_azurite_queue,
)
from azure_port_pipeline_tests.defs.conftest import PORT_SECRET
from azure_port_pipeline_tests.defs.processes import (
    dagster_home,
    enabled_subscriptions,
    process_env,
    running_emulators,
)
from azure_port_pipeline_tests.paths import PROJECT_ROOT
from azure_port_pipeline_tests.postgres import PostgresServer

CHECKS = (
    "settings",
    "mapping",
    "azure credentials",
    "subscriptions",
    "port credentials",
    "port blueprints",
    "dagster instance",
    "snapshot storage",
    "events queue",
)
COMMAND_BOUND = 240  # seconds: a wedged doctor fails the test instead of hanging it
WRONG_AZURE_SECRET = "wrong-azure-secret-value-0123456789"
WRONG_PORT_SECRET = "wrong-port-secret-value-0123456789"
QUEUE_KEY = "ZG9jdG9yLXRlc3Qta2V5LW5vdC1hLXJlYWwtb25lLTAxMjM0NTY3ODk="


@pytest.fixture
def emulators() -> Iterator[tuple[AzureEmulator, PortEmulator]]:
    with running_emulators(seed=5, subscriptions=2, resource_groups=2, resources=40) as pair:
        yield pair


def doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, str], str, float]:
    """Run the command; (exit code, {check: line}, whole output, seconds it took)."""
    started = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("azure-port-pipeline")), "doctor", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_BOUND,
        check=False,
    )
    took = time.monotonic() - started
    output = done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line[6:24].strip() for line in lines] == list(CHECKS), output
    return done.returncode, {line[6:24].strip(): line for line in lines}, output, took


def doctor_in_process(env: dict[str, str]) -> tuple[int, dict[str, str], str]:
    """`run_doctor` itself, as the command calls it: the cases about one line, without
    paying for a fresh interpreter's imports each time."""
    report = run_doctor(env)
    assert [result.name for result in report.results] == list(CHECKS)
    return report.exit_code, {r.name: r.line() for r in report.results}, report.render()


def status(line: str) -> str:
    return line[:5].strip()


def assert_no_secret(output: str, *secrets: str) -> None:
    for secret in (CLIENT_SECRET, PORT_SECRET, *secrets):
        assert secret not in output


def test_all_ok_against_the_emulators(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    port.add_blueprints(default_blueprints())
    home = dagster_home(tmp_path / "home")

    code, lines, output, _ = doctor(process_env(azure, port, home, "doctor"))

    assert code == 0, output
    assert [status(line) for line in lines.values()] == ["ok"] * 8 + ["skip"], output
    enabled = len(enabled_subscriptions(azure))
    assert f"{enabled} enabled" in lines["subscriptions"]
    assert azure.tenant_id in lines["azure credentials"]
    assert "all 3 exist" in lines["port blueprints"]
    assert str(home) in lines["dagster instance"]
    assert "read back and deleted" in lines["snapshot storage"]
    assert not list((home / "storage" / "snapshots").glob(".doctor-probe-*"))
    assert "not configured" in lines["events queue"]
    assert_no_secret(output)


def test_a_wrong_azure_secret_names_entra_code_and_variable(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    port.add_blueprints(default_blueprints())
    env = process_env(
        azure,
        port,
        dagster_home(tmp_path / "home"),
        "doctor",
        AZURE_CLIENT_SECRET=WRONG_AZURE_SECRET,
    )

    code, lines, output, _ = doctor(env)

    assert code == 1, output
    line = lines["azure credentials"]
    assert status(line) == "FAIL" and "AADSTS7000215" in line and "AZURE_CLIENT_SECRET" in line
    assert lines["subscriptions"].endswith("skipped: needs azure credentials")
    # the rest does not depend on Azure: still checked
    assert status(lines["port credentials"]) == "ok"
    assert status(lines["dagster instance"]) == "ok"
    assert_no_secret(output, WRONG_AZURE_SECRET)


def test_a_wrong_port_secret_names_the_variables(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    env = process_env(
        azure, port, dagster_home(tmp_path / "home"), "doctor", PORT_CLIENT_SECRET=WRONG_PORT_SECRET
    )

    code, lines, output, _ = doctor(env)

    assert code == 1, output
    line = lines["port credentials"]
    assert status(line) == "FAIL" and "401" in line
    assert "PORT_CLIENT_ID / PORT_CLIENT_SECRET" in line
    assert lines["port blueprints"].endswith("skipped: needs port credentials")
    assert status(lines["azure credentials"]) == "ok"
    assert_no_secret(output, WRONG_PORT_SECRET)


def test_port_not_reachable_fails_quickly(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    env = process_env(
        azure,
        port,
        dagster_home(tmp_path / "home"),
        "doctor",
        PORT_BASE_URL=f"http://127.0.0.1:{closed_port()}",
    )

    code, lines, output, took = doctor(env)

    assert code == 1, output
    line = lines["port credentials"]
    assert status(line) == "FAIL" and "no answer from" in line and "PORT_BASE_URL" in line
    # Port's own defaults (8 retries, 120 s per operation) would take minutes; doctor's bound
    # is its --timeout (20 s) per check
    assert took < 120, f"took {took:.0f} s"
    assert_no_secret(output)


def test_a_host_that_never_answers_is_cut_at_the_timeout(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    with silent_listener() as silent:
        env = process_env(
            azure, port, dagster_home(tmp_path / "home"), "doctor", PORT_BASE_URL=silent
        )
        code, lines, output, took = doctor(env, "--timeout", "3")

    assert code == 1, output
    assert status(lines["port credentials"]) == "FAIL", output
    assert "PORT_BASE_URL" in lines["port credentials"] or "--timeout" in lines["port credentials"]
    assert took < 100, f"took {took:.0f} s"  # unbounded: Port's 120 s deadline at least


def test_a_broken_mapping_names_the_file(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    mapping = tmp_path / "broken.yaml"
    mapping.write_text("resources:\n- kind: subscription\n  selector: [\n")
    env = process_env(
        azure,
        port,
        dagster_home(tmp_path / "home"),
        "doctor",
        AZURE_PORT_MAPPING_FILE=str(mapping),
    )

    code, lines, output = doctor_in_process(env)

    assert code == 1, output
    line = lines["mapping"]
    assert status(line) == "FAIL" and str(mapping) in line and "invalid YAML" in line
    assert "AZURE_PORT_MAPPING_FILE" in line
    assert lines["port blueprints"].endswith("skipped: needs the mapping")
    assert status(lines["port credentials"]) == "ok"
    assert_no_secret(output)


def test_dagster_home_unset(emulators: tuple[AzureEmulator, PortEmulator]) -> None:
    azure, port = emulators
    port.add_blueprints(default_blueprints())

    code, lines, output = doctor_in_process(process_env(azure, port, None, "doctor"))

    assert code == 1, output
    line = lines["dagster instance"]
    assert status(line) == "FAIL" and "DAGSTER_HOME is not set" in line
    assert "set DAGSTER_HOME" in line
    assert lines["snapshot storage"].endswith("skipped: needs the dagster instance")
    assert status(lines["port blueprints"]) == "ok"
    assert_no_secret(output)


def test_missing_blueprints_are_reported_and_not_created(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators  # a fresh Port emulator: no blueprints

    code, lines, output = doctor_in_process(
        process_env(azure, port, dagster_home(tmp_path / "home"), "doctor")
    )

    assert code == 0, output  # a warning: the first sync creates them
    line = lines["port blueprints"]
    assert status(line) == "warn" and "will be created" in line
    for blueprint in default_blueprints():
        assert blueprint["identifier"] in line
    assert port.blueprints() == []  # read-only
    assert_no_secret(output)


def test_missing_blueprints_the_token_may_not_create_fail(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    port.faults.fail_next(1, status=403, route="POST /v1/blueprints")

    code, lines, output = doctor_in_process(
        process_env(azure, port, dagster_home(tmp_path / "home"), "doctor")
    )

    assert code == 1, output
    line = lines["port blueprints"]
    assert status(line) == "FAIL" and "403" in line and "Admin" in line
    assert port.blueprints() == []


def test_an_unreachable_events_queue_fails_without_its_key(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    port.add_blueprints(default_blueprints())
    connection_string = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={QUEUE_KEY};QueueEndpoint=http://127.0.0.1:{closed_port()}/devstoreaccount1;"
    )
    env = process_env(
        azure,
        port,
        dagster_home(tmp_path / "home"),
        "doctor",
        AZURE_EVENTS_QUEUE_NAME="azure-events",
        AZURE_EVENTS_QUEUE_CONNECTION_STRING=connection_string,
    )

    code, lines, output, _ = doctor(env, "--timeout", "5")

    assert code == 1, output
    line = lines["events queue"]
    assert status(line) == "FAIL" and "azure-events" in line
    assert "AZURE_EVENTS_QUEUE_CONNECTION_STRING" in line
    assert QUEUE_KEY not in output
    assert_no_secret(output)


def test_bad_settings_name_the_variable_and_skip_what_needs_them(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    env = process_env(azure, port, dagster_home(tmp_path / "home"), "doctor", PORT_TIMEOUT="soon")

    code, lines, output = doctor_in_process(env)

    assert code == 1, output
    assert status(lines["settings"]) == "FAIL" and "PORT_TIMEOUT" in lines["settings"]
    assert lines["port credentials"].endswith("skipped: needs valid PORT_* settings")
    assert status(lines["azure credentials"]) == "ok"


def test_a_bad_timeout_is_a_usage_error() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("azure-port-pipeline")), "doctor", "--timeout", "0"],
        capture_output=True,
        text=True,
        timeout=COMMAND_BOUND,
        check=False,
    )
    assert done.returncode == 2 and "--timeout" in done.stderr


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """A server that takes connections and never answers: the host that hangs clients."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_an_included_subscription_that_is_not_visible_is_named(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    typo = "11111111-2222-3333-4444-555555555555"
    visible = enabled_subscriptions(azure)[0]
    env = process_env(
        azure,
        port,
        dagster_home(tmp_path / "home"),
        "doctor",
        AZURE_SUBSCRIPTIONS_INCLUDE=f"{visible},{typo}",
    )

    code, lines, output = doctor_in_process(env)

    assert code == 1, output
    line = lines["subscriptions"]
    assert status(line) == "FAIL" and typo in line and visible not in line
    assert "1 enabled" in line and "AZURE_SUBSCRIPTIONS_INCLUDE" in line


def test_a_configured_events_queue_is_read_without_taking_messages(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    with (
        running_azurite_queue() as connection_string,
        QueueClient.from_connection_string(connection_string, "azure-events") as queue,
    ):
        queue.create_queue()
        queue.send_message("one")
        queue.send_message("two")
        env = process_env(
            azure,
            port,
            dagster_home(tmp_path / "home"),
            "doctor",
            AZURE_EVENTS_QUEUE_NAME="azure-events",
            AZURE_EVENTS_QUEUE_CONNECTION_STRING=connection_string,
        )

        _, lines, output = doctor_in_process(env)
        still_visible = len(queue.peek_messages(max_messages=32))

    line = lines["events queue"]
    assert status(line) == "ok" and "2 messages waiting" in line, output
    assert still_visible == 2  # doctor received nothing, so hid nothing from the sensor
    assert AZURITE_KEY not in output


def test_a_missing_events_queue_says_to_create_it(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    with running_azurite_queue() as connection_string:
        env = process_env(
            azure,
            port,
            dagster_home(tmp_path / "home"),
            "doctor",
            AZURE_EVENTS_QUEUE_NAME="no-such-queue",
            AZURE_EVENTS_QUEUE_CONNECTION_STRING=connection_string,
        )
        code, lines, output = doctor_in_process(env)

    assert code == 1, output
    line = lines["events queue"]
    assert status(line) == "FAIL" and "404" in line and "create the queue 'no-such-queue'" in line
    assert AZURITE_KEY not in output


# ---- snapshot storage in Azure Blob Storage (a real Azurite blob service) -------------------

CONTAINER = "doctor-snapshots"
STORAGE_URL = f"az://{CONTAINER}/deployment/snapshots"
STORAGE_SECRET = "AZURE_PORT_STORAGE_CONNECTION_STRING"
WRONG_STORAGE_KEY = "d3JvbmctYWNjb3VudC1rZXktZm9yLWRvY3Rvci10ZXN0cy0wMTIzNDU2Nzg5YWJjZGVm"


@pytest.fixture
def azurite_blob() -> Iterator[AzuriteBlob]:
    with running_azurite_blob() as blob:
        yield blob


def blob_names(blob: AzuriteBlob, container: str) -> set[str]:
    """What the container holds, listed with the Storage SDK (not through the pipeline)."""
    client = BlobServiceClient.from_connection_string(blob.connection_string, retry_total=2)
    with client:
        return {item.name for item in client.get_container_client(container).list_blobs()}


def test_blob_snapshot_storage_by_connection_string_needs_no_dagster_home(
    emulators: tuple[AzureEmulator, PortEmulator], azurite_blob: AzuriteBlob
) -> None:
    azure, port = emulators
    port.add_blueprints(default_blueprints())
    env = process_env(
        azure,
        port,
        None,  # no instance: an explicit storage URL does not need one
        "doctor",
        AZURE_PORT_STORAGE_URL=STORAGE_URL,
        **{STORAGE_SECRET: azurite_blob.connection_string},
    )

    code, lines, output = doctor_in_process(env)

    assert code == 1, output
    assert [name for name, line in lines.items() if status(line) == "FAIL"] == [
        "dagster instance"
    ], output
    line = lines["snapshot storage"]
    assert status(line) == "ok" and STORAGE_URL in line and "Azure Blob Storage" in line, output
    # the pipeline's store created the container, as a first run does; the probe is gone
    names = blob_names(azurite_blob, CONTAINER)
    assert not [name for name in names if ".doctor-probe-" in name], names
    assert AZURITE_KEY not in output and azurite_blob.connection_string not in output
    assert_no_secret(output)


def test_blob_snapshot_storage_with_a_wrong_key_fails_without_the_key(
    emulators: tuple[AzureEmulator, PortEmulator], azurite_blob: AzuriteBlob, tmp_path: Path
) -> None:
    azure, port = emulators
    port.add_blueprints(default_blueprints())
    wrong = azurite_blob.connection_string.replace(AZURITE_KEY, WRONG_STORAGE_KEY)
    assert wrong != azurite_blob.connection_string
    env = process_env(
        azure,
        port,
        dagster_home(tmp_path / "home"),
        "doctor",
        AZURE_PORT_STORAGE_URL=STORAGE_URL,
        AZURE_PORT_STORAGE_RETRIES="0",
        **{STORAGE_SECRET: wrong},
    )

    code, lines, output = doctor_in_process(env)

    assert code == 1, output
    line = lines["snapshot storage"]
    assert status(line) == "FAIL" and STORAGE_URL in line, output
    assert "403" in line or "AuthenticationFailed" in line, line
    assert STORAGE_SECRET in line  # the hint names the variable to fix
    assert status(lines["dagster instance"]) == "ok"
    assert WRONG_STORAGE_KEY not in output and AZURITE_KEY not in output
    assert_no_secret(output)
    with BlobServiceClient.from_connection_string(azurite_blob.connection_string) as client:
        assert CONTAINER not in {c.name for c in client.list_containers()}  # refused: nothing made


def test_a_blob_url_without_a_credential_names_the_variables(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    env = process_env(
        azure, port, dagster_home(tmp_path / "home"), "doctor", AZURE_PORT_STORAGE_URL=STORAGE_URL
    )

    code, lines, output = doctor_in_process(env)

    assert code == 1, output
    line = lines["snapshot storage"]
    assert status(line) == "FAIL" and "AZURE_PORT_STORAGE_URL" in line, output
    assert STORAGE_SECRET in line and "AZURE_PORT_STORAGE_ACCOUNT_URL" in line
    assert status(lines["settings"]) == "FAIL"  # definitions would not load either
    assert status(lines["dagster instance"]) == "ok"


# ---- a Postgres-backed Dagster instance (a real PostgreSQL server) ---------------------------

WRONG_PG_PASSWORD = "wrong-postgres-password-0123456789"


@pytest.mark.parametrize("form", ["url", "parts"])
def test_a_postgres_instance_is_checked_in_its_database(
    emulators: tuple[AzureEmulator, PortEmulator],
    postgres_database: PostgresServer,
    tmp_path: Path,
    form: str,
) -> None:
    azure, port = emulators
    port.add_blueprints(default_blueprints())
    pg_env = postgres_database.env(form)  # type: ignore[arg-type]
    home = dagster_home(tmp_path / "home", pg_env)

    code, lines, output, _ = doctor(process_env(azure, port, home, "doctor", **pg_env))

    assert code == 0, output
    line = lines["dagster instance"]
    assert status(line) == "ok", output
    assert f"Postgres database {postgres_database.db} on 127.0.0.1:{postgres_database.port}" in line
    assert "PostgresRunStorage" in line and "PostgresEventLogStorage" in line
    assert status(lines["snapshot storage"]) == "ok"  # under DAGSTER_HOME, as with SQLite
    assert postgres_database.password not in output
    assert_no_secret(output)


def test_a_postgres_instance_on_a_closed_port_fails_quickly_naming_the_variable(
    emulators: tuple[AzureEmulator, PortEmulator],
    postgres_database: PostgresServer,
    tmp_path: Path,
) -> None:
    azure, port = emulators
    nowhere = dataclasses.replace(postgres_database, port=closed_port())
    home = tmp_path / "home"
    write_instance(home, nowhere.env())

    code, lines, output, took = doctor(process_env(azure, port, home, "doctor", **nowhere.env()))

    assert code == 1, output
    line = lines["dagster instance"]
    assert status(line) == "FAIL" and "refused" in line and "DAGSTER_PG_URL" in line, line
    assert lines["snapshot storage"].endswith("skipped: needs the dagster instance")
    # dagster-postgres alone retries five times; doctor connects once
    assert took < 120, f"took {took:.0f} s"
    assert postgres_database.password not in output
    assert_no_secret(output)


def test_a_postgres_host_that_never_answers_is_cut_at_the_timeout(
    emulators: tuple[AzureEmulator, PortEmulator],
    postgres_database: PostgresServer,
    tmp_path: Path,
) -> None:
    azure, port = emulators
    home = tmp_path / "home"
    with silent_listener() as silent:
        hangs = dataclasses.replace(postgres_database, port=int(silent.rsplit(":", 1)[1]))
        write_instance(home, hangs.env())
        env = process_env(azure, port, home, "doctor", **hangs.env())
        code, lines, output, took = doctor(env, "--timeout", "3")

    assert code == 1, output
    line = lines["dagster instance"]
    assert status(line) == "FAIL" and "DAGSTER_PG_URL" in line, line
    assert "timeout" in line and "no result within" not in line  # libpq's own deadline
    assert took < 100, f"took {took:.0f} s"  # unbounded: libpq waits for the OS (minutes)
    assert postgres_database.password not in output


@pytest.mark.parametrize(
    ("form", "variable"), [("url", "DAGSTER_PG_URL"), ("parts", "DAGSTER_PG_PASSWORD")]
)
def test_a_wrong_postgres_password_fails_without_any_password(
    emulators: tuple[AzureEmulator, PortEmulator],
    postgres_database: PostgresServer,
    tmp_path: Path,
    form: str,
    variable: str,
) -> None:
    azure, port = emulators
    right = postgres_database.env(form)  # type: ignore[arg-type]
    home = dagster_home(tmp_path / "home", right)
    wrong = dataclasses.replace(postgres_database, password=WRONG_PG_PASSWORD)

    code, lines, output, _ = doctor(process_env(azure, port, home, "doctor", **wrong.env(form)))  # type: ignore[arg-type]

    assert code == 1, output
    line = lines["dagster instance"]
    assert status(line) == "FAIL" and "password authentication failed" in line, line
    assert variable in line
    assert WRONG_PG_PASSWORD not in output and postgres_database.password not in output
    assert_no_secret(output)


def test_blob_snapshot_storage_by_account_url_signs_in_with_the_pipelines_credential(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    port.add_blueprints(default_blueprints())
    with running_azurite_blob(https=True, oauth=True) as blob:
        env = process_env(
            azure,
            port,
            dagster_home(tmp_path / "home"),
            "doctor",
            AZURE_PORT_STORAGE_URL=STORAGE_URL,
            AZURE_PORT_STORAGE_ACCOUNT_URL=blob.account_url,
            AZURE_PORT_STORAGE_CA_BUNDLE=blob.ca_file or "",
        )
        code, lines, output = doctor_in_process(env)
        client = BlobServiceClient.from_connection_string(
            blob.connection_string, connection_verify=blob.ca_file or True, retry_total=2
        )
        with client:
            names = {b.name for b in client.get_container_client(CONTAINER).list_blobs()}

    assert code == 0, output
    line = lines["snapshot storage"]
    assert status(line) == "ok" and STORAGE_URL in line, output
    assert not [name for name in names if ".doctor-probe-" in name], names
    audiences = {token_audience(token) for token in azure.entra.issued_tokens()}
    assert "https://storage.azure.com" in audiences  # Azurite took the pipeline's token
    assert_no_secret(output)


def token_audience(token: str) -> str:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["aud"]


def test_a_postgres_instance_whose_variable_is_unset_names_it(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    azure, port = emulators
    home = tmp_path / "home"
    write_instance(home, {"DAGSTER_PG_URL": "postgresql+psycopg2://u:p@127.0.0.1:5432/dagster"})
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)  # Dagster reads it from the process

    code, lines, output = doctor_in_process(process_env(azure, port, home, "doctor"))

    assert code == 1, output
    line = lines["dagster instance"]
    assert status(line) == "FAIL" and "reads DAGSTER_PG_URL, which is not set" in line, line


def test_postgres_variables_with_a_sqlite_home_warn(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    port.add_blueprints(default_blueprints())
    url = f"postgresql+psycopg2://dagster:{WRONG_PG_PASSWORD}@127.0.0.1:5432/dagster"
    env = process_env(azure, port, dagster_home(tmp_path / "home"), "doctor", DAGSTER_PG_URL=url)

    code, lines, output = doctor_in_process(env)

    assert code == 0, output  # a warning: the instance works, on SQLite
    line = lines["dagster instance"]
    assert status(line) == "warn" and "keeps SQLite storage" in line, line
    assert "azure-port-pipeline instance --force" in line
    assert WRONG_PG_PASSWORD not in output


def test_a_sqlite_home_written_for_another_directory_warns(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    """A home moved or copied keeps the absolute path it was written with: its runs would go
    to the old directory (created again if gone), so the doctor says where they go."""
    azure, port = emulators
    port.add_blueprints(default_blueprints())
    original = dagster_home(tmp_path / "original")
    moved = tmp_path / "moved"
    original.rename(moved)
    env = process_env(azure, port, moved, "doctor")

    code, lines, output = doctor_in_process(env)

    assert code == 0, output  # a warning: the instance answers, elsewhere
    line = lines["dagster instance"]
    assert status(line) == "warn" and f"keeps runs in {original}" in line, line
    assert "azure-port-pipeline instance --force" in line
    assert not original.exists()  # the doctor did not make an instance over there


def test_a_sqlite_home_in_its_own_directory_is_ok(
    emulators: tuple[AzureEmulator, PortEmulator], tmp_path: Path
) -> None:
    azure, port = emulators
    port.add_blueprints(default_blueprints())
    env = process_env(azure, port, dagster_home(tmp_path / "home"), "doctor")

    code, lines, output = doctor_in_process(env)

    assert code == 0, output
    assert status(lines["dagster instance"]) == "ok", lines["dagster instance"]
