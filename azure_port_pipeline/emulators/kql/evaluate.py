"""Evaluate a parsed KQL query over in-memory tables.

Each expression is compiled once per query into a Python closure `row -> value` (with
constant folding), and each tabular operator is a function from one `Table` to the next,
so a 100k-row `where` is a tight list comprehension rather than a tree walk per row.
Column names and types are tracked statically, as Kusto does, so unknown columns and
dynamic group keys fail before any row is read.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure_port_pipeline.emulators.kql.functions import (
    AGGREGATES,
    KNOWN_UNSUPPORTED_FUNCTIONS,
    SCALAR_FUNCTIONS,
    TIME_FUNCTIONS,
    aggregate_values,
)
from azure_port_pipeline.emulators.kql.lexer import STRING_OPERATORS, KqlError, error_at
from azure_port_pipeline.emulators.kql.parser import (
    Between,
    Binary,
    Call,
    Col,
    Count,
    Distinct,
    Extend,
    Index,
    InList,
    Join,
    Lit,
    Member,
    MvExpand,
    Pipeline,
    Project,
    ProjectAway,
    ProjectRename,
    Query,
    Sort,
    SortKey,
    Star,
    Summarize,
    TableRef,
    Take,
    Top,
    Unary,
    Where,
)
from azure_port_pipeline.emulators.kql.values import (
    compare,
    equals,
    equals_ci,
    has_term,
    hashable,
    sort_key,
    string_predicate,
    to_string,
)

Row = dict[str, Any]
RowFn = Callable[[Row], Any]

# The Resource Graph schema shared by resources, resourcecontainers and the change tables.
STANDARD_COLUMNS: dict[str, str] = {
    "id": "string",
    "name": "string",
    "type": "string",
    "tenantId": "string",
    "kind": "string",
    "location": "string",
    "resourceGroup": "string",
    "subscriptionId": "string",
    "managedBy": "string",
    "sku": "dynamic",
    "plan": "dynamic",
    "properties": "dynamic",
    "tags": "dynamic",
    "identity": "dynamic",
    "zones": "dynamic",
    "extendedLocation": "dynamic",
}
# Real Resource Graph tables: a query naming one the caller did not supply sees it empty.
KNOWN_TABLES = frozenset(
    {
        "resources",
        "resourcecontainers",
        "resourcechanges",
        "resourcecontainerchanges",
        "advisorresources",
        "alertsmanagementresources",
        "healthresources",
        "policyresources",
        "securityresources",
        "guestconfigurationresources",
        "maintenanceresources",
        "networkresources",
        "servicehealthresources",
        "authorizationresources",
        "extensibilityresources",
        "kubernetesconfigurationresources",
        "appserviceresources",
        "patchassessmentresources",
        "patchinstallationresources",
        "iotsecurityresources",
        "insightsresources",
        "desktopvirtualizationresources",
        "orbitalresources",
        "recoveryservicesresources",
        "spotresources",
        "computeresources",
        "edgeorderresources",
        "healthresourcechanges",
    }
)
SCALAR_TYPES = frozenset({"string", "long", "real", "bool", "datetime", "timespan"})
# Calls whose default output column is named after their first argument (`by tostring(x)`).
_NAME_PRESERVING = frozenset(
    {
        "tostring",
        "toint",
        "tolong",
        "toreal",
        "todouble",
        "tobool",
        "todatetime",
        "totimespan",
        "tolower",
        "toupper",
        "bin",
        "floor",
        "todynamic",
        "parse_json",
    }
)


@dataclass(slots=True)
class Table:
    columns: dict[str, str | None]  # ordered name -> static type (None: unknown)
    rows: list[Row]
    # True when every row is a dict this query built with exactly `columns`, in order (not
    # a caller's row), so the result can be handed out without another copy.
    exact: bool = False


@dataclass(frozen=True, slots=True)
class Expr:
    fn: RowFn
    type: str | None
    const: bool = False
    value: Any = None


@dataclass(slots=True)
class Result:
    """Rows plus their column names/types; `limited` tells the emulator the query used
    take/limit/top (the service then returns no `$skipToken`)."""

    columns: list[tuple[str, str]]
    rows: list[Row]
    limited: bool = False


@dataclass(slots=True)
class Context:
    text: str
    now: datetime
    tables: Mapping[str, Sequence[Row]]  # read lazily: the emulator builds tables on access
    table_names: dict[str, str]  # lower-case name -> the caller's key
    scalars: dict[str, Expr] = field(default_factory=dict)
    tabulars: dict[str, Pipeline] = field(default_factory=dict)
    limited: bool = False

    def error(self, pos: int, detail: str, code: str = "SemanticError") -> KqlError:
        return error_at(self.text, pos, detail, code=code)


def run_query(
    query: Query, text: str, tables: Mapping[str, Sequence[Row]], now: datetime
) -> Result:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    ctx = Context(text, now.astimezone(UTC), tables, {name.lower(): name for name in tables})
    for let in query.lets:
        if let.tabular:
            ctx.tabulars[let.name] = let.value
        else:
            value = compile_expr(let.value, {}, ctx)
            if not value.const:
                raise ctx.error(let.pos, f"let '{let.name}' must be a constant expression.")
            ctx.scalars[let.name] = value
    table = evaluate_pipeline(query.body, ctx)
    return Result(_result_columns(table), _output_rows(table), ctx.limited)


def _output_rows(table: Table) -> list[Row]:
    """Fresh dicts with exactly the result columns, in order; string columns never null."""
    strings = [c for c, t in table.columns.items() if t == "string"]
    names = list(table.columns)
    if table.exact:
        for row in table.rows:
            for c in strings:
                if row[c] is None:
                    row[c] = ""
        return table.rows
    out = []
    for row in table.rows:
        new = dict(zip(names, map(row.get, names), strict=True))
        for c in strings:
            if new[c] is None:
                new[c] = ""
        out.append(new)
    return out


def _result_columns(table: Table) -> list[tuple[str, str]]:
    columns = []
    for name, typ in table.columns.items():
        if typ is None:
            sample = next((r.get(name) for r in table.rows if r.get(name) is not None), None)
            typ = "dynamic" if sample is None else _type_of(sample)
        columns.append((name, typ))
    return columns


# ---------------------------------------------------------------- tabular operators


def evaluate_pipeline(pipeline: Pipeline, ctx: Context) -> Table:
    table = _source(pipeline.source, ctx)
    for op in pipeline.operators:
        table = _OPERATORS[type(op)](op, table, ctx)
    return table


def _source(source: Any, ctx: Context) -> Table:
    if isinstance(source, Pipeline):
        return evaluate_pipeline(source, ctx)
    assert isinstance(source, TableRef)
    if source.name in ctx.tabulars:
        return evaluate_pipeline(ctx.tabulars[source.name], ctx)
    key = source.name.lower()
    if key in ctx.table_names:
        rows = list(ctx.tables[ctx.table_names[key]])
    elif key in KNOWN_TABLES:
        rows = []
    else:
        raise ctx.error(
            source.pos,
            f"Table '{source.name}' is invalid, unsupported or not allowed.",
            code="DisallowedLogicalTableName",
        )
    columns: dict[str, str | None] = dict(STANDARD_COLUMNS)
    extra = set().union(*rows) - columns.keys() if rows else set()
    for name in sorted(extra):
        columns[name] = None
    return Table(columns, rows)


def _where(op: Where, table: Table, ctx: Context) -> Table:
    pred = compile_expr(op.predicate, table.columns, ctx)
    if pred.type in SCALAR_TYPES and pred.type != "bool":
        raise ctx.error(op.pos, f"where: the predicate must be of type bool, not {pred.type}.")
    if pred.const:
        return Table(table.columns, list(table.rows) if pred.value is True else [], table.exact)
    fn = pred.fn
    return Table(table.columns, [r for r in table.rows if fn(r) is True], table.exact)


def _extend(op: Extend, table: Table, ctx: Context) -> Table:
    columns = dict(table.columns)
    steps: list[tuple[str, RowFn]] = []
    for n, item in enumerate(op.items, 1):
        expr = compile_expr(item.expr, columns, ctx)
        name = item.name or derive_name(item.expr) or f"Column{n}"
        columns[name] = expr.type
        steps.append((name, expr.fn))
    rows = []
    for row in table.rows:
        new = dict(row)
        for name, fn in steps:
            new[name] = fn(new)
        rows.append(new)
    return Table(columns, rows)


def _project(op: Project, table: Table, ctx: Context) -> Table:
    columns: dict[str, str | None] = {}
    fns: list[tuple[str, RowFn]] = []
    for n, item in enumerate(op.items, 1):
        expr = compile_expr(item.expr, table.columns, ctx)
        name = item.name or derive_name(item.expr) or f"Column{n}"
        if name in columns:
            raise ctx.error(op.pos, f"project: duplicate column name '{name}'.")
        columns[name] = expr.type
        fns.append((name, expr.fn))
    return Table(columns, [{name: fn(r) for name, fn in fns} for r in table.rows], True)


def _project_away(op: ProjectAway, table: Table, ctx: Context) -> Table:
    drop: set[str] = set()
    for pattern, pos in op.patterns:
        matched = [c for c in table.columns if fnmatch.fnmatchcase(c, pattern)]
        if not matched and "*" not in pattern:
            raise ctx.error(pos, f"Failed to resolve column named '{pattern}'.")
        drop.update(matched)
    keep = [c for c in table.columns if c not in drop]
    columns = {c: table.columns[c] for c in keep}
    return Table(columns, [{c: r.get(c) for c in keep} for r in table.rows], True)


def _project_rename(op: ProjectRename, table: Table, ctx: Context) -> Table:
    renames: dict[str, str] = {}
    for new, old, pos in op.pairs:
        if old not in table.columns:
            raise ctx.error(pos, f"Failed to resolve column named '{old}'.")
        renames[old] = new
    columns = {renames.get(c, c): t for c, t in table.columns.items()}
    pairs = [(renames.get(c, c), c) for c in table.columns]
    return Table(columns, [{new: r.get(old) for new, old in pairs} for r in table.rows], True)


def _take(op: Take, table: Table, ctx: Context) -> Table:
    ctx.limited = True
    return Table(table.columns, table.rows[: _row_count(op.count, op.pos, ctx)], table.exact)


def _row_count(node: Any, pos: int, ctx: Context) -> int:
    expr = compile_expr(node, {}, ctx)
    if (
        not expr.const
        or not isinstance(expr.value, int)
        or isinstance(expr.value, bool)
        or expr.value < 0
    ):
        raise ctx.error(pos, "The row count must be a non-negative integer constant.")
    return expr.value


def _count(op: Count, table: Table, ctx: Context) -> Table:
    return Table({"Count": "long"}, [{"Count": len(table.rows)}], True)


def _sort(op: Sort, table: Table, ctx: Context) -> Table:
    return Table(table.columns, _sorted_rows(table, op.keys, ctx), table.exact)


def _top(op: Top, table: Table, ctx: Context) -> Table:
    ctx.limited = True
    count = _row_count(op.count, op.pos, ctx)
    return Table(table.columns, _sorted_rows(table, (op.key,), ctx)[:count], table.exact)


def _sorted_rows(table: Table, keys: Sequence[SortKey], ctx: Context) -> list[Row]:
    """Stable multi-key sort: apply the keys last to first. Ties keep input order, so the
    result is deterministic. Nulls: first when ascending, last when descending (Kusto's
    defaults), unless `nulls first|last` says otherwise."""
    rows = list(table.rows)
    for key in reversed(keys):
        expr = compile_expr(key.expr, table.columns, ctx)
        fn = expr.fn
        null_key = (0,) if key.nulls_first != key.desc else (2,)
        if expr.type == "string":
            try:
                rows.sort(key=fn, reverse=key.desc)
                continue
            except TypeError:  # a caller-supplied row holds a non-string in a string column
                pass

        def decorated(row: Row, fn: RowFn = fn, null_key: tuple[int] = null_key) -> Any:
            value = fn(row)
            return null_key if value is None else (1, *sort_key(value))

        rows.sort(key=decorated, reverse=key.desc)
    return rows


def _distinct(op: Distinct, table: Table, ctx: Context) -> Table:
    if op.items is None:
        names = list(table.columns)
        columns = dict(table.columns)
        fns = [_column_fn(c, table.columns[c]) for c in names]
    else:
        columns, fns, names = {}, [], []
        for n, item in enumerate(op.items, 1):
            expr = compile_expr(item.expr, table.columns, ctx)
            name = item.name or derive_name(item.expr) or f"Column{n}"
            columns[name] = expr.type
            fns.append(expr.fn)
            names.append(name)
    seen: dict[tuple[Any, ...], Row] = {}
    for row in table.rows:
        values = [fn(row) for fn in fns]
        seen.setdefault(tuple(hashable(v) for v in values), dict(zip(names, values, strict=True)))
    return Table(columns, list(seen.values()), True)


def _mv_expand(op: MvExpand, table: Table, ctx: Context) -> Table:
    columns = dict(table.columns)
    items: list[tuple[str, RowFn, Callable[[Any], Any] | None]] = []
    for item in op.items:
        expr = compile_expr(item.expr, table.columns, ctx)
        name = item.name or derive_name(item.expr)
        if name is None:
            raise ctx.error(op.pos, "mv-expand of an expression needs a column name (Name = ...).")
        cast = _CASTS.get(item.cast or "dynamic")
        if item.cast and item.cast not in _CASTS:
            raise ctx.error(op.pos, f"mv-expand: unknown type '{item.cast}'.")
        columns[name] = item.cast if item.cast and item.cast != "dynamic" else "dynamic"
        items.append((name, expr.fn, cast))
    limit = None if op.limit is None else _row_count(op.limit, op.pos, ctx)
    rows: list[Row] = []
    for row in table.rows:
        expansions = [_elements(fn(row)) for _, fn, _ in items]
        count = max(len(e) for e in expansions)
        if limit is not None:
            count = min(count, limit)
        for i in range(count):
            new = dict(row)
            for (name, _, cast), elements in zip(items, expansions, strict=True):
                value = elements[i] if i < len(elements) else None
                new[name] = cast(value) if cast else value
            rows.append(new)
    return Table(columns, rows)


def _elements(value: Any) -> list[Any]:
    """mv-expand: arrays give their elements, bags one {key: value} per property, null a
    single null, empty arrays/bags nothing."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [{k: v} for k, v in value.items()]
    return [value]


