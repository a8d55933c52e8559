"""portal.core.prepared on PostgreSQL outside a transaction block: a query run alone is prepared on the
session under its own name and executed by libpq (``_run_prepared``), not by psycopg's cursor. The same
rows and Python values as the ORM, counted like any query, typed as psycopg types its parameters, never
inside a transaction block (which psycopg's cursor begins), prepared again when the session lost it,
Django's errors for the database's, and a text with NUL refused rather than cut short.

These tests need autocommit, so they are transactional (``transaction=True``)."""

from __future__ import annotations

import pytest
from django.db import DataError, connection, transaction
from django.db.models import Value
from django.test.utils import CaptureQueriesContext
from psycopg import errors as pg_errors
from psycopg import pq

from accounts.models import Resource
from galleries.models import Region
from portal.core.prepared import Prepared
from tests.portal.test_prepared import BY_CLOUD_AND_NAMES

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def on_postgresql(region):
    if connection.vendor != "postgresql":
        pytest.skip(
            "statements prepared on the server and run by libpq are PostgreSQL's; SQLite uses its cursor"
        )


def server_statements() -> dict[str, tuple[int, int]]:
    """The statements prepared on this session by name → (generic plans, custom plans)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements")
        return {name: (generic, custom) for name, generic, custom in cursor.fetchall()}


def libpq_names(query: Prepared, **params) -> set[str]:
    """The names under which ``query`` (of the shape of ``params``) was prepared, one per kinds of values."""
    return {name.decode() for name in query._statement("default", params)[2]._names.values()}


def test_a_lone_query_is_prepared_under_its_name_and_planned_once():
    names = list(Region.objects.order_by("name").values_list("name", flat=True)[:6])
    for name in names:
        assert BY_CLOUD_AND_NAMES.rows(cloud="public", names=[name]) == list(
            Region.objects.filter(name=name).values_list("name", "display_name")
        )
    (statement,) = libpq_names(BY_CLOUD_AND_NAMES, cloud="public", names=["x"])
    generic, custom = server_statements()[statement]
    assert custom == 0 and generic == len(names)  # prepared once (force_generic_plan), run six times


def test_rows_and_values_are_the_orms(caller, rg):
    """Quotes, non-ASCII text, an id beyond every row, JSON, datetimes, booleans: what values_list gives."""
    from galleries import services

    services.create_gallery(caller, rg, "g1", tags={"team": "platform", "é": "ü"})
    columns = ("tags", "created_at", "hidden", "name", "pk")
    query = Prepared(lambda name: Resource.objects.filter(name=name).values_list(*columns))
    for name in ("g1", "g1' OR '1'='1", "gällery", ""):
        assert query.rows(name=name) == list(Resource.objects.filter(name=name).values_list(*columns))
    ((tags, created_at, hidden, _, pk),) = query.rows(name="g1")
    assert tags == {"team": "platform", "é": "ü"} and created_at.tzinfo is not None and hidden is False
    by_pk = Prepared(lambda pk: Resource.objects.filter(pk=pk).values_list("name"))
    assert by_pk.rows(pk=pk) == [("g1",)] and by_pk.rows(pk=2**63 - 1) == []
    assert libpq_names(by_pk, pk=pk) & set(server_statements())


def test_a_parameter_is_typed_as_psycopg_types_it():
    """An int is sent as a bigint, a text as unknown, as psycopg's cursor sends them: the same rows as
    the cursor's (inside a transaction block) even where nothing infers a type (the select list)."""
    echo = Prepared(
        lambda v: Region.objects.filter(name="westeurope").annotate(v=Value(v) * 1).values_list("v")
    )
    outside = [echo.rows(v=7), echo.rows(v=2**40)]
    with transaction.atomic():
        inside = [echo.rows(v=7), echo.rows(v=2**40)]
    assert outside == inside == [[(7,)], [(2**40,)]]
    text = Prepared(lambda v: Region.objects.filter(name=v).values_list("name"))
    assert text.rows(v="westeurope") == [("westeurope",)]
    statements = server_statements()
    assert libpq_names(echo, v=7) & set(statements) and libpq_names(text, v="x") & set(statements)


def test_every_execution_is_a_counted_query_with_its_values():
    with CaptureQueriesContext(connection) as q:
        BY_CLOUD_AND_NAMES.rows(cloud="public", names=["westeurope"])
        BY_CLOUD_AND_NAMES.rows(cloud="public", names=["eastus"])
    assert len(q.captured_queries) == 2
    assert "'eastus'" in q.captured_queries[1]["sql"] and "$1" not in q.captured_queries[1]["sql"]


