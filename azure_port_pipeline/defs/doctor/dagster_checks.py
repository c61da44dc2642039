"""Check 7: the Dagster instance answers.

The instance is opened as `DagsterInstance.get()` opens it (from $DAGSTER_HOME's dagster.yaml),
so SQLite and Postgres instances alike are checked with the storage the UI and daemon use. A
Postgres database is first reached once with a connect timeout (postgres_probe.py): a host that
does not answer, or a wrong password, is this check's FAIL naming the DAGSTER_PG_* variables,
within the deadline.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef

from azure_port_pipeline.defs.doctor.findings import Findings
from azure_port_pipeline.defs.doctor.postgres_probe import (
    PostgresProblem,
    PostgresTarget,
    postgres_configs,
    probe,
    referenced_variables,
    resolve,
)
from azure_port_pipeline.defs.doctor.results import Verdict, fail, ok, warn
from azure_port_pipeline.defs.instance_config import (
    PG_VARIABLES,
    SQLITE_STORAGE_CLASS,
    SQLITE_STORAGE_MODULE,
    InstanceConfigError,
    storage_from_env,
)

_HOME_HINT = (
    "set DAGSTER_HOME to the absolute path of the instance directory the UI and daemon use, "
    "with the project's dagster.yaml in it (the demo's: .dagster_home)"
)


def check_instance(found: Findings) -> Verdict:
    """$DAGSTER_HOME is set, its dagster.yaml loads, run and event storage answer."""
    home = found.environ.get("DAGSTER_HOME", "").strip()
    if not home:
        return fail("DAGSTER_HOME is not set", _HOME_HINT)
    path = Path(home)
    if not path.is_absolute():
        return fail(f"DAGSTER_HOME={home} is not an absolute path", _HOME_HINT)
    if not path.is_dir():
        return fail(f"DAGSTER_HOME={home} is not a directory", _HOME_HINT)
    config = path / "dagster.yaml"
    try:
        ref = InstanceRef.from_dir(str(path))
    except Exception as error:  # Dagster's config, YAML and import errors have no common base
        return fail(f"{config} does not load: {_text(error)}", _config_hint(config))
    elsewhere = _sqlite_elsewhere(ref, path)
    if elsewhere:  # not opened: opening would make an instance over there
        return warn(
            f"{config} keeps runs in {elsewhere}, not in DAGSTER_HOME={home} (the file was "
            "written for another directory, or the home was moved or copied)",
            f"write it for this home: azure-port-pipeline instance --force (keep {elsewhere} "
            "if its runs matter)",
        )
    postgres = _reach_postgres(ref, config, found.limits.request_timeout)
    if isinstance(postgres, Verdict):
        return postgres
    hint = _postgres_hint(config, _variables(postgres)) if postgres else _config_hint(config)
    try:
        instance = DagsterInstance.from_ref(ref)
    except Exception as error:  # as above, and a Postgres server that failed meanwhile
        return fail(f"{config} does not load: {_text(error)}", hint)
    found.cleanup.callback(instance.dispose)
    runs_kind = type(instance.run_storage).__name__
    try:
        runs = instance.get_runs(limit=1)
        instance.event_log_storage.get_maximum_record_id()
    except Exception as error:  # SQLAlchemy / psycopg2 errors: the storage did not answer
        return fail(f"{runs_kind} did not answer: {_text(error)}", hint)
    found.instance = instance
    if not postgres:
        unused = _unused_postgres(config, found.environ)
        if unused:
            return warn(
                f"{unused}; runs go to SQLite under {home}",
                f"write {config} again with the DAGSTER_PG_* variables set "
                "(azure-port-pipeline instance --force), or unset them",
            )
    latest = f"latest run {runs[0].run_id[:8]} {runs[0].status.value}" if runs else "no runs yet"
    where = "".join(f" {target.where};" for target in postgres)
    detail = f"{home}:{where} {runs_kind}, {type(instance.event_log_storage).__name__} ({latest})"
    if not config.is_file():
        return warn(
            f"{detail}; no dagster.yaml, so Dagster's defaults (no run queue limits)",
            f"copy the project's dagster.yaml to {config}",
        )
    return ok(detail)


def _sqlite_elsewhere(ref: InstanceRef, home: Path) -> str | None:
    """The directory of the home's SQLite storage when it is not the home itself
    (`azure-port-pipeline instance` writes the home's absolute path into dagster.yaml)."""
    data = ref.storage_data
    if data is None or (data.module_name, data.class_name) != (
        SQLITE_STORAGE_MODULE,
        SQLITE_STORAGE_CLASS,
    ):
        return None
    base_dir = (yaml.safe_load(data.config_yaml) or {}).get("base_dir")
    if not isinstance(base_dir, str) or Path(base_dir).resolve() == home.resolve():
        return None
    return base_dir


def _reach_postgres(
    ref: InstanceRef, config: Path, timeout: float
) -> list[PostgresTarget] | Verdict:
    """Each Postgres database of the instance, reached once (a FAIL if one is not)."""
    targets: list[PostgresTarget] = []
    for data in postgres_configs(ref):
        hint = _postgres_hint(config, referenced_variables(data))
        try:
            target = resolve(data)
        except PostgresProblem as error:
            return fail(str(error), hint)
        if not target.token_auth:  # a token provider signs in: left to the instance itself
            try:
                probe(target, timeout)
            except PostgresProblem as error:
                return fail(f"{target.where}: {error}", hint)
        targets.append(target)
    return targets


def _config_hint(config: Path) -> str:
    return f"fix {config} (compare with the project's dagster.yaml)"


def _postgres_hint(config: Path, variables: tuple[str, ...]) -> str:
    """What to check for a Postgres instance: the variables its config reads, by name."""
    names = f"the postgres storage in {config}"
    if variables:
        names = ", ".join(_in_usual_order(variables))
    return (
        f"check {names} (host, port, user, password, database) and that the server takes "
        "connections from this host"
    )


def _unused_postgres(config: Path, environ: Mapping[str, str]) -> str | None:
    """DAGSTER_PG_* set while dagster.yaml keeps SQLite: the file was written without them."""
    try:
        selected = storage_from_env(environ)
    except InstanceConfigError as error:
        return str(error)
    if selected.kind != "postgres":
        return None
    return f"the environment selects {selected.summary}, but {config} keeps SQLite storage"


def _in_usual_order(variables: tuple[str, ...]) -> list[str]:
    """DAGSTER_PG_* as people list them (URL; host, port, user, password, database)."""
    usual = {name: index for index, name in enumerate(PG_VARIABLES)}
    return sorted(variables, key=lambda name: usual.get(name, len(usual)))


def _variables(targets: list[PostgresTarget]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for target in targets for name in target.variables))


def _text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
