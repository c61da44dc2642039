"""The instance's dagster.yaml: SQLite by default, Postgres when DAGSTER_PG_* say so.

Both versions are loaded by Dagster itself (its config schema, then a real instance); the
Postgres one against a real PostgreSQL server, where a job's run and events must land and be
read back by another instance on the same home.
"""

from __future__ import annotations

import fnmatch
import tomllib
from contextlib import closing
from importlib import resources
from pathlib import Path
from typing import Literal

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, job, op
from dagster._core.instance.config import dagster_instance_config
from dagster_postgres import (
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)
from sqlalchemy.engine.url import make_url

from azure_port_pipeline.defs.instance_config import (
    PG_VARIABLES,
    InstanceConfigError,
    instance_yaml,
    storage_from_env,
    write_instance,
)
from azure_port_pipeline.defs.sqlite_storage import PooledSqliteRunStorage
from azure_port_pipeline_tests.defs.processes import dagster_home, open_instance
from azure_port_pipeline_tests.paths import PROJECT_ROOT
from azure_port_pipeline_tests.postgres import PostgresServer

PACKAGED = "azure_port_pipeline/defs/dagster.yaml"
#: Instance settings that must not depend on where the storage is.
SETTINGS = ("concurrency", "run_monitoring", "run_retries", "telemetry")
SECRET = "n0t-a-real-s3cret"  # only ever in a variable, never in a file or a message
URL_ENV = {"DAGSTER_PG_URL": f"postgresql+psycopg2://dagster:{SECRET}@db.example:5432/dagster"}
PARTS_ENV = {
    "DAGSTER_PG_HOST": "db.example",
    "DAGSTER_PG_PORT": "6543",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": SECRET,
    "DAGSTER_PG_DB": "dagster",
}


@op
def hello() -> int:
    return 1


@job
def tiny() -> None:
    hello()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No DAGSTER_PG_* of the machine's: each test sets the ones it means."""
    for name in PG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_packaged_instance_settings_are_the_projects_dagster_yaml() -> None:
    packaged = resources.files("azure_port_pipeline.defs").joinpath("dagster.yaml")
    assert packaged.read_bytes() == (PROJECT_ROOT / "dagster.yaml").read_bytes(), (
        f"dagster.yaml and {PACKAGED} differ: the package copy is what "
        "`azure-port-pipeline instance` writes; copy one onto the other"
    )


def test_package_data_declares_the_instance_settings() -> None:
    """What setuptools puts in a wheel: without it an installed CLI has no dagster.yaml."""
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"].get("azure_port_pipeline.defs", [])
    assert any(fnmatch.fnmatch("dagster.yaml", glob) for glob in globs), (
        '[tool.setuptools.package-data] needs "azure_port_pipeline.defs" = ["dagster.yaml"]'
    )


@pytest.mark.parametrize("environ", [{}, {"DAGSTER_PG_URL": "", "DAGSTER_HOME": "/x"}])
def test_without_postgres_variables_the_instance_is_sqlite_in_the_home_itself(
    environ: dict[str, str], tmp_path: Path
) -> None:
    assert storage_from_env(environ).kind == "sqlite"
    text = instance_yaml(environ, tmp_path / "home")
    project = (PROJECT_ROOT / "dagster.yaml").read_text()
    assert text.startswith(project)
    # The home by its absolute path, not DAGSTER_HOME's ("/x" above): the file is the home's.
    assert yaml.safe_load(text)["storage"] == {
        "custom": {
            "module": "azure_port_pipeline.defs.sqlite_storage",
            "class": "PooledSqliteStorage",
            "config": {"base_dir": str((tmp_path / "home").resolve())},
        }
    }
    assert {k: v for k, v in yaml.safe_load(text).items() if k != "storage"} == yaml.safe_load(
        project
    )


