"""portal.core.prepared: ORM queries compiled once and run with new values — the same rows as the ORM, a
compiled statement per shape, loud refusal of what cannot be prepared, one round trip for several
queries on PostgreSQL (statements prepared on the server), and every execution counted like any query."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Resource
from galleries.models import Region
from portal.core.prepared import Prepared, run_together, split_json_columns

BY_CLOUD_AND_NAMES = Prepared(
    lambda cloud, names: Region.objects.filter(cloud__name=cloud, name__in=names)
    .order_by("name")
    .values_list("name", "display_name")
)


@pytest.fixture(autouse=True)
def catalogue(region):
    """The region catalogue these queries read (transactional tests elsewhere may have flushed it)."""


def orm(cloud, names):
    return list(
        Region.objects.filter(cloud__name=cloud, name__in=names)
        .order_by("name")
        .values_list("name", "display_name")
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cloud, names",
    [
        ("public", ["westeurope"]),
        ("public", ["westeurope", "eastus", "northeurope"]),
        ("public", ["eastus", "no-such-region"]),
        ("nonexistent", ["westeurope"]),
        ("public", ["westeurope', 'eastus"]),  # a value is data, never SQL
    ],
)
def test_rows_are_the_orms_rows_for_any_values(cloud, names):
    assert BY_CLOUD_AND_NAMES.rows(cloud=cloud, names=names) == orm(cloud, names)


@pytest.mark.django_db
def test_one_statement_per_shape_reused_with_new_values():
    query = Prepared(lambda pk: Region.objects.filter(pk=pk).values_list("name"))
    first, second = Region.objects.order_by("pk").values_list("pk", "name")[:2]
    assert query.rows(pk=first[0]) == [(first[1],)]
    assert query.rows(pk=second[0]) == [(second[1],)]
    assert len(query._compiled) == 1
    BY_CLOUD_AND_NAMES.rows(cloud="public", names=["a", "b"])
    BY_CLOUD_AND_NAMES.rows(cloud="public", names=["a", "b", "c"])
    shapes = {shape for _, shape in BY_CLOUD_AND_NAMES._compiled}
    assert (("cloud", -1), ("names", 2)) in shapes and (("cloud", -1), ("names", 3)) in shapes


@pytest.mark.django_db
def test_a_value_written_into_the_sql_text_cannot_be_prepared():
    # The project's in_ids lookup writes integer literals into the SQL: no parameter to replace.
    query = Prepared(lambda ids: Resource.objects.filter(pk__in_ids=ids).values_list("pk"))
    with pytest.raises(ValueError, match="written into the SQL text"):
        query.rows(ids=[1, 2])


@pytest.mark.django_db
def test_refused_parameters_and_querysets():
    with pytest.raises(ValueError, match="'names' is empty"):
        BY_CLOUD_AND_NAMES.rows(cloud="public", names=[])
    with pytest.raises(TypeError, match="booleans"):
        Prepared(lambda flag: Region.objects.filter(restricted=flag).values_list("pk")).rows(flag=True)
    with pytest.raises(TypeError, match="values_list"):
        Prepared(lambda pk: Region.objects.filter(pk=pk)).rows(pk=1)


@pytest.mark.django_db
def test_every_execution_is_a_counted_query():
    with CaptureQueriesContext(connection) as q:
        BY_CLOUD_AND_NAMES.rows(cloud="public", names=["westeurope"])
        run_together(
            [
                (BY_CLOUD_AND_NAMES, {"cloud": "public", "names": ["eastus"]}),
                (BY_CLOUD_AND_NAMES, {"cloud": "public", "names": ["northeurope", "westeurope"]}),
            ]
        )
    assert len(q.captured_queries) == 3


@pytest.mark.django_db
def test_run_together_answers_each_query_in_order():
    calls = [
        (BY_CLOUD_AND_NAMES, {"cloud": "public", "names": ["westeurope", "eastus"]}),
        (BY_CLOUD_AND_NAMES, {"cloud": "nonexistent", "names": ["westeurope"]}),
        (BY_CLOUD_AND_NAMES, {"cloud": "public", "names": ["northeurope"]}),
    ]
    assert run_together(calls) == [orm(p["cloud"], p["names"]) for _, p in calls]


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_the_statement_is_prepared_on_the_server_and_planned_once():
    if connection.vendor != "postgresql":
        pytest.skip("server-side prepared statements are a PostgreSQL feature (SQLite runs them as usual)")
    query = Prepared(lambda pk: Region.objects.filter(pk=pk).values_list("name", "display_name"))
    pks = list(Region.objects.values_list("pk", flat=True)[:6])
    for pk in pks:
        query.rows(pk=pk)
    run_together([(query, {"pk": pks[0]}), (query, {"pk": pks[1]})])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            [
                'SELECT "galleries_region"."name" AS "name", "galleries_region"."display_name"%'
                'WHERE "galleries_region"."id" = $1 %'
            ],
        )
        (generic, custom), *others = cursor.fetchall()
    assert not others
    assert custom == 0 and generic >= len(pks)  # prepared after two uses, then never re-planned


@pytest.mark.django_db
def test_values_come_back_as_values_list_gives_them(caller, rg):
    """Django's converters run: JSON, datetimes and booleans are Python values on every database."""
    from galleries import services

    services.create_gallery(caller, rg, "g1", tags={"team": "platform"})
    columns = ("tags", "created_at", "hidden", "name")
    query = Prepared(lambda name: Resource.objects.filter(name=name).values_list(*columns))
    assert query.rows(name="g1") == list(Resource.objects.filter(name="g1").values_list(*columns))
    ((tags, created_at, hidden, _),) = query.rows(name="g1")
    assert tags == {"team": "platform"} and created_at.tzinfo is not None and hidden is False
    assert run_together([(query, {"name": "g1"})]) == [query.rows(name="g1")]


