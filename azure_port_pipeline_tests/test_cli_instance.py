"""`azure-port-pipeline instance`: DAGSTER_HOME's dagster.yaml for the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster_postgres import PostgresRunStorage

from azure_port_pipeline.cli import main
from azure_port_pipeline.defs.instance_config import PG_VARIABLES, instance_yaml
from azure_port_pipeline_tests.paths import PROJECT_ROOT
from azure_port_pipeline_tests.postgres import PostgresServer


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Neither DAGSTER_HOME nor DAGSTER_PG_* of the machine's."""
    for name in (*PG_VARIABLES, "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_postgres_variables_it_writes_the_sqlite_instance_and_says_so(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["instance", "--home", str(tmp_path / "home")])

    assert code == 0
    written = tmp_path / "home" / "dagster.yaml"
    assert written.read_text() == instance_yaml({}, tmp_path / "home")
    assert written.read_text().startswith((PROJECT_ROOT / "dagster.yaml").read_text())
    assert capsys.readouterr().out == (
        f"wrote {written}: runs, event logs and schedules in SQLite in the instance directory "
        "(set DAGSTER_PG_URL or DAGSTER_PG_HOST for Postgres)\n"
    )


def test_the_home_defaults_to_dagster_home(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("DAGSTER_HOME", str(tmp_path))
    assert main(["instance"]) == 0
    assert (tmp_path / "dagster.yaml").is_file()
    assert str(tmp_path / "dagster.yaml") in capsys.readouterr().out


def test_without_home_nor_dagster_home_it_fails_naming_dagster_home(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.chdir(tmp_path)
    assert main(["instance"]) == 2
    assert "DAGSTER_HOME is not set" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_variable_fails_naming_it_and_writes_nothing(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("DAGSTER_PG_HOST", "db.example")
    clean_env.setenv("DAGSTER_PG_USERNAME", "dagster")
    clean_env.setenv("DAGSTER_PG_DB", "dagster")
    clean_env.setenv("DAGSTER_PG_PORT", "5432x")

    assert main(["instance", "--home", str(tmp_path)]) == 2
    assert "DAGSTER_PG_PORT must be a port number" in capsys.readouterr().err
    assert not (tmp_path / "dagster.yaml").exists()


def test_a_different_dagster_yaml_is_replaced_only_with_force(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "dagster.yaml"
    mine.write_text("telemetry:\n  enabled: true\n")

    assert main(["instance", "--home", str(tmp_path)]) == 2
    assert f"{mine} exists with other settings; --force replaces it" in capsys.readouterr().err
    assert mine.read_text() == "telemetry:\n  enabled: true\n"

    assert main(["instance", "--home", str(tmp_path), "--force"]) == 0
    assert mine.read_text() == instance_yaml({}, tmp_path)
    assert main(["instance", "--home", str(tmp_path)]) == 0  # the same settings again: fine


def test_the_installed_command_writes_a_postgres_instance_that_dagster_opens(
    postgres_database: PostgresServer, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As a user runs it: the console script, the variables in its environment; the file it
    writes holds no password, and Dagster opens it on the real server with the same variables."""
    env = {k: v for k, v in os.environ.items() if k not in PG_VARIABLES and k != "DAGSTER_HOME"}
    env.update(postgres_database.env("parts"), DAGSTER_HOME=str(tmp_path / "home"))

    done = subprocess.run(
        [str(Path(sys.executable).with_name("azure-port-pipeline")), "instance"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    written = tmp_path / "home" / "dagster.yaml"
    assert done.stdout == (
        f"wrote {written}: runs, event logs and schedules in Postgres database "
        f"{postgres_database.db} on 127.0.0.1:{postgres_database.port} as {postgres_database.user} "
        "(from DAGSTER_PG_HOST, DAGSTER_PG_PORT, DAGSTER_PG_USERNAME, DAGSTER_PG_PASSWORD, "
        "DAGSTER_PG_DB)\n"
    )
    assert postgres_database.password not in done.stdout + done.stderr + written.read_text()
    for name, value in postgres_database.env("parts").items():
        clean_env.setenv(name, value)
    with DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert instance.get_runs() == []
