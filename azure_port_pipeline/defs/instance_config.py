"""The Dagster instance's settings (`$DAGSTER_HOME/dagster.yaml`), chosen by the environment.

Without DAGSTER_PG_* variables the instance is the project's `dagster.yaml` plus a
`storage: custom:` block: SQLite in the home's own directory, Dagster's files and layout, opened
through `sqlite_storage.PooledSqliteStorage` (each database's engine kept: about half a run's
CPU, see that module). That is what one machine and `make demo` use. The block names the home
by its absolute path, so the file belongs to the directory it is written into: a home moved
elsewhere needs the file written again (`azure-port-pipeline instance --force`).

With `DAGSTER_PG_URL` (postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE), or
`DAGSTER_PG_HOST` (+ `DAGSTER_PG_PORT`, `DAGSTER_PG_USERNAME`, `DAGSTER_PG_PASSWORD`,
`DAGSTER_PG_DB`), the same file gets a `storage: postgres:` block instead, so runs, event logs
and schedules live in Postgres (dagster-postgres) with the same run queue, pools, launcher, run
monitoring and retries. The block holds only `env:` references: Dagster reads the variables each
time an instance loads (webserver, daemon, run workers), so no password is ever written to disk
and rotating one needs no new file. Which variables are referenced is decided when the file is
written: write it again after setting or unsetting one.

The text comes from the package's copy of the project's `dagster.yaml` (package data, so a wheel
has it); a test keeps the two byte-identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import yaml

INSTANCE_FILE = "dagster.yaml"
PG_URL = "DAGSTER_PG_URL"
PG_HOST = "DAGSTER_PG_HOST"
PG_PORT = "DAGSTER_PG_PORT"
PG_USERNAME = "DAGSTER_PG_USERNAME"
PG_PASSWORD = "DAGSTER_PG_PASSWORD"
PG_DB = "DAGSTER_PG_DB"
SQLITE_STORAGE_MODULE = "azure_port_pipeline.defs.sqlite_storage"
SQLITE_STORAGE_CLASS = "PooledSqliteStorage"
PG_VARIABLES = (PG_URL, PG_HOST, PG_PORT, PG_USERNAME, PG_PASSWORD, PG_DB)
DEFAULT_PG_PORT = 5432
#: SQLAlchemy's name for Postgres through psycopg2, the driver dagster-postgres installs. Named
#: explicitly: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3.
DRIVER_SCHEME = "postgresql+psycopg2"
_URL_SHAPE = f"{DRIVER_SCHEME}://USER:PASSWORD@HOST:PORT/DATABASE"


class InstanceConfigError(ValueError):
    """The DAGSTER_PG_* variables do not describe one database; the message names them (never
    their values: a URL holds a password)."""


@dataclass(frozen=True)
class InstanceStorage:
    """Where an instance keeps its runs, event logs and schedules."""

    kind: Literal["sqlite", "postgres"]
    summary: str
    """For people: which storage and from which variables; never a password."""
    postgres: dict[str, Any] | None = None
    """The `storage: postgres:` config (env references only), for Postgres."""


def storage_from_env(environ: Mapping[str, str]) -> InstanceStorage:
    """The storage the DAGSTER_PG_* variables of `environ` select (empty counts as unset)."""
    present = {name: environ[name] for name in PG_VARIABLES if environ.get(name)}
    parts = [name for name in PG_VARIABLES[1:] if name in present]
    if PG_URL in present and parts:
        raise InstanceConfigError(
            f"{PG_URL} and {', '.join(parts)} are both set: select Postgres with {PG_URL} alone "
            f"or with {PG_HOST} and its companions, not both"
        )
    if PG_URL in present:
        return _from_url(present[PG_URL])
    if PG_HOST in present:
        return _from_parts(present)
    if parts:
        raise InstanceConfigError(
            f"{', '.join(parts)} {'is' if len(parts) == 1 else 'are'} set but {PG_HOST} is not "
            f"(nor {PG_URL}): set {PG_HOST} to use Postgres, or unset them for SQLite"
        )
    return InstanceStorage(
        "sqlite",
        "SQLite in the instance directory (set DAGSTER_PG_URL or DAGSTER_PG_HOST for Postgres)",
    )


def project_instance_yaml() -> str:
    """The project's `dagster.yaml` (SQLite), from the package."""
    return resources.files(__package__).joinpath(INSTANCE_FILE).read_text(encoding="utf-8")