@pytest.mark.postgres
@pytest.mark.django_db
def test_json_rows_are_a_rows_parts_in_the_aggregates_own_order():
    """``json_rows``: a cloud's regions as one JSON column of the cloud's row, in the order asked (both
    ways), the same values as the ORM's rows; none is an empty list (``split_json_columns``)."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "json_rows aggregates with PostgreSQL's jsonb_agg(... ORDER BY ...); SQLite reads parts as rows"
        )
    from django.db.models import OuterRef

    from galleries.models import Cloud
    from portal.core.prepared import json_rows

    columns = ("name", "display_name", "restricted")

    def regions_of(order):
        return json_rows(Region.objects.filter(cloud_id=OuterRef("pk")), "cloud_id", columns, order)

    query = Prepared(
        lambda name: Cloud.objects.filter(name=name).values_list(
            "name", regions_of("name"), regions_of("-name")
        )
    )
    rows, (ascending, descending) = split_json_columns(query.rows(name="public"), 2)
    expected = [
        list(r) for r in Region.objects.filter(cloud__name="public").order_by("name").values_list(*columns)
    ]
    assert rows == [("public",)] and len(expected) > 10
    assert ascending == expected and descending == expected[::-1]
    assert split_json_columns(query.rows(name="no-such-cloud"), 2) == ([], [[], []])
    empty = Cloud.objects.create(name="empty-cloud-for-the-test", display_name="Empty")
    assert split_json_columns(query.rows(name=empty.name), 2) == ([(empty.name,)], [[], []])


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_version_gets_one_statement_reads_what_its_three_reads_do(make_version):
    """The ARM version GET reads on PostgreSQL one statement (the row, its regions and disks as
    ``json_rows``) and elsewhere three: the same values, so a column whose JSON is not its value (a
    date, a decimal) added to ``REGION_COLUMNS`` or ``DISK_COLUMNS`` fails here."""
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement read is PostgreSQL's (json_rows); SQLite runs the three reads")
    from galleries.api import views
    from galleries.models import TargetRegion
    from galleries.services import TargetRegionSpec as T

    version = make_version(target_regions=[T("westeurope", 2), T("eastus"), T("northeurope")])
    TargetRegion.objects.filter(version=version, region__name="eastus").update(
        state="Replicating", bytes_done=3, bytes_total=2**40, exclude_from_latest=True
    )
    key = {"arm_key": version.arm_key}
    found, chain = run_together([(views._VERSION_WITH_PARTS, key), (views._VERSION_BY_ID, key)])
    rows, (regions, disks) = split_json_columns(found, 2)
    assert rows == chain and len(regions) == 3 and disks
    assert [tuple(r) for r in regions] == views._REGIONS_BY_ID.rows(**key)
    assert [tuple(d) for d in disks] == views._DISKS_BY_ID.rows(**key)
