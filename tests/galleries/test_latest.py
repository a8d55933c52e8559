"""F8 latest: the highest version (numeric order) not excluded from latest, globally or for the region,
whose replication to that region is Completed.

The replication engine that moves TargetRegion.state is a later issue; here the test sets the state
rows directly, which is the set-up this function needs."""

from __future__ import annotations

import pytest

from galleries import services
from galleries.models import TargetRegion
from galleries.services import TargetRegionSpec as TR

REGIONS = ["westeurope", "eastus", "northeurope"]


def complete(version, *regions, state=TargetRegion.State.COMPLETED):
    n = TargetRegion.objects.filter(version=version, region__name__in=regions).update(state=state)
    assert n == len(regions)


def name(v):
    return v.name if v is not None else None


@pytest.fixture
def versions(make_version):
    """1.0.2, 1.0.10 and 1.0.9 (created out of order) in three regions, nothing replicated yet."""
    return {n: make_version(n, target_regions=REGIONS) for n in ["1.0.2", "1.0.10", "1.0.9"]}


def test_nothing_completed_means_no_latest(definition, versions, region):
    for r in REGIONS:
        assert services.latest_version(definition, region(r)) is None
    assert services.latest_by_region(definition) == {}


def test_highest_numeric_version_wins(definition, versions, region):
    for v in versions.values():
        complete(v, *REGIONS)
    for r in REGIONS:
        assert name(services.latest_version(definition, region(r))) == "1.0.10"
    assert {r: v.name for r, v in services.latest_by_region(definition).items()} == dict.fromkeys(
        REGIONS, "1.0.10"
    )


def test_numeric_order_across_parts(definition, make_version, region):
    for n in ["1.9.99", "1.10.0", "2.0.0", "10.0.0", "9.99.99"]:
        complete(make_version(n), "westeurope")
    assert name(services.latest_version(definition, region("westeurope"))) == "10.0.0"


def test_only_completed_regions_count(definition, versions, region):
    complete(versions["1.0.2"], *REGIONS)
    complete(versions["1.0.9"], "westeurope", "eastus")
    complete(versions["1.0.10"], "westeurope")
    complete(versions["1.0.10"], "eastus", state=TargetRegion.State.REPLICATING)
    complete(versions["1.0.9"], "northeurope", state=TargetRegion.State.FAILED)
    assert name(services.latest_version(definition, region("westeurope"))) == "1.0.10"
    assert name(services.latest_version(definition, region("eastus"))) == "1.0.9"
    assert name(services.latest_version(definition, region("northeurope"))) == "1.0.2"
    assert {r: v.name for r, v in services.latest_by_region(definition).items()} == {
        "westeurope": "1.0.10",
        "eastus": "1.0.9",
        "northeurope": "1.0.2",
    }


def test_version_excluded_globally_is_skipped(caller, definition, versions, region):
    for v in versions.values():
        complete(v, *REGIONS)
    services.update_version(caller, versions["1.0.10"], exclude_from_latest=True)
    for r in REGIONS:
        assert name(services.latest_version(definition, region(r))) == "1.0.9"
    assert set(v.name for v in services.latest_by_region(definition).values()) == {"1.0.9"}


def test_version_excluded_in_one_region_is_skipped_there_only(caller, definition, versions, region):
    for v in versions.values():
        complete(v, *REGIONS)
    services.update_version(
        caller,
        versions["1.0.10"],
        target_regions=["westeurope", TR("eastus", exclude_from_latest=True), "northeurope"],
    )
    assert TargetRegion.objects.get(version=versions["1.0.10"], region__name="eastus").state == "Completed"
    assert name(services.latest_version(definition, region("eastus"))) == "1.0.9"
    assert name(services.latest_version(definition, region("westeurope"))) == "1.0.10"
    assert {r: v.name for r, v in services.latest_by_region(definition).items()} == {
        "westeurope": "1.0.10",
        "eastus": "1.0.9",
        "northeurope": "1.0.10",
    }


def test_excluded_at_creation(definition, make_version, region):
    complete(make_version("1.0.0", target_regions=["westeurope", "eastus"]), "westeurope", "eastus")
    complete(
        make_version("2.0.0", exclude_from_latest=True, target_regions=["westeurope", "eastus"]),
        "westeurope",
        "eastus",
    )
    complete(
        make_version("3.0.0", target_regions=["westeurope", TR("eastus", exclude_from_latest=True)]),
        "westeurope",
        "eastus",
    )
    assert name(services.latest_version(definition, region("westeurope"))) == "3.0.0"
    assert name(services.latest_version(definition, region("eastus"))) == "1.0.0"
    assert {r: v.name for r, v in services.latest_by_region(definition).items()} == {
        "westeurope": "3.0.0",
        "eastus": "1.0.0",
    }