_CASTS: dict[str, Callable[[Any], Any] | None] = {
    "dynamic": None,
    "string": lambda v: v if isinstance(v, str) else None,
    "long": lambda v: v if isinstance(v, int) and not isinstance(v, bool) else None,
    "int": lambda v: v if isinstance(v, int) and not isinstance(v, bool) else None,
    "real": lambda v: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None,
    "bool": lambda v: v if isinstance(v, bool) else None,
}


def _join(op: Join, table: Table, ctx: Context) -> Table:
    right = evaluate_pipeline(op.right, ctx)
    for left_col, right_col, pos in op.on:
        if left_col not in table.columns:
            raise ctx.error(pos, f"join: left side has no column '{left_col}'.")
        if right_col not in right.columns:
            raise ctx.error(pos, f"join: right side has no column '{right_col}'.")
    left_keys = [_column_fn(lc, table.columns[lc]) for lc, _, _ in op.on]
    right_keys = [_column_fn(rc, right.columns[rc]) for _, rc, _ in op.on]
    columns = dict(table.columns)
    right_names: list[tuple[str, RowFn]] = []
    for name, typ in right.columns.items():
        out = name
        suffix = 1
        while out in columns:
            out, suffix = f"{name}{suffix}", suffix + 1
        columns[out] = typ
        right_names.append((out, _column_fn(name, typ)))
    index: dict[tuple[Any, ...], list[Row]] = {}
    for row in right.rows:
        key = tuple(hashable(fn(row)) for fn in right_keys)
        if None not in key:
            index.setdefault(key, []).append(row)
    left_rows = table.rows
    if op.kind == "innerunique":
        firsts: dict[tuple[Any, ...], Row] = {}
        for row in left_rows:
            firsts.setdefault(tuple(hashable(fn(row)) for fn in left_keys), row)
        left_rows = list(firsts.values())
    out_rows: list[Row] = []
    for row in left_rows:
        matches = index.get(tuple(hashable(fn(row)) for fn in left_keys), [])
        for match in matches:
            new = dict(row)
            for name, fn in right_names:
                new[name] = fn(match)
            out_rows.append(new)
        if not matches and op.kind == "leftouter":
            new = dict(row)
            for name, _ in right_names:
                new[name] = None
            out_rows.append(new)
    return Table(columns, out_rows)


