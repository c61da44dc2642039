"""The SQLite instance with kept engines: the same files as Dagster's own, fewer engines, safe
across threads, forks and a wipe. Real Dagster runs on real SQLite files in a temp home."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    EventLogEntry,
    job,
    op,
)
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

from azure_port_pipeline.defs import sqlite_storage
from azure_port_pipeline.defs.instance_config import write_instance
from azure_port_pipeline.defs.sqlite_storage import (
    SHARD_ENGINES,
    PooledSqliteEventLogStorage,
    PooledSqliteRunStorage,
    PooledSqliteScheduleStorage,
)

EVENTS_PER_THREAD = 25
#: Generous bounds on a loaded machine; each wait ends as soon as its condition holds.
WATCH_BOUND_SECONDS = 120
THREADS_BOUND_SECONDS = 300


@op
def say_hello() -> str:
    return "hello"


@job
def hello() -> None:
    say_hello()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    write_instance(tmp_path / "home", {})
    return tmp_path / "home"


@pytest.fixture
def instance(home: Path) -> Iterator[DagsterInstance]:
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as opened:
        yield opened


@pytest.fixture
def engines_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every engine the pooled storages make (Dagster's own are not counted)."""
    made: list[str] = []
    real = sqlite_storage.create_engine

    def counting(conn_string: str, **kwargs: object) -> sqlalchemy.Engine:
        made.append(conn_string)
        return real(conn_string, **kwargs)

    monkeypatch.setattr(sqlite_storage, "create_engine", counting)
    return made


def test_the_written_home_opens_with_the_pooled_storages(instance: DagsterInstance) -> None:
    assert isinstance(instance.run_storage, PooledSqliteRunStorage)
    assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    assert isinstance(instance.schedule_storage, PooledSqliteScheduleStorage)


def test_a_run_keeps_one_engine_per_database(
    engines_made: list[str], instance: DagsterInstance
) -> None:
    for _ in range(2):
        result = hello.execute_in_process(instance=instance)
        assert result.success

    # Hundreds of statements over two runs; one engine for runs.db, the index, and each run's
    # shard: none made twice.
    assert len(engines_made) == len(set(engines_made))
    assert sum(path.endswith("/runs.db") for path in engines_made) == 1
    assert sum(path.endswith("/index.db") for path in engines_made) == 1
    run_ids = [run.run_id for run in instance.get_runs()]
    assert all(any(path.endswith(f"/{run}.db") for path in engines_made) for run in run_ids)


