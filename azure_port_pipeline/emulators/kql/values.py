"""Kusto value semantics over plain Python values.

Values are None (null), bool, int (long), float (real), str, datetime (aware, UTC),
timedelta (timespan), dict/list (dynamic). These helpers decide how they compare, convert
and print, so that operators and functions agree with one another and with Kusto:
comparisons involving null yield null (which `where` treats as false), strings compare
ordinally and case-sensitively unless the operator says otherwise, and a string compared
with a datetime is read as an ISO-8601 datetime (as Kusto does for dynamic values).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from azure_port_pipeline.emulators.kql.parser import dynamic_from_json, parse_datetime

# Categories for ordering and equality: values of different categories never compare.
_CATEGORY = {bool: 0, int: 1, float: 1, str: 2, datetime: 3, timedelta: 4}


def to_json_value(value: Any) -> Any:
    """A JSON-ready copy of a result value, as the emulator writes it on the wire.

    datetime -> `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, always six fraction digits: Kusto prints
    seven, Python keeps microseconds, and both parse with `datetime.fromisoformat`);
    timedelta -> Kusto's `[-][d.]hh:mm:ss[.fffffff]`; dict/list are copied recursively so
    callers can never mutate the tables through a result; NaN/inf reals -> strings as Kusto's
    JSON writer does."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return str(value)


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_timespan(value: timedelta) -> str:
    ticks = (value.days * 86400 + value.seconds) * 10_000_000 + value.microseconds * 10
    sign = "-" if ticks < 0 else ""
    ticks = abs(ticks)
    seconds, frac = divmod(ticks, 10_000_000)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{frac:07d}" if frac else text


def to_string(value: Any) -> str:
    """Kusto `tostring`: null -> '', dynamic -> compact JSON, bool -> 'true'/'false'."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    return json.dumps(to_json_value(value), separators=(",", ":"), ensure_ascii=False)


def to_long(value: Any) -> int | None:
    if value is None or isinstance(value, datetime | timedelta | dict | list):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    try:
        return int(str(value).strip())
    except ValueError:
        real = to_real(value)
        return int(real) if real is not None and math.isfinite(real) else None


def to_real(value: Any) -> float | None:
    if value is None or isinstance(value, datetime | timedelta | dict | list):
        return None
    if isinstance(value, bool | int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def to_bool(value: Any) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        number = to_long(lowered)
        return None if number is None else number != 0
    return None


def to_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return parse_datetime(value)
    return None


def to_timespan(value: Any) -> timedelta | None:
    from azure_port_pipeline.emulators.kql.parser import parse_timespan

    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_timespan(value)
    return None


def to_dynamic(value: Any) -> Any:
    return dynamic_from_json(value) if isinstance(value, str) else value


def _aligned(a: Any, b: Any) -> tuple[Any, Any] | None:
    """The operands as Kusto compares them, or None when either is null. A dynamic string
    next to a datetime/timespan is converted to that type first (Kusto converts dynamic
    values to the other operand's type); one that does not convert is null."""
    if a is None or b is None:
        return None
    ta, tb = type(a), type(b)
    if ta is tb:
        return a, b
    if ta is datetime and tb is str:
        b = parse_datetime(b)
    elif tb is datetime and ta is str:
        a = parse_datetime(a)
    elif ta is timedelta and tb is str:
        b = to_timespan(b)
    elif tb is timedelta and ta is str:
        a = to_timespan(a)
    else:
        return a, b
    return None if a is None or b is None else (a, b)


def equals(a: Any, b: Any) -> bool | None:
    """`==`: null if either side is null; false across categories; strings case-sensitive."""
    pair = _aligned(a, b)
    if pair is None:
        return None
    a, b = pair
    if type(a) is not type(b) and _CATEGORY.get(type(a)) != _CATEGORY.get(type(b)):
        return False
    return bool(a == b)


def equals_ci(a: Any, b: Any) -> bool | None:
    """`=~`: case-insensitive for strings, `==` otherwise."""
    if type(a) is str and type(b) is str:
        return a.lower() == b.lower()
    return equals(a, b)


def compare(a: Any, b: Any) -> int | None:
    """-1/0/1 ordering, or None when null or incomparable."""
    pair = _aligned(a, b)
    if pair is None:
        return None
    a, b = pair
    category = _CATEGORY.get(type(a))
    if category is None or category != _CATEGORY.get(type(b)):
        return None
    try:
        if a < b:
            return -1
        return 1 if a > b else 0
    except TypeError:  # naive vs aware datetimes in caller-supplied rows
        return None


def hashable(value: Any) -> Any:
    """A dict key for grouping, distinct and joins (dynamic values by their JSON text)."""
    if isinstance(value, dict | list):
        return ("\0dynamic", json.dumps(to_json_value(value), sort_keys=True))
    if isinstance(value, bool):
        return ("\0bool", value)
    return value


def sort_key(value: Any) -> tuple[Any, ...]:
    """Total order for `order by`: by category, then value; dynamic values by JSON text."""
    category = _CATEGORY.get(type(value))
    if category is None:
        return (5, to_string(value))
    if category == 3 and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (category, value)


# ---- string operators (Kusto: case-insensitive unless suffixed _cs)


def has_term(
    haystack: str, needle: str, *, bound_left: bool = True, bound_right: bool = True
) -> bool:
    """`has`: needle occurs as whole term(s): bounded by non-alphanumerics on the sides
    where the needle itself starts/ends with an alphanumeric. `hasprefix` drops the right
    bound, `hassuffix` the left one."""
    if not needle:
        return True
    n = len(needle)
    check_left = bound_left and needle[0].isalnum()
    check_right = bound_right and needle[-1].isalnum()
    start = haystack.find(needle)
    while start >= 0:
        end = start + n
        left_ok = not check_left or start == 0 or not haystack[start - 1].isalnum()
        right_ok = not check_right or end == len(haystack) or not haystack[end].isalnum()
        if left_ok and right_ok:
            return True
        start = haystack.find(needle, start + 1)
    return False


def string_predicate(op: str) -> Any:
    """A (str, str) -> bool test for a string operator name without its `!`."""
    base = op.removesuffix("_cs")
    tests = {
        "contains": lambda h, n: n in h,
        "startswith": lambda h, n: h.startswith(n),
        "endswith": lambda h, n: h.endswith(n),
        "has": lambda h, n: has_term(h, n),
        "hasprefix": lambda h, n: has_term(h, n, bound_right=False),
        "hassuffix": lambda h, n: has_term(h, n, bound_left=False),
    }
    test = tests[base]
    if op.endswith("_cs"):
        return test
    return lambda h, n: test(h.lower(), n.lower())