def test_everything_excluded_means_none(caller, definition, versions, region):
    for v in versions.values():
        complete(v, *REGIONS)
        services.update_version(caller, v, exclude_from_latest=True)
    assert services.latest_version(definition, region("westeurope")) is None
    assert services.latest_by_region(definition) == {}


def test_region_not_targeted_has_no_latest(definition, versions, region):
    for v in versions.values():
        complete(v, *REGIONS)
    assert services.latest_version(definition, region("uksouth")) is None
    assert "uksouth" not in services.latest_by_region(definition)


def test_removed_region_no_longer_counts(caller, definition, versions, region):
    for v in versions.values():
        complete(v, *REGIONS)
    services.update_version(caller, versions["1.0.10"], target_regions=["westeurope", "eastus"])
    assert name(services.latest_version(definition, region("northeurope"))) == "1.0.9"
    assert name(services.latest_version(definition, region("eastus"))) == "1.0.10"


def test_other_definitions_do_not_leak(definition, make_definition, make_version, region):
    other = make_definition("other")
    complete(make_version("1.0.0"), "westeurope")
    complete(make_version("9.0.0", definition_=other), "westeurope")
    assert name(services.latest_version(definition, region("westeurope"))) == "1.0.0"
    assert name(services.latest_version(other, region("westeurope"))) == "9.0.0"
    assert {r: v.name for r, v in services.latest_by_region(definition).items()} == {"westeurope": "1.0.0"}


def test_deleted_version_is_no_longer_latest(caller, definition, versions, region):
    for v in versions.values():
        complete(v, "westeurope")
    services.delete_version(caller, versions["1.0.10"])
    assert name(services.latest_version(definition, region("westeurope"))) == "1.0.9"


def test_latest_by_region_is_three_reads_whatever_the_history(
    definition, versions, django_assert_num_queries
):
    for v in versions.values():
        complete(v, *REGIONS)
    with django_assert_num_queries(3):  # the candidates as rows, the versions latest somewhere, region names
        latest = services.latest_by_region(definition)
    assert {r: v.name for r, v in latest.items()} == dict.fromkeys(REGIONS, "1.0.10")


def test_a_latest_version_deleted_between_the_reads_gives_way_to_the_next(definition, versions, caller):
    """latest_by_region reads the candidates, then their versions: a version deleted in between (by
    another request) is not reported missing or lost — the candidates are read again."""
    from django.db import connection

    for v in versions.values():
        complete(v, *REGIONS)
    gone = versions["1.0.10"]
    gone_pk = gone.pk

    def delete_after_the_candidates(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "galleries_targetregion" in sql and not deleted:
            deleted.append(gone_pk)
            services.delete_version(caller, gone)  # no replica yet: the version goes at once
        return result

    deleted = []
    with connection.execute_wrapper(delete_after_the_candidates):
        latest = services.latest_by_region(definition)
    assert deleted == [gone_pk]
    assert {r: v.name for r, v in latest.items()} == dict.fromkeys(REGIONS, "1.0.9")


@pytest.mark.skipif(
    "sqlite" not in __import__("django.conf").conf.settings.DATABASES["default"]["ENGINE"],
    reason="the plan of a database without planner statistics; PostgreSQL plans from its statistics",
)
@pytest.mark.parametrize("reader", ["latest_by_region", "replication panel"])
def test_the_latest_read_starts_from_the_definition_not_from_every_completed_replica(
    definition, versions, reader
):
    """SQLite runs here without planner statistics. Written as a join from the replica to its version's
    definition, the read chose the state index and visited every Completed replica in the database (a
    replication poll that grew with the whole install); joined to the region, it started from the
    region's Completed replicas. It must look each replica up by (version, region). (PostgreSQL keeps
    the join: its plans come from its statistics.)"""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from galleries import panel

    for v in versions.values():
        complete(v, *REGIONS)
    if reader == "latest_by_region":
        with CaptureQueriesContext(connection) as queries:
            assert services.latest_by_region(definition)
        sql, params = queries.captured_queries[0]["sql"], ()
    else:
        sql, params = panel._LATEST.statement("default", {"definition": definition.pk})
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = [row[3] for row in cursor.fetchall()]
    shown = "\n".join(plan)
    replicas = [line for line in plan if line.startswith("SEARCH galleries_targetregion ")]
    assert replicas and all("(version_id=? AND region_id=?)" in line for line in replicas), shown
    assert not any("state" in line for line in plan), shown