# ---------------------------------------------------------------- summarize


@dataclass(slots=True)
class _Aggregate:
    names: list[str]
    types: list[str | None]
    compute: Callable[[list[Row]], list[Any]]


def _summarize(op: Summarize, table: Table, ctx: Context) -> Table:
    key_names: list[str] = []
    key_fns: list[RowFn] = []
    columns: dict[str, str | None] = {}
    for n, item in enumerate(op.by, 1):
        expr = compile_expr(item.expr, table.columns, ctx)
        name = item.name or derive_name(item.expr) or f"Column{n}"
        if expr.type == "dynamic":
            raise ctx.error(
                getattr(item.expr, "pos", op.pos),
                f"Summarize group key '{name}' is of a 'dynamic' type. Please use an explicit "
                "cast as grouping by a 'dynamic' type is not supported.",
            )
        name = _unique(name, columns)
        columns[name] = expr.type
        key_names.append(name)
        key_fns.append(expr.fn)
    aggregates = [_compile_aggregate(item, table, key_names, ctx) for item in op.aggregates]
    for agg in aggregates:
        agg.names = [_unique(name, columns) for name in agg.names]
        for name, typ in zip(agg.names, agg.types, strict=True):
            columns[name] = typ
    groups = _group(table.rows, key_fns) if key_fns else {(): ([], table.rows)}
    rows = []
    for key_values, members in groups.values():
        out = dict(zip(key_names, key_values, strict=True))
        for agg in aggregates:
            out.update(zip(agg.names, agg.compute(members), strict=True))
        rows.append(out)
    return Table(columns, rows, True)


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    out, n = name, 1
    while out in taken:
        out, n = f"{name}{n}", n + 1
    return out