def test_dagsters_own_sqlite_storage_reads_what_the_pooled_one_wrote(
    home: Path, instance: DagsterInstance
) -> None:
    run_id = hello.execute_in_process(instance=instance).run_id
    instance.dispose()

    with DagsterInstance.from_config(str(_plain_home(home))) as plain:
        assert type(plain.run_storage) is SqliteRunStorage
        assert type(plain.event_log_storage) is SqliteEventLogStorage
        run = plain.get_run_by_id(run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        kinds = {
            r.event_log_entry.dagster_event_type for r in plain.get_records_for_run(run_id).records
        }
        assert DagsterEventType.STEP_SUCCESS in kinds
        # ...and the other way round: a run of Dagster's storage, read by the pooled one.
        other = hello.execute_in_process(instance=plain).run_id

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as pooled:
        assert {run.run_id for run in pooled.get_runs()} == {run_id, other}
        assert pooled.get_records_for_run(other).records


def test_the_ui_watching_a_run_sees_each_event_another_process_writes(home: Path) -> None:
    """The webserver follows a run's log while the run's own process writes it: two instances
    of the same home, each with its own kept connections."""
    with (
        DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as webserver,
        DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as worker,
    ):
        run = worker.create_run_for_job(job_def=hello)
        webserver.get_records_for_run(run.run_id)  # the webserver's connection is open first
        seen: list[str] = []
        arrived = threading.Event()

        def on_event(entry: EventLogEntry, _cursor: str) -> None:
            if entry.dagster_event and entry.dagster_event.message:
                seen.append(entry.dagster_event.message)
            if len(seen) >= EVENTS_PER_THREAD:
                arrived.set()

        webserver.watch_event_logs(run.run_id, None, on_event)
        try:
            for number in range(EVENTS_PER_THREAD):
                worker.report_engine_event(f"event {number}", run)
            assert arrived.wait(WATCH_BOUND_SECONDS), f"the watcher saw {len(seen)} events"
        finally:
            webserver.end_watch_event_logs(run.run_id, on_event)
    assert seen[-EVENTS_PER_THREAD:] == [f"event {n}" for n in range(EVENTS_PER_THREAD)]


def test_threads_writing_and_reading_at_once_all_land(instance: DagsterInstance) -> None:
    """The webserver's and daemon's threads share one storage: runs.db, the index and shards
    written and read from several threads at once. (Whole runs in threads are not tried: on an
    instance with a dagster.yaml, Dagster's logging set-up deadlocks them; see headless.py.)"""
    runs = [instance.create_run_for_job(job_def=hello) for _ in range(4)]
    errors: list[BaseException] = []

    def write(run: DagsterRun) -> None:
        try:
            for number in range(EVENTS_PER_THREAD):
                instance.report_engine_event(f"event {number}", run)
                instance.get_runs(limit=5)
        except BaseException as error:  # reported below, with the others
            errors.append(error)

    threads = [threading.Thread(target=write, args=(run,), daemon=True) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREADS_BOUND_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "writers still blocked"

    assert errors == []
    for run in runs:
        messages = [
            record.event_log_entry.dagster_event.message
            for record in instance.get_records_for_run(run.run_id).records
            if record.event_log_entry.dagster_event_type == DagsterEventType.ENGINE_EVENT
        ]
        assert messages == [f"event {number}" for number in range(EVENTS_PER_THREAD)]


def test_a_forked_child_makes_its_own_engines_and_leaves_the_parents_working(
    instance: DagsterInstance,
) -> None:
    parent_run = hello.execute_in_process(instance=instance).run_id  # the parent's engines exist
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_run_hello_in_child, args=(instance,))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("the forked child did not finish within 120 s")

    assert child.exitcode == 0  # it inherited no open database and ran on its own connections
    runs = instance.get_runs()  # through the parent's own engine, after the child's exit
    assert len(runs) == 2 and parent_run in {run.run_id for run in runs}
    assert {run.status for run in runs} == {DagsterRunStatus.SUCCESS}
    assert hello.execute_in_process(instance=instance).success


def test_a_shard_beyond_the_kept_ones_is_reopened_on_demand(
    engines_made: list[str], instance: DagsterInstance
) -> None:
    first = hello.execute_in_process(instance=instance).run_id
    for _ in range(SHARD_ENGINES):
        hello.execute_in_process(instance=instance)

    assert instance.get_records_for_run(first).records  # its engine was let go: made again
    assert sum(path.endswith(f"/{first}.db") for path in engines_made) == 2


def test_a_wipe_drops_the_kept_connections_before_deleting_the_files(
    instance: DagsterInstance,
) -> None:
    run_id = hello.execute_in_process(instance=instance).run_id
    instance.wipe()

    assert instance.get_runs() == []
    assert not instance.get_records_for_run(run_id).records
    again = hello.execute_in_process(instance=instance)
    assert again.success and instance.get_records_for_run(again.run_id).records


def _run_hello_in_child(instance: DagsterInstance) -> None:
    inherited = [
        target for fd in Path("/proc/self/fd").iterdir() if (target := _link(fd)).endswith(".db")
    ]
    if inherited:  # SQLite does not support a connection carried across a fork
        raise SystemExit(f"open databases inherited from the parent: {inherited}")
    if not hello.execute_in_process(instance=instance).success:
        raise SystemExit(1)


def _link(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except OSError:  # closed meanwhile (the listing's own descriptor)
        return ""


def _plain_home(home: Path) -> Path:
    """A second config directory for the same files through Dagster's `storage: sqlite:`."""
    plain = home.parent / "plain"
    plain.mkdir(exist_ok=True)
    (plain / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {home}\n")
    return plain
