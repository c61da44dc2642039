"""KQL (Kusto Query Language) subset engine for the Resource Graph emulator.

`execute(query, tables, now)` parses the query with a real lexer and recursive-descent
parser (`lexer`, `parser`), compiles it into closures and runs it over the given rows
(`evaluate`). Queries outside the supported subset raise `KqlError`, which the emulator turns
into the service's 400 BadRequest / InvalidQuery answer; the subset is listed in
`parser.SUPPORTED_OPERATORS` and `functions.SCALAR_FUNCTIONS` / `AGGREGATES`.

Result rows keep Python values (datetime, timedelta, nested dicts shared with the input);
serialise them with `to_json_value`, which writes datetimes as
`YYYY-MM-DDTHH:MM:SS.ffffffZ` and copies containers.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from azure_port_pipeline.emulators.kql.evaluate import Result, run_query
from azure_port_pipeline.emulators.kql.lexer import KqlError
from azure_port_pipeline.emulators.kql.parser import parse


def execute(
    query: str, tables: Mapping[str, Sequence[dict[str, Any]]], now: datetime
) -> list[dict[str, Any]]:
    """Rows of `query` over `tables` (lower-case table name -> rows), `ago()`/`now()`
    relative to `now`. Input rows are never mutated. Raises KqlError."""
    return execute_result(query, tables, now).rows


def execute_result(
    query: str, tables: Mapping[str, Sequence[dict[str, Any]]], now: datetime
) -> Result:
    """Like `execute`, plus column names/types (for `resultFormat: table`) and whether the
    query used take/limit/top (the service then returns no `$skipToken`)."""
    if not isinstance(query, str):
        raise KqlError("The query must be a string.", code="InvalidQuery")
    with _COLLECTOR_PAUSE:
        return run_query(parse(query), query, tables, now)


class CollectorPause:
    """Pauses the cyclic garbage collector while at least one query runs, and only then.

    A query over 100k rows allocates hundreds of thousands of acyclic dicts, which trigger
    repeated full collections over the (large) estate: `benchmarks/bench_kql.py` runs its
    heaviest query about 1.6x slower with the collector on. The collector is process-wide,
    so the pause is counted under a lock: queries running at once on several threads share
    one pause, and the last one out (always, in `__exit__`, whatever the query raised)
    puts the collector back as the first one in found it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._running == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._running += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0 and self._was_enabled:
                gc.enable()


_COLLECTOR_PAUSE = CollectorPause()