def _group(rows: list[Row], key_fns: list[RowFn]) -> dict[Any, tuple[list[Any], list[Row]]]:
    groups: dict[Any, tuple[list[Any], list[Row]]] = {}
    if len(key_fns) == 1:
        fn = key_fns[0]
        for row in rows:
            value = fn(row)
            key = value if type(value) is str else hashable(value)
            group = groups.get(key)
            if group is None:
                groups[key] = ([value], [row])
            else:
                group[1].append(row)
        return groups
    for row in rows:
        values = [fn(row) for fn in key_fns]
        key = tuple(hashable(v) for v in values)
        if key in groups:
            groups[key][1].append(row)
        else:
            groups[key] = (values, [row])
    return groups


def _compile_aggregate(item: Any, table: Table, key_names: list[str], ctx: Context) -> _Aggregate:
    call = item.expr
    if not isinstance(call, Call):
        raise ctx.error(
            getattr(call, "pos", 0),
            "summarize: each aggregation must be a call to an aggregation function.",
        )
    name = call.name
    if name not in AGGREGATES:
        if name in SCALAR_FUNCTIONS or name in TIME_FUNCTIONS:
            raise ctx.error(
                call.pos,
                f"summarize: '{name}' is not an aggregation function; "
                "expressions over aggregates are not supported.",
                code="UnsupportedFunction",
            )
        _unknown_function(call, ctx)
    spec = AGGREGATES[name]
    _check_arity(call, spec.min_args, spec.max_args, ctx)
    if name in ("arg_max", "arg_min"):
        agg = _arg_extreme(call, table, key_names, ctx)
    elif name in ("any", "take_any"):
        agg = _take_any(call, table, key_names, ctx)
    else:
        agg = _simple_aggregate(call, table, ctx)
    if item.name:
        agg.names[0] = item.name
    return agg


