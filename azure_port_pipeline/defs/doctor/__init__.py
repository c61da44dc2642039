"""`azure-port-pipeline doctor`: a deployment's configuration checked end to end, read-only.

Nine checks in order, one line each: settings, mapping, Azure credentials, subscriptions,
Port credentials, Port blueprints, Dagster instance, snapshot storage, events queue. A check
that needs an earlier one that failed says "skipped: needs X"; the others still run, so one
pass shows everything to fix. Each check runs under a deadline (its clients' timeouts and
retries are cut to it, and the runner stops waiting past it), and an unexpected exception is
that check's FAIL, not a crash. Every line is scrubbed of the environment's secrets.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable, Mapping

from azure_port_pipeline.defs.doctor.azure_checks import (
    check_azure_credentials,
    check_events_queue,
    check_subscriptions,
)
from azure_port_pipeline.defs.doctor.config_checks import check_mapping, check_settings
from azure_port_pipeline.defs.doctor.dagster_checks import check_instance
from azure_port_pipeline.defs.doctor.findings import (
    DEFAULT_SECONDS,
    GRACE_SECONDS,
    Findings,
    Limits,
    secrets_of,
)
from azure_port_pipeline.defs.doctor.port_checks import check_blueprints, check_port_credentials
from azure_port_pipeline.defs.doctor.results import (
    CheckResult,
    DoctorReport,
    Status,
    Verdict,
    fail,
)
from azure_port_pipeline.defs.doctor.storage_checks import check_snapshot_storage

Check = Callable[[Findings], Verdict]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("settings", check_settings),
    ("mapping", check_mapping),
    ("azure credentials", check_azure_credentials),
    ("subscriptions", check_subscriptions),
    ("port credentials", check_port_credentials),
    ("port blueprints", check_blueprints),
    ("dagster instance", check_instance),
    ("snapshot storage", check_snapshot_storage),
    ("events queue", check_events_queue),
)

__all__ = ["CHECKS", "CheckResult", "DoctorReport", "Status", "run_doctor"]


def run_doctor(
    environ: Mapping[str, str] | None = None,
    *,
    seconds: float = DEFAULT_SECONDS,
    on_result: Callable[[CheckResult], None] | None = None,
) -> DoctorReport:
    """Run every check against `environ` (default: this process's environment).

    `on_result` sees each result as soon as its check ends (the CLI prints it then).
    """
    environ = dict(os.environ if environ is None else environ)
    secrets = secrets_of(environ)
    found = Findings(environ=environ, limits=Limits(seconds))
    results: list[CheckResult] = []
    try:
        for name, check in CHECKS:
            verdict, found = _bounded(check, found)
            result = CheckResult.of(name, verdict, secrets)
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        _close(found)
    return DoctorReport(tuple(results))


def _bounded(check: Check, found: Findings) -> tuple[Verdict, Findings]:
    """The check's verdict within its deadline, and what it found.

    It runs in a daemon thread on a copy of the findings: one that never answers is left
    behind (the process exits without it) and what it might still record later is not seen
    by the checks after it.
    """
    mine = copy.copy(found)
    outcome: list[Verdict] = []

    def run() -> None:
        try:
            outcome.append(check(mine))
        except Exception as error:  # one check failing unexpectedly must not stop the others
            outcome.append(fail(f"unexpected {type(error).__name__}: {error}", _BUG_HINT))

    bound = found.limits.seconds + GRACE_SECONDS
    worker = threading.Thread(target=run, name=f"doctor-{check.__name__}", daemon=True)
    worker.start()
    worker.join(bound)
    if not outcome:
        return fail(f"no result within {bound:g} s", _SLOW_HINT), found
    return outcome[0], mine


def _close(found: Findings) -> None:
    """Close clients and the instance, within a bound too (a hung socket must not hang exit)."""
    worker = threading.Thread(target=found.cleanup.close, name="doctor-cleanup", daemon=True)
    worker.start()
    worker.join(GRACE_SECONDS)


_BUG_HINT = "an unexpected answer or a bug: run doctor again, and report it if it persists"
_SLOW_HINT = "a host that does not answer: check the network, or raise --timeout"
