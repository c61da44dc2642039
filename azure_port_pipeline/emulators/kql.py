"""KQL (Kusto Query Language) subset engine for the Resource Graph emulator.

`execute(query, tables, now)` parses the query with a real lexer and recursive-descent
parser (kql_lexer, kql_parser), compiles it into closures and runs it over the given rows
(kql_eval). Queries outside the supported subset raise `KqlError`, which the emulator turns
into the service's 400 BadRequest / InvalidQuery answer; the subset is listed in
kql_parser.SUPPORTED_OPERATORS and kql_functions.SCALAR_FUNCTIONS / AGGREGATES.

Result rows keep Python values (datetime, timedelta, nested dicts shared with the input);
serialise them with `to_json_value`, which writes datetimes as
`YYYY-MM-DDTHH:MM:SS.ffffffZ` and copies containers.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from azure_port_pipeline.emulators.kql_eval import Result, run_query
from azure_port_pipeline.emulators.kql_lexer import KqlError
from azure_port_pipeline.emulators.kql_parser import parse
from azure_port_pipeline.emulators.kql_values import to_json_value

__all__ = ["KqlError", "Result", "execute", "execute_result", "to_json_value"]


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
    with _gc_paused():
        return run_query(parse(query), query, tables, now)


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a query runs.

    A query over 100k rows allocates hundreds of thousands of acyclic dicts; on Python 3.11
    that triggers repeated full collections over the (large) estate and doubles the run
    time. Nested/concurrent executions share one pause; the collector's previous state is
    restored when the last one finishes."""
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()