def _simple_aggregate(call: Call, table: Table, ctx: Context) -> _Aggregate:
    name = call.name
    prefix = AGGREGATES[name].prefix
    if name == "count":
        return _Aggregate(["count_"], ["long"], lambda rows: [len(rows)])
    _no_star(call, ctx)
    arg = compile_expr(call.args[0], table.columns, ctx)
    fn = arg.fn
    if name == "countif":
        return _Aggregate(
            ["countif_"], ["long"], lambda rows: [sum(1 for r in rows if fn(r) is True)]
        )
    derived = derive_name(call.args[0])
    out_name = f"{prefix}_{derived}" if derived else f"{prefix}_"
    limit = None
    if name in ("make_list", "make_set") and len(call.args) == 2:
        limit = _row_count(call.args[1], call.pos, ctx)
    types = {"dcount": "long", "avg": "real", "make_list": "dynamic", "make_set": "dynamic"}
    return _Aggregate(
        [out_name],
        [types.get(name, arg.type)],
        lambda rows: [aggregate_values(name, [fn(r) for r in rows], limit)],
    )


def _arg_extreme(call: Call, table: Table, key_names: list[str], ctx: Context) -> _Aggregate:
    """arg_max/arg_min(expr, * | cols...): the row where expr is greatest/least. Ties go to
    the first such row in input order; rows where expr is null are skipped (if all are,
    the group's first row is used)."""
    target = compile_expr(call.args[0], table.columns, ctx)
    prefix = AGGREGATES[call.name].prefix
    target_name = derive_name(call.args[0]) or f"{prefix}_"
    names, types, extract = _returned_columns(call.args[1:], table, [*key_names, target_name], ctx)
    want = 1 if call.name == "arg_max" else -1
    target_fn = target.fn

    def compute(rows: list[Row]) -> list[Any]:
        best_value, best_row = None, None
        for row in rows:
            value = target_fn(row)
            if value is None:
                continue
            if best_row is None or compare(value, best_value) == want:
                best_value, best_row = value, row
        chosen = best_row if best_row is not None else rows[0] if rows else {}
        return [best_value, *extract(chosen)]

    return _Aggregate([target_name, *names], [target.type, *types], compute)


def _take_any(call: Call, table: Table, key_names: list[str], ctx: Context) -> _Aggregate:
    """any/take_any: values from one row of the group (the first). With a single
    expression, the first non-empty value, as Kusto documents."""
    names, types, extract = _returned_columns(call.args, table, key_names, ctx, prefix="any_")
    single = len(names) == 1 and not isinstance(call.args[0], Star)

    def compute(rows: list[Row]) -> list[Any]:
        if not rows:
            return [None] * len(names)
        if single:
            for row in rows:
                value = extract(row)[0]
                if value is not None and value != "":
                    return [value]
        return extract(rows[0])

    return _Aggregate(names, types, compute)


def _returned_columns(
    args: Sequence[Any], table: Table, exclude: list[str], ctx: Context, prefix: str = ""
) -> tuple[list[str], list[str | None], Callable[[Row], list[Any]]]:
    """Names, types and a row -> values extractor for `*` or a list of column expressions."""
    if any(isinstance(arg, Star) for arg in args):
        if len(args) != 1:
            star = next(arg for arg in args if isinstance(arg, Star))
            raise ctx.error(star.pos, "'*' must be the only returned expression.")
        names = [c for c in table.columns if c not in exclude]
        types = [table.columns[c] for c in names]
        return names, types, lambda row: list(map(row.get, names))
    names, types, fns = [], [], []
    for arg in args:
        expr = compile_expr(arg, table.columns, ctx)
        name = derive_name(arg)
        if name is None:
            raise ctx.error(
                getattr(arg, "pos", 0), "Returned expressions must be column references."
            )
        names.append(prefix + name)
        types.append(expr.type)
        fns.append(expr.fn)
    return names, types, lambda row: [fn(row) for fn in fns]


def _no_star(call: Call, ctx: Context) -> None:
    for arg in call.args:
        if isinstance(arg, Star):
            raise ctx.error(arg.pos, f"'*' is not allowed in '{call.name}'.")


_OPERATORS: dict[type, Callable[[Any, Table, Context], Table]] = {
    Where: _where,
    Extend: _extend,
    Project: _project,
    ProjectAway: _project_away,
    ProjectRename: _project_rename,
    Summarize: _summarize,
    Sort: _sort,
    Top: _top,
    Take: _take,
    Count: _count,
    Distinct: _distinct,
    MvExpand: _mv_expand,
    Join: _join,
}


# ---------------------------------------------------------------- expressions


def derive_name(node: Any) -> str | None:
    """Kusto's default column name for an unnamed expression: the column itself,
    `properties_x` for `properties.x`, the argument's name for conversions like
    `tostring(x)`; None when Kusto would invent `ColumnN`."""
    if isinstance(node, Col):
        return node.name
    if isinstance(node, Member):
        base = derive_name(node.base)
        return f"{base}_{node.key}" if base else None
    if isinstance(node, Call) and node.name in _NAME_PRESERVING and node.args:
        return derive_name(node.args[0])
    return None