def test_inside_a_transaction_block_the_cursor_runs_it_in_the_transaction():
    """psycopg begins the transaction with its cursor's first statement: a query that skipped it would run
    outside the block (and a write before it would not be seen)."""
    with transaction.atomic():
        assert BY_CLOUD_AND_NAMES.rows(cloud="public", names=["westeurope"])
        assert connection.connection.pgconn.transaction_status == pq.TransactionStatus.INTRANS
        Region.objects.filter(name="eastus").update(display_name="Renamed in the block")
        assert BY_CLOUD_AND_NAMES.rows(cloud="public", names=["eastus"]) == [
            ("eastus", "Renamed in the block")
        ]
        transaction.set_rollback(True)
    assert BY_CLOUD_AND_NAMES.rows(cloud="public", names=["eastus"]) == [("eastus", "East US")]
    assert libpq_names(BY_CLOUD_AND_NAMES, cloud="public", names=["x"]) & set(server_statements())


def test_a_statement_the_session_lost_is_prepared_again():
    BY_CLOUD_AND_NAMES.rows(cloud="public", names=["westeurope"])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a pooler's DISCARD ALL does to the session
    assert BY_CLOUD_AND_NAMES.rows(cloud="public", names=["eastus"]) == [("eastus", "East US")]
    assert libpq_names(BY_CLOUD_AND_NAMES, cloud="public", names=["x"]) & set(server_statements())


def test_one_statement_lost_leaves_the_others_running_prepared():
    """One name deallocated: it is prepared again, which forgets the others' names; the next of those
    finds itself already prepared on the server (42P05) and still runs by name."""
    by_pk = Prepared(lambda pk: Region.objects.filter(pk=pk).values_list("name"))
    first = Region.objects.values_list("pk", flat=True).first()
    BY_CLOUD_AND_NAMES.rows(cloud="public", names=["westeurope"])
    by_pk.rows(pk=first)
    (lost,) = libpq_names(BY_CLOUD_AND_NAMES, cloud="public", names=["x"])
    (other,) = libpq_names(by_pk, pk=first)
    with connection.cursor() as cursor:
        cursor.execute(f"DEALLOCATE {lost}")
    assert BY_CLOUD_AND_NAMES.rows(cloud="public", names=["eastus"]) == [("eastus", "East US")]
    runs = server_statements()[other][0]
    assert by_pk.rows(pk=first) == list(Region.objects.filter(pk=first).values_list("name"))
    assert server_statements()[other][0] == runs + 1  # run by its name, not by the cursor
    assert by_pk._statement("default", {"pk": first})[2].usable


def test_a_new_connection_prepares_it_again():
    BY_CLOUD_AND_NAMES.rows(cloud="public", names=["westeurope"])
    connection.close()
    connection.ensure_connection()
    connection.close_if_health_check_failed()  # what a request's first query does (through Django's cursor)
    assert BY_CLOUD_AND_NAMES.rows(cloud="public", names=["eastus"]) == [("eastus", "East US")]
    assert libpq_names(BY_CLOUD_AND_NAMES, cloud="public", names=["x"]) & set(server_statements())


def test_a_database_error_is_djangos_and_the_connection_goes_on():
    double = Prepared(
        lambda n: Region.objects.filter(name="westeurope").annotate(v=Value(n) * 2).values_list("v")
    )
    assert double.rows(n=21) == [(42,)]
    with pytest.raises(DataError, match="out of range") as raised:
        double.rows(n=2**62)  # the bigint product overflows on the server
    assert isinstance(raised.value.__cause__, pg_errors.NumericValueOutOfRange)  # Django's, from psycopg's
    assert BY_CLOUD_AND_NAMES.rows(cloud="public", names=["eastus"]) == [("eastus", "East US")]


def test_a_text_with_nul_is_refused_not_cut_short():
    """libpq ends a text parameter at its first NUL: such a value goes to the cursor, which refuses it."""
    assert BY_CLOUD_AND_NAMES.rows(cloud="public", names=["westeurope"])
    with pytest.raises(DataError, match="NUL"):
        BY_CLOUD_AND_NAMES.rows(cloud="public", names=["westeurope\x00 and more"])


def test_execute_wrappers_see_every_query():
    """Django's execute_wrappers (instrumentation, query blockers) are honoured: the cursor runs it."""
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert BY_CLOUD_AND_NAMES.rows(cloud="public", names=["westeurope"])
    assert len(seen) == 1 and "galleries_region" in seen[0]
