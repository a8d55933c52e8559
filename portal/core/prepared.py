"""ORM queries compiled once, run many times: for the few hot reads that a page polls.

Building and compiling a Django queryset costs 0.2–1 ms of Python (joins resolved, columns listed,
SQL text assembled) for a query that the database answers in 0.01–0.05 ms. A :class:`Prepared`
query is still written with the ORM — its tables, joins and columns stay the models' — but it is
compiled once per database and *shape* (which parameters, and how many values in each list), with
sentinel values standing in for the parameters; each later call only puts the real values where the
sentinels were and executes the cached SQL through Django's cursor (so it is logged and counted like
any other query). On PostgreSQL, a query run alone outside a transaction block skips the cursor: it is
prepared on the connection once and executed by libpq itself (``_run_prepared``: a third of the client
CPU of psycopg's cursor under Django's wrapper, for the one-row reads a poll makes).

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
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.postgres.aggregates import JSONBAgg
from django.db import connections
from django.db.models import QuerySet, Subquery
from django.db.models.functions import JSONArray
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.adapt import Transformer

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
        return sql, tuple(slots), converters, _Statement(sql)

    def statement(self, using: str, params: dict) -> tuple[str, list]:
        """The cached SQL and its parameter values for ``params``."""
        return self._statement(using, params)[:2]

    def _statement(self, using: str, params: dict) -> tuple[str, list, _Statement, dict]:
        key = (using, self._shape(params))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(using, params)
        sql, slots, converters, server = compiled
        values = []
        for is_param, slot in slots:
            if not is_param:
                values.append(slot)
            else:
                name, index = slot
                values.append(params[name] if index is None else params[name][index])
        return sql, values, server, converters

    def rows(self, using: str = "default", **params) -> list[tuple]:
        sql, values, server, converters = self._statement(using, params)
        connection = connections[using]
        found = _run_prepared(connection, server, values)
        if found is None:
            with _cursor(connection) as cursor:
                _execute(connection, cursor, sql, values)
                found = cursor.fetchall()
        return _converted(connection, converters, found) if converters else found

    def convert(self, using: str, params: dict, rows: list) -> list[tuple]:
        """``rows`` as fetched → the Python values of their fields (Django's converters)."""
        converters = self._compiled[(using, self._shape(params))][2]
        return _converted(connections[using], converters, rows) if converters else rows


def _converted(connection, converters: dict, rows: list) -> list[tuple]:
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


class _Statement:
    """A compiled query as a statement prepared by name on each PostgreSQL connection (``_run_prepared``):
    Django's ``%s`` placeholders as ``$1``, ``$2``, …, each typed as psycopg's cursor would send it — an
    int as ``bigint``, a text as ``unknown`` (the server infers it from the column it is compared with);
    a statement per combination of the two. ``usable`` turns False for good if the server cannot prepare
    it (or its SQL has a placeholder psycopg reads otherwise): the cursor runs it from then on."""

    __slots__ = ("_names", "sql", "text", "usable")
    _numbers = itertools.count(1)
    _PLACEHOLDER = re.compile(r"%%|%s|%")

    def __init__(self, sql: str):
        self._names: dict[bytes, bytes] = {}
        self.sql = sql
        self.usable = True
        numbers = itertools.count(1)

        def placeholder(match):
            if match[0] == "%%":
                return "%"
            if match[0] == "%s":
                return f"${next(numbers)}"
            self.usable = False
            return match[0]

        self.text = self._PLACEHOLDER.sub(placeholder, sql).encode()

    def name(self, kinds: bytes) -> bytes:
        """The statement's name for parameters of ``kinds`` (``i`` an int, ``t`` a text, in order)."""
        name = self._names.get(kinds)
        if name is None:
            name = self._names[kinds] = f"sig_prepared_{next(self._numbers)}".encode()
        return name


#: The parameter types a statement is prepared with, by kind: ``bigint``, and ``unknown`` for a text.
_TYPES = {ord("i"): 20, ord("t"): 0}
_INT8_MIN, _INT8_MAX = -(2**63), 2**63 - 1


def _run_prepared(connection, statement: _Statement, values: list) -> list[tuple] | None:
    """The rows of ``statement`` with ``values``, executed by libpq on the connection's session, where
    it is prepared once — or None when it is not run this way and the caller runs it through Django's
    cursor instead: not PostgreSQL with prepared statements on, no connection open yet, a health check
    due (Django's cursor makes it), a transaction block or pipeline open (psycopg's cursor begins the
    transaction it owns), Django's ``execute_wrappers`` installed, or a value that is not an int or a
    text without NUL (Django's cursor refuses that one with the database's error).

    Logged in ``connection.queries_log`` when queries are logged, as the cursor would; a database error
    is Django's error (``wrap_database_errors``). A statement the session lost (``DISCARD ALL`` behind a
    pooler) is prepared again once."""
    conn = connection.connection
    if (
        conn is None
        or not statement.usable
        or connection.vendor != "postgresql"
        or not settings.DATABASE_PREPARED_STATEMENTS
        or connection.execute_wrappers
        or not (connection.health_check_done or not connection.health_check_enabled)
        or not conn.autocommit
    ):
        return None
    params, kinds = [], bytearray()
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and _INT8_MIN <= value <= _INT8_MAX:
            params.append(b"%d" % value)
            kinds.append(105)  # i
        elif isinstance(value, str) and "\x00" not in value:
            params.append(value.encode())
            kinds.append(116)  # t
        else:
            return None
    name = statement.name(bytes(kinds))
    pgconn = conn.pgconn
    if pgconn.transaction_status != _IDLE or pgconn.pipeline_status:
        return None
    connection.validate_thread_sharing()
    logged = connection.queries_logged
    started = time.monotonic() if logged else 0.0
    # The names prepared on this session: kept with the connection they were prepared on.
    on = connection.__dict__.get("_prepared_on")
    if on is None or on[0] is not conn:
        on = connection._prepared_on = (conn, set())
    prepared = on[1]
    try:
        with conn.lock:
            for attempt in (1, 2):
                if name not in prepared:
                    result = pgconn.prepare(name, statement.text, [_TYPES[k] for k in kinds])
                    if result.status != _COMMAND_OK and _sqlstate(result) != _DUPLICATE_STATEMENT:
                        if pgconn.status != pq.ConnStatus.OK:
                            raise pg_errors.error_from_result(result, encoding=conn.info.encoding)
                        statement.usable = False
                        return None
                    prepared.add(name)
                result = pgconn.exec_prepared(name, params)
                if result.status == _TUPLES_OK:
                    break
                if _sqlstate(result) != _NO_SUCH_STATEMENT or attempt == 2:
                    raise pg_errors.error_from_result(result, encoding=conn.info.encoding)
                prepared.clear()
            loader = Transformer(conn)
            loader.set_pgresult(result)
            rows = loader.load_rows(0, result.ntuples, tuple)
    except Exception:
        with connection.wrap_database_errors:  # Django's error for psycopg's, and the connection marked
            raise
    if logged:
        connection.queries_log.append(
            {
                "sql": connection.ops.compose_sql(statement.sql, values),
                "time": f"{time.monotonic() - started:.3f}",
            }
        )
    return rows


def _sqlstate(result) -> bytes | None:
    return result.error_field(pq.DiagnosticField.SQLSTATE)


_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name: the session lost it (DISCARD ALL, DEALLOCATE)
_DUPLICATE_STATEMENT = b"42P05"  # duplicate_prepared_statement: prepared, and forgotten by the set only
_IDLE = pq.TransactionStatus.IDLE
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_TUPLES_OK = pq.ExecStatus.TUPLES_OK


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