# Python type -> KQL type name, most specific first (a bool is an int to isinstance).
_TYPE_NAMES = (
    (bool, "bool"),
    (int, "long"),
    (float, "real"),
    (str, "string"),
    (datetime, "datetime"),
    (timedelta, "timespan"),
)


def _type_of(value: Any) -> str:
    return next((name for kind, name in _TYPE_NAMES if isinstance(value, kind)), "dynamic")


def _const(value: Any, typ: str | None = None) -> Expr:
    return Expr(lambda row: value, typ or _type_of(value), True, value)


def _column_fn(name: str, typ: str | None) -> RowFn:
    if typ == "string":

        def string_column(row: Row) -> Any:
            value = row.get(name)
            return "" if value is None else value

        return string_column
    return lambda row: row.get(name)


def compile_expr(node: Any, columns: Mapping[str, str | None], ctx: Context) -> Expr:
    handler = _COMPILERS.get(type(node))
    if handler is None:
        raise ctx.error(getattr(node, "pos", 0), "'*' is only allowed in aggregations.")
    return handler(node, columns, ctx)


def _fold(fn: RowFn, typ: str | None, parts: Sequence[Expr]) -> Expr:
    """Evaluate once when every operand is constant (e.g. `ago(15m)`, `datetime(...) + 1h`)."""
    if all(p.const for p in parts):
        return _const(fn({}), typ)
    return Expr(fn, typ)


def _compile_lit(node: Lit, columns: Mapping[str, str | None], ctx: Context) -> Expr:
    return _const(node.value)


def _compile_col(node: Col, columns: Mapping[str, str | None], ctx: Context) -> Expr:
    if node.name in columns:
        typ = columns[node.name]
        return Expr(_column_fn(node.name, typ), typ)
    if node.name in ctx.scalars:
        return ctx.scalars[node.name]
    raise ctx.error(node.pos, f"Failed to resolve scalar expression named '{node.name}'.")


def _compile_member(node: Member, columns: Mapping[str, str | None], ctx: Context) -> Expr:
    path = _column_path(node, columns)
    if path is not None:
        return Expr(_path_fn(*path), "dynamic")
    base = compile_expr(node.base, columns, ctx)
    if base.type in SCALAR_TYPES:
        raise ctx.error(
            node.pos, f"Property access '.{node.key}' needs a dynamic value, not {base.type}."
        )
    base_fn, key = base.fn, node.key

    def member(row: Row) -> Any:
        value = base_fn(row)
        return value.get(key) if type(value) is dict else None

    return _fold(member, "dynamic", [base])


def _column_path(
    node: Member, columns: Mapping[str, str | None]
) -> tuple[str, tuple[str, ...]] | None:
    """`properties.a.b` over a dynamic (or untyped) column -> ("properties", ("a", "b"))."""
    keys: list[str] = []
    while isinstance(node, Member):
        keys.append(node.key)
        node = node.base
    if isinstance(node, Col) and node.name in columns and columns[node.name] not in SCALAR_TYPES:
        return node.name, tuple(reversed(keys))
    return None


def _path_fn(column: str, keys: tuple[str, ...]) -> RowFn:
    """One closure for a whole property path: the hot spot of change-window queries."""
    if len(keys) == 1:
        key = keys[0]

        def one(row: Row) -> Any:
            value = row.get(column)
            return value.get(key) if type(value) is dict else None

        return one

    def walk(row: Row) -> Any:
        value = row.get(column)
        for key in keys:
            if type(value) is not dict:
                return None
            value = value.get(key)
        return value

    return walk


def _compile_index(node: Index, columns: Mapping[str, str | None], ctx: Context) -> Expr:
    base = compile_expr(node.base, columns, ctx)
    index = compile_expr(node.index, columns, ctx)
    base_fn, index_fn = base.fn, index.fn

    def subscript(row: Row) -> Any:
        value, i = base_fn(row), index_fn(row)
        if type(value) is list and type(i) is int:
            return value[i] if -len(value) <= i < len(value) else None
        if type(value) is dict and type(i) is str:
            return value.get(i)
        return None

    return _fold(subscript, "dynamic", [base, index])


def _compile_unary(node: Unary, columns: Mapping[str, str | None], ctx: Context) -> Expr:
    operand = compile_expr(node.operand, columns, ctx)
    if node.op == "+":
        return operand
    fn = operand.fn

    def negate(row: Row) -> Any:
        value = fn(row)
        if isinstance(value, int | float | timedelta) and not isinstance(value, bool):
            return -value
        return None

    return _fold(negate, operand.type, [operand])


