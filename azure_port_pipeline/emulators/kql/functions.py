"""Scalar functions and aggregation functions of the KQL subset.

Each scalar function is a plain callable over already-evaluated argument values plus its
arity and result type; the evaluator turns calls into closures. Anything not listed here is
rejected at compile time, naming the function, so an unsupported query is a 400 rather than
a silently different answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure_port_pipeline.emulators.kql.values import (
    compare,
    hashable,
    to_bool,
    to_datetime,
    to_dynamic,
    to_long,
    to_real,
    to_string,
    to_timespan,
)


@dataclass(frozen=True, slots=True)
class ScalarFunction:
    min_args: int
    max_args: int
    impl: Callable[..., Any]
    result_type: str | None  # None: depends on the arguments


def _iff(cond: Any, then: Any, otherwise: Any) -> Any:
    return then if cond is True else otherwise


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    return values[-1] if values and values[-1] == "" else None


def _isempty(value: Any) -> bool:
    return value is None or value == ""


def _split(text: Any, delimiter: Any, index: Any = None) -> Any:
    parts = to_string(text).split(to_string(delimiter)) if to_string(delimiter) else []
    if index is None:
        return parts
    i = to_long(index)
    if i is None or not -len(parts) <= i < len(parts):
        return []
    return [parts[i]]


def _bag_keys(value: Any) -> Any:
    return list(value) if isinstance(value, dict) else None


def _array_length(value: Any) -> Any:
    return len(value) if isinstance(value, list) else None


def _pack(*args: Any) -> dict[str, Any]:
    return {to_string(args[i]): args[i + 1] for i in range(0, len(args) - 1, 2)}


def _not(value: Any) -> Any:
    value = to_bool(value)
    return None if value is None else not value


def _substring(text: Any, start: Any, length: Any = None) -> str:
    s = to_string(text)
    begin = max(to_long(start) or 0, 0)
    if length is None:
        return s[begin:]
    count = to_long(length)
    return s[begin : begin + max(count or 0, 0)]


def _indexof(text: Any, lookup: Any) -> Any:
    if text is None or lookup is None:
        return None
    return to_string(text).find(to_string(lookup))


def _replace_string(text: Any, lookup: Any, rewrite: Any) -> str:
    needle = to_string(lookup)
    source = to_string(text)
    return source.replace(needle, to_string(rewrite)) if needle else source


def _case(*args: Any) -> Any:
    for i in range(0, len(args) - 1, 2):
        if args[i] is True:
            return args[i + 1]
    return args[-1]


def _extreme(pick_max: bool) -> Callable[..., Any]:
    def impl(*values: Any) -> Any:
        best = None
        for value in values:
            if value is None:
                continue
            if best is None:
                best = value
                continue
            order = compare(value, best)
            if order is not None and (order > 0 if pick_max else order < 0):
                best = value
        return best

    return impl


def _bin(value: Any, size: Any) -> Any:
    if value is None or size is None:
        return None
    if isinstance(value, datetime) and isinstance(size, timedelta) and size:
        epoch = datetime(1970, 1, 1, tzinfo=value.tzinfo)
        return epoch + ((value - epoch) // size) * size
    if isinstance(value, timedelta) and isinstance(size, timedelta) and size:
        return (value // size) * size
    number, step = to_real(value), to_real(size)
    if number is None or not step or isinstance(value, bool):
        return None
    result = (number // step) * step
    return int(result) if isinstance(value, int) and isinstance(size, int) else result


def _startofday(value: Any) -> Any:
    value = to_datetime(value)
    return None if value is None else value.replace(hour=0, minute=0, second=0, microsecond=0)


def _abs(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | timedelta):
        return abs(value)
    return None


def _set_has_element(array: Any, value: Any) -> bool | None:
    if not isinstance(array, list):
        return None
    key = hashable(value)
    return any(hashable(item) == key for item in array)


def _strlen(value: Any) -> int:
    return len(to_string(value))


def _strcat(*values: Any) -> str:
    return "".join(to_string(v) for v in values)


_VARIADIC = 64
SCALAR_FUNCTIONS: dict[str, ScalarFunction] = {
    "tolower": ScalarFunction(1, 1, lambda v: to_string(v).lower(), "string"),
    "toupper": ScalarFunction(1, 1, lambda v: to_string(v).upper(), "string"),
    "tostring": ScalarFunction(1, 1, to_string, "string"),
    "toint": ScalarFunction(1, 1, to_long, "long"),
    "tolong": ScalarFunction(1, 1, to_long, "long"),
    "toreal": ScalarFunction(1, 1, to_real, "real"),
    "todouble": ScalarFunction(1, 1, to_real, "real"),
    "tobool": ScalarFunction(1, 1, to_bool, "bool"),
    "toboolean": ScalarFunction(1, 1, to_bool, "bool"),
    "todatetime": ScalarFunction(1, 1, to_datetime, "datetime"),
    "datetime": ScalarFunction(1, 1, to_datetime, "datetime"),
    "totimespan": ScalarFunction(1, 1, to_timespan, "timespan"),
    "timespan": ScalarFunction(1, 1, to_timespan, "timespan"),
    "todynamic": ScalarFunction(1, 1, to_dynamic, "dynamic"),
    "parse_json": ScalarFunction(1, 1, to_dynamic, "dynamic"),
    "isnull": ScalarFunction(1, 1, lambda v: v is None, "bool"),
    "isnotnull": ScalarFunction(1, 1, lambda v: v is not None, "bool"),
    "isempty": ScalarFunction(1, 1, _isempty, "bool"),
    "isnotempty": ScalarFunction(1, 1, lambda v: not _isempty(v), "bool"),
    "notnull": ScalarFunction(1, 1, lambda v: v is not None, "bool"),
    "notempty": ScalarFunction(1, 1, lambda v: not _isempty(v), "bool"),
    "strlen": ScalarFunction(1, 1, _strlen, "long"),
    "strcat": ScalarFunction(1, _VARIADIC, _strcat, "string"),
    "strcat_delim": ScalarFunction(
        3, _VARIADIC, lambda d, *v: to_string(d).join(to_string(x) for x in v), "string"
    ),
    "split": ScalarFunction(2, 3, _split, "dynamic"),
    "iff": ScalarFunction(3, 3, _iff, None),
    "iif": ScalarFunction(3, 3, _iff, None),
    "case": ScalarFunction(3, _VARIADIC, _case, None),
    "coalesce": ScalarFunction(2, _VARIADIC, _coalesce, None),
    "bag_keys": ScalarFunction(1, 1, _bag_keys, "dynamic"),
    "array_length": ScalarFunction(1, 1, _array_length, "long"),
    "pack": ScalarFunction(2, _VARIADIC, _pack, "dynamic"),
    "bag_pack": ScalarFunction(2, _VARIADIC, _pack, "dynamic"),
    "pack_array": ScalarFunction(1, _VARIADIC, lambda *v: list(v), "dynamic"),
    "not": ScalarFunction(1, 1, _not, "bool"),
    "substring": ScalarFunction(2, 3, _substring, "string"),
    "indexof": ScalarFunction(2, 2, _indexof, "long"),
    "replace_string": ScalarFunction(3, 3, _replace_string, "string"),
    "min_of": ScalarFunction(2, _VARIADIC, _extreme(False), None),
    "max_of": ScalarFunction(2, _VARIADIC, _extreme(True), None),
    "bin": ScalarFunction(2, 2, _bin, None),
    "floor": ScalarFunction(2, 2, _bin, None),
    "startofday": ScalarFunction(1, 1, _startofday, "datetime"),
    "abs": ScalarFunction(1, 1, _abs, None),
    "set_has_element": ScalarFunction(2, 2, _set_has_element, "bool"),
}
# Functions whose value depends on the query's `now`: compiled specially by the evaluator.
TIME_FUNCTIONS = {"ago": (1, 1), "now": (0, 1)}

# Real Kusto functions outside the subset: rejected as unsupported (not unknown).
KNOWN_UNSUPPORTED_FUNCTIONS = frozenset(
    {
        "extract",
        "extract_all",
        "parse_path",
        "parse_url",
        "parse_ipv4",
        "format_datetime",
        "format_timespan",
        "datetime_part",
        "datetime_add",
        "datetime_diff",
        "make_datetime",
        "dayofweek",
        "dayofmonth",
        "getmonth",
        "getyear",
        "startofweek",
        "startofmonth",
        "startofyear",
        "endofday",
        "round",
        "ceiling",
        "log",
        "pow",
        "sqrt",
        "exp",
        "strrep",
        "reverse",
        "hash",
        "hash_sha256",
        "base64_encode_tostring",
        "base64_decode_tostring",
        "trim",
        "trim_start",
        "trim_end",
        "zip",
        "array_slice",
        "array_concat",
        "array_index_of",
        "array_sort_asc",
        "array_sort_desc",
        "bag_merge",
        "bag_remove_keys",
        "countof",
        "toscalar",
        "materialize",
        "column_ifexists",
        "row_number",
        "prev",
        "next",
        "gettype",
        "typeof",
        "translate",
        "url_encode",
        "url_decode",
        "strcat_array",
        "tohex",
        "toguid",
        "guid",
        "new_guid",
        "isascii",
        "isutf8",
        "has_any_index",
        "series_stats",
        "geo_distance_2points",
        "percentile",
        "percentiles",
        "percentilesw",
        "stdev",
        "stdevif",
        "stdevp",
        "variance",
        "varianceif",
        "variancep",
        "hll",
        "hll_merge",
        "tdigest",
        "tdigest_merge",
        "make_bag",
        "make_bag_if",
        "make_list_if",
        "make_list_with_nulls",
        "make_set_if",
        "sumif",
        "avgif",
        "dcountif",
        "maxif",
        "minif",
        "take_anyif",
        "anyif",
        "binary_all_and",
        "binary_all_or",
        "buildschema",
        "arg_max_if",
    }
)

# ---------------------------------------------------------------- aggregates


@dataclass(frozen=True, slots=True)
class AggregateSpec:
    min_args: int
    max_args: int
    prefix: str  # default output column: f"{prefix}_{argument name}" (count -> "count_")


AGGREGATES: dict[str, AggregateSpec] = {
    "count": AggregateSpec(0, 0, "count"),
    "countif": AggregateSpec(1, 1, "countif"),
    "dcount": AggregateSpec(1, 2, "dcount"),
    "sum": AggregateSpec(1, 1, "sum"),
    "avg": AggregateSpec(1, 1, "avg"),
    "min": AggregateSpec(1, 1, "min"),
    "max": AggregateSpec(1, 1, "max"),
    "arg_max": AggregateSpec(2, _VARIADIC, "max"),
    "arg_min": AggregateSpec(2, _VARIADIC, "min"),
    "any": AggregateSpec(1, _VARIADIC, "any"),
    "take_any": AggregateSpec(1, _VARIADIC, "any"),
    "make_list": AggregateSpec(1, 2, "list"),
    "make_set": AggregateSpec(1, 2, "set"),
}


def aggregate_values(name: str, values: list[Any], limit: int | None = None) -> Any:
    """Reduce one group's evaluated argument values for the single-value aggregates."""
    present = [v for v in values if v is not None]
    if name == "dcount":
        return len({hashable(v) for v in present})
    if name == "sum":
        numbers = [v for v in present if isinstance(v, int | float) and not isinstance(v, bool)]
        return sum(numbers) if numbers else None
    if name == "avg":
        numbers = [to_real(v) for v in present if not isinstance(v, bool)]
        numbers = [n for n in numbers if n is not None]
        return sum(numbers) / len(numbers) if numbers else None
    if name in ("min", "max"):
        return _extreme(name == "max")(*present)
    if name == "make_list":
        return present[:limit] if limit is not None else present
    if name == "make_set":
        seen: dict[Any, Any] = {}
        for value in present:
            seen.setdefault(hashable(value), value)
        out = list(seen.values())
        return out[:limit] if limit is not None else out
    raise AssertionError(name)