def instance_yaml(environ: Mapping[str, str], home: Path) -> str:
    """The `dagster.yaml` for `environ` in `home`: the project's, plus its storage."""
    storage = storage_from_env(environ)
    text = project_instance_yaml()
    if storage.postgres is None:
        block = yaml.safe_dump(
            {"storage": {"custom": sqlite_storage_config(home)}}, sort_keys=False
        )
        return (
            f"{text}\n"
            "# Runs, event logs and schedules in SQLite in this directory (Dagster's files and\n"
            "# layout), each database's engine kept (azure_port_pipeline/defs/sqlite_storage.py).\n"
            "# Written by `azure-port-pipeline instance` for this directory: if it moves, write\n"
            "# the file again (azure-port-pipeline instance --force).\n"
            f"{block}"
        )
    block = yaml.safe_dump({"storage": {"postgres": storage.postgres}}, sort_keys=False)
    return (
        f"{text}\n"
        "# Runs, event logs and schedules in Postgres (dagster-postgres), written by\n"
        "# `azure-port-pipeline instance` from the DAGSTER_PG_* variables set then. Dagster reads\n"
        "# them from the environment whenever the instance loads: no password is stored here.\n"
        f"{block}"
    )


def sqlite_storage_config(home: Path) -> dict[str, Any]:
    """The `storage: custom:` config of a SQLite instance in `home`."""
    return {
        "module": SQLITE_STORAGE_MODULE,
        "class": SQLITE_STORAGE_CLASS,
        "config": {"base_dir": str(home.expanduser().resolve())},
    }


def write_instance(home: Path, environ: Mapping[str, str]) -> InstanceStorage:
    """Write `home/dagster.yaml` for `environ` (creating `home`); return the storage chosen."""
    storage = storage_from_env(environ)
    text = instance_yaml(environ, home)
    home.mkdir(parents=True, exist_ok=True)
    (home / INSTANCE_FILE).write_text(text, encoding="utf-8")
    return storage


def _from_url(url: str) -> InstanceStorage:
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PG_PORT
    except ValueError:  # a port that is not a number, a bad IPv6 host
        raise InstanceConfigError(f"{PG_URL} is not a valid URL (expected {_URL_SHAPE})") from None
    if parts.scheme != "postgresql" and not parts.scheme.startswith("postgresql+"):
        raise InstanceConfigError(
            f"{PG_URL} must start with {DRIVER_SCHEME}:// (expected {_URL_SHAPE}; SQLAlchemy "
            "does not accept postgres://)"
        )
    problem = _driver_problem(parts.scheme)
    if problem:
        raise InstanceConfigError(f"{PG_URL}: {problem}; expected {_URL_SHAPE}")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise InstanceConfigError(f"{PG_URL} names no database (expected {_URL_SHAPE})")
    where = f"{parts.hostname}:{port}" if parts.hostname else "the host its query names"
    user = f" as {unquote(parts.username)}" if parts.username else ""
    return InstanceStorage(
        "postgres",
        f"Postgres database {database} on {where}{user} (from {PG_URL})",
        {"postgres_url": {"env": PG_URL}},
    )


def _driver_problem(scheme: str) -> str | None:
    """Why SQLAlchemy could not open a `scheme://` URL here, if it could not.

    SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, while dagster-postgres installs
    psycopg2: such a URL would fail only when the daemon first opens the instance.
    """
    from sqlalchemy.engine.url import make_url
    from sqlalchemy.exc import NoSuchModuleError

    try:
        dialect = make_url(f"{scheme}://").get_dialect()
        dialect.import_dbapi()
    except NoSuchModuleError:
        return f"SQLAlchemy knows no database driver {scheme}://"
    except ImportError as missing:
        return (
            f"{scheme}:// needs the Python driver {missing.name or 'of its dialect'}, which is not "
            f"installed; write {DRIVER_SCHEME}:// (psycopg2, installed with dagster-postgres)"
        )
    return None


def _from_parts(present: Mapping[str, str]) -> InstanceStorage:
    missing = [name for name in (PG_USERNAME, PG_DB) if name not in present]
    if missing:
        raise InstanceConfigError(
            f"{PG_HOST} is set, so {PG_USERNAME} and {PG_DB} must be too; missing: "
            f"{', '.join(missing)}"
        )
    port_text = present.get(PG_PORT)
    if port_text is not None and not (
        port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536
    ):
        raise InstanceConfigError(f"{PG_PORT} must be a port number (1-65535)")
    db: dict[str, Any] = {
        "hostname": {"env": PG_HOST},
        # unset: the default, written as a number (an env reference to an unset variable fails)
        "port": {"env": PG_PORT} if port_text is not None else DEFAULT_PG_PORT,
        "username": {"env": PG_USERNAME},
    }
    if PG_PASSWORD in present:  # else libpq's own sources apply (PGPASSWORD, ~/.pgpass)
        db["password"] = {"env": PG_PASSWORD}
    db["db_name"] = {"env": PG_DB}
    db["scheme"] = DRIVER_SCHEME
    used = ", ".join(name for name in PG_VARIABLES if name in present)
    no_password = "" if PG_PASSWORD in present else f"; no {PG_PASSWORD}"
    return InstanceStorage(
        "postgres",
        f"Postgres database {present[PG_DB]} on {present[PG_HOST]}:"
        f"{port_text or DEFAULT_PG_PORT} as {present[PG_USERNAME]} (from {used}{no_password})",
        {"postgres_db": db},
    )