def _compile_binary(node: Binary, columns: Mapping[str, str | None], ctx: Context) -> Expr:
    left = compile_expr(node.left, columns, ctx)
    right = compile_expr(node.right, columns, ctx)
    lf, rf = left.fn, right.fn
    op = node.op
    if op in ("and", "or"):
        return _fold(_logical(op, lf, rf), "bool", [left, right])
    if op in _COMPARATORS:
        test = _COMPARATORS[op]
        if right.const:
            rv = right.value

            def compare_const(row: Row) -> Any:
                return test(lf(row), rv)

            return _fold(compare_const, "bool", [left, right])
        return _fold(lambda row: test(lf(row), rf(row)), "bool", [left, right])
    if op.lstrip("!") in _STRING_OPS:
        return _fold(_string_op(op, lf, rf), "bool", [left, right])
    arith = _ARITHMETIC[op]
    return _fold(
        lambda row: arith(lf(row), rf(row)), _arith_type(op, left.type, right.type), [left, right]
    )


def _logical(op: str, lf: RowFn, rf: RowFn) -> RowFn:
    """Three-valued and/or: either side being the deciding value (false for `and`, true for
    `or`) decides; both being the other value gives it; anything else is null."""
    deciding = op == "or"
    other = not deciding

    def combined(row: Row) -> Any:
        a = lf(row)
        if a is deciding:
            return deciding
        b = rf(row)
        if b is deciding:
            return deciding
        return other if a is other and b is other else None

    return combined


