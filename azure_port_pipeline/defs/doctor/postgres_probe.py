"""A Postgres-backed instance's database, reached once within the doctor's deadline.

dagster-postgres connects without a `connect_timeout` and retries a failed connection five
times: a host that drops packets would hold the instance check for minutes, and a wrong
password would end as "too many retries for DB connection". So before the instance is opened,
doctor connects once itself, to the URL dagster-postgres builds from the same `dagster.yaml`
config (its `env:` references resolved by Dagster, from this process's environment, as the
UI and daemon resolve them), with libpq's `connect_timeout` set to the check's request timeout.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dagster._core.instance.ref import InstanceRef
from dagster._serdes.config_class import ConfigurableClassData

POSTGRES_MODULE = "dagster_postgres"


class PostgresProblem(RuntimeError):
    """The database cannot be named or did not take a connection; the message is Dagster's or
    libpq's (never a password)."""


@dataclass(frozen=True)
class PostgresTarget:
    """One database an instance's storage uses, and the variables its config reads."""

    url: str = field(repr=False)  # holds the password: never printed
    where: str
    """For people: `Postgres database D on HOST:PORT as USER`."""
    variables: tuple[str, ...]
    token_auth: bool = False
    """An `auth_provider` (workload identity) signs in: the URL alone cannot connect."""


def postgres_configs(ref: InstanceRef) -> list[ConfigurableClassData]:
    """The instance's storages kept by dagster-postgres (one config each, duplicates once)."""
    configs: dict[str, ConfigurableClassData] = {}
    for data in (ref.run_storage_data, ref.event_storage_data, ref.schedule_storage_data):
        if data is not None and data.module_name.split(".")[0] == POSTGRES_MODULE:
            configs.setdefault(data.config_yaml, data)
    return list(configs.values())


def referenced_variables(data: ConfigurableClassData) -> tuple[str, ...]:
    """The environment variables a storage config reads (`{env: NAME}`), in config order."""
    return tuple(dict.fromkeys(_env_references(data.config_dict)))


def resolve(data: ConfigurableClassData) -> PostgresTarget:
    """The database `data` describes, resolved as dagster-postgres resolves it.

    Raises `PostgresProblem` naming the problem (an unset variable, a bad port) when
    Dagster would refuse the config.
    """
    from dagster._config import process_config, resolve_to_config_type
    from dagster._core.storage.config import pg_config
    from dagster_postgres.utils import pg_url_from_config
    from sqlalchemy.engine import make_url

    unset = [name for name in referenced_variables(data) if not os.environ.get(name)]
    if unset:
        raise PostgresProblem(
            f"the instance's postgres storage reads {', '.join(unset)}, which "
            f"{'is' if len(unset) == 1 else 'are'} not set"
        )
    result = process_config(resolve_to_config_type(pg_config()), data.config_dict)
    if not result.success:
        messages = "; ".join(_first_part(error.message) for error in result.errors or [])
        raise PostgresProblem(f"the instance's postgres storage config is invalid: {messages}")
    value: dict[str, Any] = dict(result.value or {})
    url = pg_url_from_config(value)
    try:
        parsed = make_url(url)
    except Exception:  # SQLAlchemy's ArgumentError and ValueError alike
        raise PostgresProblem("the postgres URL is not a valid URL") from None
    user = f" as {parsed.username}" if parsed.username else ""
    where = f"Postgres database {parsed.database} on {parsed.host}:{parsed.port or 5432}{user}"
    return PostgresTarget(
        url=url,
        where=where,
        variables=referenced_variables(data),
        token_auth=bool(value.get("auth_provider")),
    )


def probe(target: PostgresTarget, timeout: float) -> None:
    """Connect once and run `SELECT 1`, connecting for at most `timeout` seconds."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(
        target.url,
        poolclass=NullPool,
        connect_args={"connect_timeout": max(1, round(timeout))},
    )
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sqlalchemy.exc.DBAPIError as error:
        raise PostgresProblem(" ".join(str(error.orig or error).split())) from None
    finally:
        engine.dispose()


def _first_part(message: str) -> str:
    """A config error's message without the stack trace Dagster appends to some."""
    return " ".join(message.split("Stack Trace:")[0].split())


def _env_references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if set(value) == {"env"} and isinstance(value["env"], str):
            yield value["env"]
            return
        for item in value.values():
            yield from _env_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _env_references(item)