@pytest.mark.parametrize("environ", [URL_ENV, PARTS_ENV], ids=["url", "parts"])
def test_both_instances_pass_dagsters_own_config_validation_with_the_same_settings(
    environ: dict[str, str], tmp_path: Path
) -> None:
    sqlite, postgres = tmp_path / "sqlite", tmp_path / "postgres"
    write_instance(sqlite, {})
    write_instance(postgres, environ)

    sqlite_config, _ = dagster_instance_config(str(sqlite))
    postgres_config, _ = dagster_instance_config(str(postgres))

    assert set(sqlite_config["storage"]) == {"custom"}
    assert set(postgres_config["storage"]) == {"postgres"}
    assert {k: v for k, v in postgres_config.items() if k != "storage"} == {
        k: v for k, v in sqlite_config.items() if k != "storage"
    }
    written = (postgres / "dagster.yaml").read_text()
    assert SECRET not in written and "db.example" not in written
    for name in environ:
        assert f"env: {name}" in written


@pytest.mark.parametrize("form", ["url", "parts"])
def test_a_postgres_home_stores_and_reads_runs_and_events_in_postgres(
    form: Literal["url", "parts"],
    postgres_database: PostgresServer,
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    environ = postgres_database.env(form)
    storage = write_instance(tmp_path / "home", environ)
    assert storage.kind == "postgres"
    assert postgres_database.password not in storage.summary
    written = (tmp_path / "home" / "dagster.yaml").read_text()
    assert postgres_database.password not in written
    assert str(postgres_database.port) not in written  # every value comes from a variable
    for name, value in environ.items():
        clean_env.setenv(name, value)

    with DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        result = tiny.execute_in_process(instance=instance)
        assert result.success
        run_id = result.run_id

    with DagsterInstance.from_config(str(tmp_path / "home")) as again:  # a fresh reader
        run = again.get_run_by_id(run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        events = [
            r.event_log_entry.dagster_event_type for r in again.get_records_for_run(run_id).records
        ]
        assert DagsterEventType.STEP_SUCCESS in events and DagsterEventType.RUN_SUCCESS in events
        assert again.all_instigator_state() == []  # schedule storage answers from Postgres

    with closing(postgres_database.connect()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
        assert cursor.fetchall() == [("SUCCESS",)]
        cursor.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (run_id,))
        assert cursor.fetchone()[0] >= len(events)
        cursor.execute("SELECT to_regclass('instigators') IS NOT NULL")
        assert cursor.fetchone() == (True,)
    assert not list((tmp_path / "home").glob("**/*.db")), "nothing went to SQLite"


def test_the_postgres_instance_has_the_sqlite_ones_queue_pools_launcher_and_monitoring(
    postgres_database: PostgresServer, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_instance(tmp_path / "sqlite", {})
    write_instance(tmp_path / "postgres", postgres_database.env())
    clean_env.setenv("DAGSTER_PG_URL", postgres_database.url)

    with (
        DagsterInstance.from_config(str(tmp_path / "sqlite")) as sqlite,
        DagsterInstance.from_config(str(tmp_path / "postgres")) as postgres,
    ):
        assert isinstance(sqlite.run_storage, PooledSqliteRunStorage)
        assert isinstance(postgres.run_storage, PostgresRunStorage)
        for name in SETTINGS:
            assert postgres.get_settings(name) == sqlite.get_settings(name), name
        assert postgres.get_settings("concurrency")["runs"]["max_concurrent_runs"] == 3
        assert type(postgres.run_coordinator) is type(sqlite.run_coordinator)
        assert postgres.run_coordinator.inst_data == sqlite.run_coordinator.inst_data
        assert type(postgres.run_launcher) is type(sqlite.run_launcher)
        assert postgres.run_monitoring_enabled and postgres.run_retries_enabled
        concurrency = postgres.get_concurrency_config()
        assert concurrency == sqlite.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 3
        assert concurrency.run_queue_config is not None
        assert concurrency.run_queue_config.max_concurrent_runs == 3


def test_dagster_home_of_the_tests_makes_a_postgres_home_from_the_env_it_is_given(
    postgres_database: PostgresServer, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {"PATH": "/usr/bin", **postgres_database.env("parts")}
    home = dagster_home(tmp_path / "home", env)

    with open_instance(home, env) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert instance.get_runs() == []
    with pytest.raises(AssertionError, match=r"DAGSTER_PG_HOST.*open_instance\(home, env\)"):
        open_instance(home)
    sqlite_home = dagster_home(tmp_path / "sqlite", {"PATH": "/usr/bin"})
    assert (sqlite_home / "dagster.yaml").read_text() == instance_yaml({}, sqlite_home)
    assert (sqlite_home / "history" / "runs.db").is_file()  # created up front, as before


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"DAGSTER_PG_HOST": "db"}, ["DAGSTER_PG_USERNAME", "DAGSTER_PG_DB"]),
        ({**PARTS_ENV, "DAGSTER_PG_USERNAME": ""}, ["DAGSTER_PG_USERNAME"]),
        ({**PARTS_ENV, "DAGSTER_PG_PORT": "fivefourthreetwo"}, ["DAGSTER_PG_PORT"]),
        ({**PARTS_ENV, "DAGSTER_PG_PORT": "70000"}, ["DAGSTER_PG_PORT"]),
        ({**PARTS_ENV, "DAGSTER_PG_PORT": "-1"}, ["DAGSTER_PG_PORT"]),
        (
            {"DAGSTER_PG_USERNAME": "dagster", "DAGSTER_PG_PASSWORD": SECRET},
            ["DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST"],
        ),
        ({**URL_ENV, "DAGSTER_PG_HOST": "db"}, ["DAGSTER_PG_URL", "DAGSTER_PG_HOST"]),
        ({"DAGSTER_PG_URL": f"postgres://u:{SECRET}@db/x"}, ["DAGSTER_PG_URL", "postgresql+"]),
        ({"DAGSTER_PG_URL": f"postgresql+nosuch://u:{SECRET}@db/x"}, ["DAGSTER_PG_URL", "nosuch"]),
        ({"DAGSTER_PG_URL": f"mysql://u:{SECRET}@db/x"}, ["DAGSTER_PG_URL"]),
        ({"DAGSTER_PG_URL": f"postgresql+psycopg2://u:{SECRET}@db:port/x"}, ["DAGSTER_PG_URL"]),
        (
            {"DAGSTER_PG_URL": f"postgresql+psycopg2://u:{SECRET}@db:5432"},
            ["DAGSTER_PG_URL", "database"],
        ),
    ],
)
def test_bad_postgres_variables_fail_naming_the_variable_not_its_value(
    environ: dict[str, str], named: list[str], tmp_path: Path
) -> None:
    with pytest.raises(InstanceConfigError) as error:
        write_instance(tmp_path / "home", environ)

    for word in named:
        assert word in str(error.value)
    assert SECRET not in str(error.value)
    assert not (tmp_path / "home" / "dagster.yaml").exists()


def test_a_bare_postgresql_url_is_accepted_only_where_sqlalchemy_has_its_driver(
    tmp_path: Path,
) -> None:
    """SQLAlchemy 2.1 maps postgresql:// to psycopg 3; dagster-postgres installs psycopg2. The
    URL must fail when written, naming the fix, not when the daemon first opens the instance."""
    url = f"postgresql://u:{SECRET}@db/x"
    try:
        make_url(url).get_dialect().import_dbapi()
    except ImportError:
        with pytest.raises(InstanceConfigError) as error:
            write_instance(tmp_path / "home", {"DAGSTER_PG_URL": url})
        assert "DAGSTER_PG_URL" in str(error.value)
        assert "write postgresql+psycopg2://" in str(error.value)
        assert SECRET not in str(error.value)
    else:
        assert write_instance(tmp_path / "home", {"DAGSTER_PG_URL": url}).kind == "postgres"
