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

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from azure_port_pipeline.emulators.kql_eval import Result, run_query
from azure_port_pipeline.emulators.kql_lexer import KqlError
from azure_port_pipeline.emulators.kql_parser import parse
from azure_port_pipeline.emulators.kql_values import to_json_value

__all__ = ["KqlError", "Result", "execute", "execute_result", "to_json_value"]


def execute(query: str, tables: Mapping[str, Sequence[dict[str, Any]]],
            now: datetime) -> list[dict[str, Any]]:
    """Rows of `query` over `tables` (lower-case table name -> rows), `ago()`/`now()`
    relative to `now`. Input rows are never mutated. Raises KqlError."""
    return execute_result(query, tables, now).rows


def execute_result(query: str, tables: Mapping[str, Sequence[dict[str, Any]]],
                   now: datetime) -> Result:
    """Like `execute`, plus column names/types (for `resultFormat: table`) and whether the
    query used take/limit/top (the service then returns no `$skipToken`)."""
    if not isinstance(query, str):
        raise KqlError("The query must be a string.", code="InvalidQuery")
    return run_query(parse(query), query, tables, now)
