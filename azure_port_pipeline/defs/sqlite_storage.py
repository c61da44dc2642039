"""Dagster's SQLite storage with each database's engine kept, not made again per statement batch.

Dagster's SQLite storages open every connection through a new SQLAlchemy engine
(`create_engine(..., poolclass=NullPool)`): a new sqlite3 connection, an empty statement cache
so every statement is compiled again, and a close, which in WAL mode checkpoints the log. A
run writes a few hundred events, each through one or two such connections (its run's shard and
the cross-run index). Profiled on the demo estate (3 subscriptions, headless, serial), that
churn was about half of a run's CPU: a no-change sync took 16.3 s of CPU with Dagster's classes
and 8.3 s with engines kept.

These subclasses change how a connection is obtained (one engine per database file, pooled,
for the life of the instance) and, because of that, how the UI follows a run's log (polling, as
on Postgres; see `watch`). Files, schema, migrations, transactions and locking are
Dagster's and SQLite's own, so an instance written by either kind reads the same with the other.
`azure-port-pipeline instance` (and `make demo`) select it with a `storage: custom:` block.

Two things a kept connection must not do, and how they are avoided:
- cross a fork: SQLite does not support it, so every kept connection of the process is closed
  just before it forks (`os.register_at_fork`), and an engine is used only by the process that
  made it (a child makes its own);
- pile up: a run's event log is a database of its own, so the event log keeps the engines of the
  most recent `SHARD_ENGINES` databases and disposes of older ones.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster._config import StringSource
from dagster._core.storage.event_log.base import EventHandlerFn
from dagster._core.storage.event_log.polling_event_watcher import SqlPollingEventWatcher
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

#: Databases whose engine the event log keeps: the index and the shards of the runs in flight
#: (a few at a time) with room to spare; a webserver reading older runs reopens theirs.
SHARD_ENGINES = 16
#: Idle connections kept per database. More connections at once are allowed (never a wait
#: in the pool: SQLite's own busy timeout decides); the extra ones are closed when returned.
POOL_SIZE = 2


def _runs_directory(base_dir: str) -> str:
    """Where Dagster's default SQLite storage keeps its files, so either class opens the other's."""
    return os.path.join(base_dir, "history", "")


def _event_logs_directory(base_dir: str) -> str:
    return os.path.join(base_dir, "history", "runs", "")


def _schedule_directory(base_dir: str) -> str:
    return os.path.join(base_dir, "schedules")


class EngineCache:
    """This process's engines, by connection string; the least recently used beyond
    `capacity` are disposed of."""

    def __init__(self, capacity: int | None, connect_args: Mapping[str, Any] | None = None):
        self._capacity = capacity
        self._connect_args = dict(connect_args or {})
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        _LIVE_CACHES.add(self)
        # A storage Dagster never disposes of (an instance's dispose() skips the schedule
        # storage) closes its connections when it is dropped, not at some later collection.
        weakref.finalize(self, _dispose_all, self._engines)

    def engine(self, conn_string: str) -> Engine:
        with self._lock:
            self._forget_a_parents_engines()
            engine = self._engines.get(conn_string)
            if engine is None:
                engine = create_engine(
                    conn_string,
                    poolclass=QueuePool,
                    pool_size=POOL_SIZE,
                    max_overflow=-1,
                    connect_args={**self._connect_args, "check_same_thread": False},
                )
                self._engines[conn_string] = engine
                self._evict()
            else:
                self._engines.move_to_end(conn_string)
            return engine

    def dispose(self) -> None:
        with self._lock:
            self._forget_a_parents_engines()
            _dispose_all(self._engines)

    def _forget_a_parents_engines(self) -> None:
        if self._pid == os.getpid():
            return
        for engine in self._engines.values():
            engine.dispose(close=False)  # the parent's connections stay the parent's
        self._engines.clear()
        self._pid = os.getpid()

    def _evict(self) -> None:
        while self._capacity is not None and len(self._engines) > self._capacity:
            self._engines.popitem(last=False)[1].dispose()


def _dispose_all(engines: OrderedDict[str, Engine]) -> None:
    while engines:
        engines.popitem()[1].dispose()


#: Every cache of this process, to close their connections before it forks.
_LIVE_CACHES: weakref.WeakSet[EngineCache] = weakref.WeakSet()


def _close_before_fork() -> None:
    """SQLite does not support carrying an open connection into a forked child (the child's
    connections to the same file would share the parent's lock records): none is open at a
    fork. They are opened again on their next use."""
    for cache in list(_LIVE_CACHES):
        cache.dispose()


os.register_at_fork(before=_close_before_fork)


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


class _OneKeptEngine:
    """`connect()` of a storage with one database file (runs.db, schedules.db): through the
    engine this process keeps for it."""

    _conn_string: str

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None):
        self._engines = EngineCache(capacity=None)
        super().__init__(conn_string, inst_data)  # type: ignore[call-arg]

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with _transaction(self._engines.engine(self._conn_string)) as conn:
            yield conn

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._engines.dispose()


class PooledSqliteRunStorage(_OneKeptEngine, SqliteRunStorage):
    pass


class PooledSqliteScheduleStorage(_OneKeptEngine, SqliteScheduleStorage):
    pass


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines = EngineCache(
            SHARD_ENGINES, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        )
        self._tables: set[str] = set()
        self._event_watcher: SqlPollingEventWatcher | None = None
        self._watcher_lock = threading.Lock()
        super().__init__(base_dir, inst_data)

    def has_table(self, table_name: str) -> bool:
        """Asked before most writes (does this instance have the asset checks table, ...): a
        table, once there, stays until a wipe, so only its absence is asked again."""
        if table_name in self._tables:
            return True
        engine = self._engines.engine(self.conn_string_for_shard(INDEX_SHARD_NAME))
        with engine.connect() as conn:
            present = bool(engine.dialect.has_table(conn, table_name))
        if present:
            self._tables.add(table_name)
        return present

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # As Dagster's: one connection at a time per storage (its watcher thread included),
        # each shard's tables made on its first use by this storage.
        with self._db_lock:
            engine = self._engines.engine(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with _transaction(engine) as conn:
                yield conn

    def watch(self, run_id: str, cursor: str | None, callback: EventHandlerFn) -> None:
        """A run's new events for the UI, by polling, as Dagster's Postgres storage finds them.

        Dagster's SQLite watch waits for the run's database file to change. In WAL mode the
        file changes at a checkpoint, which Dagster's storage caused at every write by closing
        its connection; a kept connection checkpoints only every ~1,000 pages, so a run's page
        would stop following its log."""
        with self._watcher_lock:
            if self._event_watcher is None:
                self._event_watcher = SqlPollingEventWatcher(self)
            watcher = self._event_watcher
        watcher.watch_run(run_id, cursor, callback)

    def end_watch(self, run_id: str, handler: EventHandlerFn) -> None:
        with self._watcher_lock:
            watcher = self._event_watcher
        if watcher is not None:
            watcher.unwatch_run(run_id, handler)

    def wipe(self) -> None:
        self._engines.dispose()  # no connection kept to a file about to be deleted
        self._tables.clear()
        super().wipe()

    def dispose(self) -> None:
        with self._watcher_lock:
            watcher, self._event_watcher = self._event_watcher, None
        if watcher is not None:
            watcher.close()
        super().dispose()
        self._engines.dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """`storage: custom:` for dagster.yaml; config `base_dir` as `storage: sqlite:` takes it."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self.base_dir = base_dir
        self._run_storage = PooledSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = PooledSqliteScheduleStorage.from_local(
            _schedule_directory(base_dir)
        )
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
