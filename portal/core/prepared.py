"""ORM queries compiled once, run many times: for the few hot reads that a page polls.

Building and compiling a Django queryset costs 0.2–1 ms of Python (joins resolved, columns listed,
SQL text assembled) for a query that the database answers in 0.01–0.05 ms. A :class:`Prepared`
query is still written with the ORM — its tables, joins and columns stay the models' — but it is
compiled once per database and *shape* (which parameters, and how many values in each list), with
sentinel values standing in for the parameters; each later call only puts the real values where the
sentinels were and executes the cached SQL through Django's cursor (so it is logged and counted like
any other query).

    regions = Prepared(lambda version: TargetRegion.objects.filter(version_id=version).values_list("id", "state"))
    regions.rows(version=42)            # → [(7, "Completed"), ...], as values_list gives them

Only ``values_list`` querysets are accepted; rows are tuples of the values ``values_list`` would give
(Django's field converters run: booleans, datetimes and JSON come back as Python values). Parameters are ints or
strings, or lists of them (a list of *n* values compiles its own ``IN (…)``). A parameter the ORM
writes into the SQL text instead of passing it (a literal-writing lookup, a slice bound) cannot be
prepared: compiling fails loudly rather than running the wrong query.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from django.conf import settings
from django.contrib.postgres.aggregates import JSONBAgg
from django.db import connections
from django.db.models import QuerySet, Subquery
from django.db.models.functions import JSONArray

_sentinel_ids = itertools.count(1)


def _sentinel(value):
    n = next(_sentinel_ids)
    if isinstance(value, bool):
        raise TypeError("booleans cannot be prepared parameters (write them into the query)")
    if isinstance(value, int):
        return -(7_310_000_000_000 + n)  # an id no row has
    if isinstance(value, str):
        return f"\x1fprepared-{n}\x1f"
    raise TypeError(f"a prepared parameter must be an int or a str, not {type(value).__name__}")


class Prepared:
    def __init__(self, build: Callable[..., QuerySet]):
        self.build = build
        self._compiled: dict[tuple, tuple[str, tuple]] = {}

    @staticmethod
    def _shape(params: dict) -> tuple:
        return tuple(
            sorted((name, len(v) if isinstance(v, list | tuple) else -1) for name, v in params.items())
        )

    def _compile(self, using: str, params: dict) -> tuple[str, tuple]:
        where: dict[object, tuple[str, int | None]] = {}
        stand_ins = {}
        for name, value in params.items():
            if isinstance(value, list | tuple):
                if not value:
                    raise ValueError(f"the list parameter '{name}' is empty (an empty IN matches nothing)")
                stand_ins[name] = [_sentinel(v) for v in value]
                for i, s in enumerate(stand_ins[name]):
                    where[s] = (name, i)
            else:
                stand_ins[name] = _sentinel(value)
                where[stand_ins[name]] = (name, None)
        queryset = self.build(**stand_ins)
        if queryset._iterable_class.__name__ not in ("ValuesListIterable", "FlatValuesListIterable"):
            raise TypeError("a prepared query must be a values_list() queryset")
        compiler = queryset.query.get_compiler(using=using)
        sql, sql_params = compiler.as_sql()
        # Django's converters of the selected columns (booleans on SQLite, datetimes, JSON, ...), so rows
        # hold the values ``values_list`` would give.
        converters = compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]])
        slots = []
        seen = set()
        for p in sql_params:
            key = where.get(p) if isinstance(p, int | str) and not isinstance(p, bool) else None
            if key is None:
                slots.append((False, p))  # a constant of the query itself
            else:
                slots.append((True, key))
                seen.add(p)
        missing = [where[s] for s in where if s not in seen]
        if missing:
            raise ValueError(f"parameters {missing} were written into the SQL text; they cannot be prepared")
        return sql, tuple(slots), converters

    def statement(self, using: str, params: dict) -> tuple[str, list]:
        """The cached SQL and its parameter values for ``params``."""
        key = (using, self._shape(params))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(using, params)
        sql, slots, _ = compiled
        values = []
        for is_param, slot in slots:
            if not is_param:
                values.append(slot)
            else:
                name, index = slot
                values.append(params[name] if index is None else params[name][index])
        return sql, values

    def rows(self, using: str = "default", **params) -> list[tuple]:
        sql, values = self.statement(using, params)
        connection = connections[using]
        with _cursor(connection) as cursor:
            _execute(connection, cursor, sql, values)
            return self.convert(using, params, cursor.fetchall())

    def convert(self, using: str, params: dict, rows: list) -> list[tuple]:
        """``rows`` as fetched → the Python values of their fields (Django's converters)."""
        converters = self._compiled[(using, self._shape(params))][2]
        if not converters:
            return rows
        connection = connections[using]
        out = []
        for row in rows:
            row = list(row)
            for pos, (functions, expression) in converters.items():
                value = row[pos]
                for function in functions:
                    value = function(value, expression, connection)
                row[pos] = value
            out.append(tuple(row))
        return out


def _execute(connection, cursor, sql, values) -> None:
    cursor.execute(sql, values)
    # Django logs a server-bound query's text as None (it asks the cursor, which holds "$1"): log it
    # with its values, as for every other query (assertNumQueries, the bench's query listing).
    if connection.queries_logged and connection.queries_log and connection.queries_log[-1]["sql"] is None:
        connection.queries_log[-1]["sql"] = connection.ops.compose_sql(sql, values)


def run_together(calls: list[tuple[Prepared, dict]], using: str = "default") -> list[list[tuple]]:
    """Independent prepared queries, each one's rows in order. On PostgreSQL (with prepared statements
    on) they are sent in one round trip (psycopg's pipeline mode) instead of one round trip each;
    elsewhere they run one after the other."""
    connection = connections[using]
    statements = [query.statement(using, params) for query, params in calls]
    if not _on_server(connection):
        out = []
        with connection.cursor() as cursor:
            for (query, params), (sql, values) in zip(calls, statements, strict=True):
                _execute(connection, cursor, sql, values)
                out.append(query.convert(using, params, cursor.fetchall()))
        return out
    cursors = [_cursor(connection) for _ in statements]
    try:
        with connection.wrap_database_errors, connection.connection.pipeline():
            for cursor, (sql, values) in zip(cursors, statements, strict=True):
                _execute(connection, cursor, sql, values)
            return [
                query.convert(using, params, cursor.fetchall())
                for (query, params), cursor in zip(calls, cursors, strict=True)
            ]
    finally:
        for cursor in cursors:
            cursor.close()


def _on_server(connection) -> bool:
    return connection.vendor == "postgresql" and settings.DATABASE_PREPARED_STATEMENTS


def _cursor(connection):
    """Django's cursor (logged and counted as usual). On PostgreSQL, unless
    ``DATABASE_PREPARED_STATEMENTS`` is off, one that binds its parameters on the server, so that
    psycopg prepares the statement on the connection (``prepare_threshold``, set in the settings) and
    the server stops re-planning it: planning costs more than running these small queries. Django's
    own cursors keep binding on the client and are never prepared."""
    if not _on_server(connection):
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(ServerBindingCursor(connection.connection))


# --- PostgreSQL: a row's parts as JSON columns of the row itself -----------------------------------------


def json_rows(rows: QuerySet, key: str, columns, order_by) -> Subquery:
    """PostgreSQL: ``rows`` — filtered on the outer row with ``OuterRef`` through ``key`` — as one JSON
    array of ``columns`` arrays in ``order_by`` order (exactly: the aggregate's own ``ORDER BY``), a
    column of the outer row, so that a row and its parts are one statement instead of one each. NULL
    when there are none (``split_json_columns`` reads that as no rows). Only for columns whose JSON is
    their value: ints, strings, booleans (a date would come back as text)."""
    grouped = rows.order_by().values(key)
    return Subquery(grouped.annotate(rows=JSONBAgg(JSONArray(*columns), order_by=order_by)).values("rows"))


def split_json_columns(found: list, n: int) -> tuple[list, list[list]]:
    """The rows of a query whose last ``n`` columns are ``json_rows`` → (the rows without them, each
    of the ``n`` parts of the first row as a list)."""
    rows = [row[:-n] for row in found]
    parts = [part or [] for part in found[0][-n:]] if found else [[] for _ in range(n)]
    return rows, parts