def _negated(test: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def inverse(a: Any, b: Any) -> Any:
        result = test(a, b)
        return None if result is None else not result

    return inverse


def _ordering(accept: Callable[[int], bool]) -> Callable[[Any, Any], Any]:
    def test(a: Any, b: Any) -> Any:
        order = compare(a, b)
        return None if order is None else accept(order)

    return test


def _equals_ci_strict(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    return equals_ci(a, b)


_COMPARATORS: dict[str, Callable[[Any, Any], Any]] = {
    "==": equals,
    "!=": _negated(equals),
    "=~": _equals_ci_strict,
    "!~": _negated(_equals_ci_strict),
    "<": _ordering(lambda o: o < 0),
    "<=": _ordering(lambda o: o <= 0),
    ">": _ordering(lambda o: o > 0),
    ">=": _ordering(lambda o: o >= 0),
}
_STRING_OPS = STRING_OPERATORS


def _string_op(op: str, lf: RowFn, rf: RowFn) -> RowFn:
    """String operators compare the operands' string forms (null reads as ''), so
    `!contains` on a missing property is true, as in Kusto."""
    negate = op.startswith("!")
    test = string_predicate(op.lstrip("!"))

    def apply(row: Row) -> bool:
        a, b = lf(row), rf(row)
        result = test(a if type(a) is str else to_string(a), b if type(b) is str else to_string(b))
        return not result if negate else result

    return apply


def _add(a: Any, b: Any) -> Any:
    if _numeric(a) and _numeric(b):
        return a + b
    if (isinstance(a, datetime) and isinstance(b, timedelta)) or (
        isinstance(a, timedelta) and isinstance(b, datetime | timedelta)
    ):
        return a + b
    return None


def _sub(a: Any, b: Any) -> Any:
    if _numeric(a) and _numeric(b):
        return a - b
    if isinstance(a, datetime) and isinstance(b, datetime | timedelta):
        return a - b
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return a - b
    return None


def _mul(a: Any, b: Any) -> Any:
    if _numeric(a) and _numeric(b):
        return a * b
    if isinstance(a, timedelta) and _numeric(b):
        return a * b
    if _numeric(a) and isinstance(b, timedelta):
        return b * a
    return None


def _div(a: Any, b: Any) -> Any:
    if _numeric(a) and _numeric(b):
        if isinstance(a, int) and isinstance(b, int):
            if b == 0:
                return None
            quotient = abs(a) // abs(b)
            return quotient if (a >= 0) == (b > 0) else -quotient
        if b == 0:
            return float("nan") if a == 0 else float("inf") if a > 0 else float("-inf")
        return a / b
    if isinstance(a, timedelta) and _numeric(b) and b:
        return a / b
    if isinstance(a, timedelta) and isinstance(b, timedelta) and b:
        return a / b
    return None


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and _numeric(a) and _numeric(b):
        if b == 0:
            return None
        return a - b * (abs(a) // abs(b) * (1 if (a >= 0) == (b > 0) else -1))
    if _numeric(a) and _numeric(b) and b:
        return math.fmod(a, b)
    return None


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_ARITHMETIC = {"+": _add, "-": _sub, "*": _mul, "/": _div, "%": _mod}


def _arith_type(op: str, left: str | None, right: str | None) -> str | None:
    if "datetime" in (left, right):
        if op == "-" and left == right == "datetime":
            return "timespan"
        return "datetime"
    if "timespan" in (left, right):
        return "real" if op == "/" and left == right else "timespan"
    if left == right == "long":
        return "long"
    if {left, right} <= {"long", "real"}:
        return "real"
    return None


def _compile_in(node: InList, columns: Mapping[str, str | None], ctx: Context) -> Expr:
    left = compile_expr(node.left, columns, ctx)
    items = [compile_expr(item, columns, ctx) for item in node.items]
    lf = left.fn
    op = node.op
    if op in ("has_any", "has_all"):
        return _fold(_has_list(op, lf, items), "bool", [left, *items])
    insensitive = op.endswith("~")
    negate = op.startswith("!")
    if all(item.const for item in items):
        values = _flatten([item.value for item in items])
        strings = {(v.lower() if insensitive else v) for v in values if type(v) is str}
        others = [v for v in values if type(v) is not str and v is not None]

        test = equals_ci if insensitive else equals

        def member_const(row: Row) -> Any:
            value = lf(row)
            if value is None:
                return None
            if type(value) is str:
                found = (value.lower() if insensitive else value) in strings or any(
                    test(value, o) is True for o in others
                )
            else:
                found = any(test(value, o) is True for o in values if o is not None)
            return not found if negate else found

        return _fold(member_const, "bool", [left, *items])
    item_fns = [item.fn for item in items]
    test = equals_ci if insensitive else equals

    def member(row: Row) -> Any:
        value = lf(row)
        if value is None:
            return None
        found = any(test(value, v) is True for v in _flatten([fn(row) for fn in item_fns]))
        return not found if negate else found

    return Expr(member, "bool")


def _flatten(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


def _has_list(op: str, lf: RowFn, items: list[Expr]) -> RowFn:
    fns = [item.fn for item in items]
    combine = any if op == "has_any" else all

    def test(row: Row) -> bool:
        text = to_string(lf(row)).lower()
        needles = [to_string(v).lower() for v in _flatten([fn(row) for fn in fns])]
        return combine(has_term(text, n) for n in needles)

    return test


def _compile_between(node: Between, columns: Mapping[str, str | None], ctx: Context) -> Expr:
    left = compile_expr(node.left, columns, ctx)
    low = compile_expr(node.low, columns, ctx)
    high = compile_expr(node.high, columns, ctx)
    lf, lof, hif = left.fn, low.fn, high.fn

    def between(row: Row) -> Any:
        value, lo, hi = lf(row), lof(row), hif(row)
        if isinstance(lo, datetime) and isinstance(hi, timedelta):
            hi = lo + hi
        above, below = compare(value, lo), compare(value, hi)
        if above is None or below is None:
            return None
        inside = above >= 0 and below <= 0
        return not inside if node.negated else inside

    return _fold(between, "bool", [left, low, high])


def _compile_call(node: Call, columns: Mapping[str, str | None], ctx: Context) -> Expr:
    name = node.name
    if name in TIME_FUNCTIONS:
        low, high = TIME_FUNCTIONS[name]
        _check_arity(node, low, high, ctx)
        args = [compile_expr(a, columns, ctx) for a in node.args]
        now = ctx.now
        if name == "ago":
            span = args[0]
            return _fold(lambda row: _sub(now, span.fn(row)), "datetime", args)
        if not args:
            return _const(now, "datetime")
        offset = args[0]
        return _fold(lambda row: _add(now, offset.fn(row)), "datetime", args)
    spec = SCALAR_FUNCTIONS.get(name)
    if spec is None:
        if name in AGGREGATES:
            raise ctx.error(
                node.pos,
                f"Aggregation function '{name}' is only allowed in summarize.",
                code="UnsupportedFunction",
            )
        _unknown_function(node, ctx)
    _check_arity(node, spec.min_args, spec.max_args, ctx)
    _no_star(node, ctx)
    args = [compile_expr(a, columns, ctx) for a in node.args]
    impl = spec.impl
    typ = spec.result_type or _branch_type(name, args)
    if len(args) == 1:
        f0 = args[0].fn
        return _fold(lambda row: impl(f0(row)), typ, args)
    if len(args) == 2:
        f0, f1 = args[0].fn, args[1].fn
        return _fold(lambda row: impl(f0(row), f1(row)), typ, args)
    fns = [a.fn for a in args]
    return _fold(lambda row: impl(*[fn(row) for fn in fns]), typ, args)


def _branch_type(name: str, args: list[Expr]) -> str | None:
    if name in ("iff", "iif"):
        candidates = [args[1].type, args[2].type]
    elif name == "case":
        candidates = [a.type for a in args[1::2]] + [args[-1].type]
    else:
        candidates = [a.type for a in args]
    known = {c for c in candidates if c is not None}
    return known.pop() if len(known) == 1 else None


def _check_arity(node: Call, low: int, high: int, ctx: Context) -> None:
    count = len(node.args)
    if not low <= count <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise ctx.error(
            node.pos, f"Function '{node.name}' expects {expected} argument(s), got {count}."
        )


def _unknown_function(node: Call, ctx: Context) -> Any:
    if node.name in KNOWN_UNSUPPORTED_FUNCTIONS:
        raise ctx.error(
            node.pos, f"Function '{node.name}' is not supported.", code="UnsupportedFunction"
        )
    raise ctx.error(node.pos, f"Unknown function: '{node.name}'.", code="UnknownFunction")


_COMPILERS: dict[type, Callable[[Any, Mapping[str, str | None], Context], Expr]] = {
    Lit: _compile_lit,
    Col: _compile_col,
    Member: _compile_member,
    Index: _compile_index,
    Unary: _compile_unary,
    Binary: _compile_binary,
    InList: _compile_in,
    Between: _compile_between,
    Call: _compile_call,
}
