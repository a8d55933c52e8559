"""The replication stamp (issue 16): a process keeps a version's panel rows under its definition's
replication stamp read before them, so a poll of an unchanged panel reads the two stamps and nothing
else. Each rule is broken here: every table the panel reads carries a trigger (or the grants stamp's);
every change to a row it shows — the ORM, a bulk update, raw SQL — replaces the definition's stamp and is
seen by the next poll, and a worker's lease renewal does not; a panel in progress is read whole without
the stamps first; inside a transaction block nothing kept is used; a missing stamp row keeps nothing;
through a random sequence of changes the kept panel equals one read afresh. These tests run outside the
test transaction (``transactional_db``), as a request does."""

from __future__ import annotations

import random
import re
from importlib import import_module

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from accounts.activity import Caller
from accounts.models import GrantsStamp
from galleries import panel, services
from galleries.models import GalleryImageVersion, Region, ReplicationStamp, TargetRegion
from galleries.services import TargetRegionSpec as T

MIGRATION = import_module("galleries.migrations.0012_replication_stamp")
GRANTS_TABLES = import_module("accounts.migrations.0010_grants_stamp").TABLES
REGIONS = ["westeurope", "eastus", "northeurope", "westus"]
HX = {"HTTP_HX_REQUEST": "true"}

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture(autouse=True)
def nothing_kept_before():
    panel._KEPT.clear()
    yield
    panel._KEPT.clear()


def stamp(version) -> int | None:
    return (
        ReplicationStamp.objects.filter(definition_id=version.definition_id)
        .values_list("value", flat=True)
        .first()
    )


def triggered_tables(name: str) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT event_object_table FROM information_schema.triggers WHERE trigger_name LIKE %s",
                [f"%{name}%"],
            )
        else:
            cursor.execute(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?", [f"%{name}%"]
            )
        return {table for (table,) in cursor.fetchall()}


@pytest.fixture
def two(make_version, make_definition):
    """A version in flight in four regions, an older one of the same definition Completed there (the
    "latest" column reads it), and a version of another definition."""
    old = make_version("1.0.0", target_regions=[T(r) for r in REGIONS])
    TargetRegion.objects.filter(version=old).update(state="Completed", bytes_done=F("bytes_total"))
    new = make_version("1.1.0", target_regions=[T(r) for r in REGIONS])
    TargetRegion.objects.filter(version=new).update(state="Replicating", revision=1, done_revision=0)
    other = make_version("2.0.0", target_regions=[T("westeurope")], definition_=make_definition("other"))
    return old, new, other


def poll(client, version, **headers):
    return client.get(f"/versions/{version.pk}/replication", **HX, **headers)


def statements(client, version, **headers) -> tuple[object, list[str]]:
    """The answer to one poll and the statements it ran after the session's and the user's."""
    with CaptureQueriesContext(connection) as ctx:
        answer = poll(client, version, **headers)
    read = [q["sql"] for q in ctx.captured_queries]
    return answer, [
        sql for sql in read if "django_session" not in sql and '"accounts_user"."password"' not in sql
    ]


def test_every_table_the_panel_reads_carries_a_stamps_trigger(client, user, two):
    """The panel's reads (with nothing kept: every read happens) name only tables whose changes replace
    the replication stamp or, for the access check, the grants stamp: a new table read by the panel
    without a trigger would let a kept panel outlive a change to it."""
    _, new, _ = two
    ReplicationStamp.objects.all().delete()
    GrantsStamp.objects.all().delete()
    client.force_login(user)
    answer, read = statements(client, new)
    assert answer.status_code == 200
    names = set(re.findall(r'"(\w+)"', " ".join(read)))
    tables = {name for name in names if name in connection.introspection.table_names()}
    assert {"galleries_targetregion", "galleries_region", "galleries_galleryimageversion"} <= tables
    stamped = triggered_tables("replication_stamp") | triggered_tables("grants_stamp")
    assert tables - {"accounts_grantsstamp", "galleries_replicationstamp"} <= stamped, tables - stamped
    # And every column it reads of those tables is one whose update fires the trigger (a row's own id
    # never changes): a column shown later but missing from the migration's list fails here.
    for table, column in set(re.findall(r'"(galleries_\w+)"\."(\w+)"', " ".join(read))):
        if table in MIGRATION.COLUMNS and column not in ("id", "resource_id"):
            assert column in MIGRATION.COLUMNS[table], (
                f"{table}.{column} is read but its update does not stamp"
            )
    assert set(MIGRATION.STAMPS) <= triggered_tables("replication_stamp")
    assert set(GRANTS_TABLES) <= triggered_tables("grants_stamp")


def test_every_change_the_panel_shows_replaces_its_definitions_stamp_and_a_lease_does_not(two, make_version):
    """Progress through the ORM, a raw UPDATE of every shown column of every table, a version created,
    a target region deleted, a region renamed and a version deleted each replace the stamp of the
    version's definition (each its own transaction, as a worker's write is); another definition's stamp
    does not move with them; a worker's lease renewal moves nothing."""
    old, new, other = two
    seen, elsewhere = [stamp(new)], stamp(other)
    assert seen[0] is not None and elsewhere is not None and elsewhere != seen[0]

    def changed(what: str) -> None:
        now = stamp(new)
        assert now not in seen, f"{what} left the stamp at {now}"
        seen.append(now)

    target = TargetRegion.objects.filter(version=new).order_by("pk").first()
    TargetRegion.objects.filter(pk=target.pk).update(bytes_done=F("bytes_done") + 1)
    changed("progress")
    for table, columns in MIGRATION.COLUMNS.items():
        for column in columns or ():
            where = {
                "galleries_targetregion": f"id = {target.pk}",
                "galleries_galleryimageversion": f"resource_id = {new.pk}",
                "galleries_region": f"id = {target.region_id}",
            }[table]
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {table} SET {column} = {column} WHERE {where}")
                assert cursor.rowcount == 1, table
            changed(f"a raw UPDATE of {table}.{column}")
    TargetRegion.objects.filter(pk=target.pk).update(
        lease_owner="celery@worker-1", updated_at=F("updated_at")
    )
    assert stamp(new) == seen[-1], "a lease renewal moved the stamp"
    make_version("1.2.0", target_regions=[T("westeurope")])
    changed("a version created")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM galleries_targetregion WHERE id = %s", [target.pk])
    changed("a raw DELETE of a target region")
    assert stamp(other) not in seen[1:] and stamp(other) != seen[-1]
    region_renamed = stamp(other)
    GalleryImageVersion.objects.filter(
        pk=old.pk
    ).delete()  # the ORM's cascade: replicas, regions, resource row
    changed("a version deleted")
    assert stamp(other) == region_renamed, "a change in one definition moved another's stamp"


def test_an_unchanged_panel_costs_the_stamps_read_and_a_change_is_seen_by_the_next_poll(client, user, two):
    """The second poll of an unchanged panel reads the two stamps and nothing else — however many
    regions and versions — and answers the same bytes; a raw UPDATE of one region's progress (no signal,
    no service) is in the next poll's answer, and the old ETag is no longer answered 304."""
    _, new, _ = two
    client.force_login(user)
    first = poll(client, new)
    assert first.status_code == 200
    answer, read = statements(client, new)
    assert answer.content == first.content and answer["ETag"] == first["ETag"]
    assert len(read) == 1 and "galleries_replicationstamp" in read[0] and "accounts_grantsstamp" in read[0], (
        read
    )
    revalidated, read = statements(client, new, HTTP_IF_NONE_MATCH=first["ETag"])
    assert revalidated.status_code == 304 and len(read) == 1
    target = TargetRegion.objects.filter(version=new, region__name="eastus").get()
    with connection.cursor() as cursor:  # behind the services' back
        cursor.execute(
            "UPDATE galleries_targetregion SET bytes_done = 3, bytes_total = 8 WHERE id = %s", [target.pk]
        )
    changed = poll(client, new, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]
    assert "37% · 3 bytes of 8 bytes" in changed.content.decode()


def test_a_panel_in_progress_is_read_whole_without_the_stamps_first(client, user, two):
    """While every poll finds the panel changed, a poll reads everything at once (no stamps' read
    first, which would only add a round trip); two reads finding the same stamp bring the one-read poll
    back."""
    _, new, _ = two
    client.force_login(user)
    target = TargetRegion.objects.filter(version=new).order_by("pk").first()

    def progress() -> None:
        TargetRegion.objects.filter(pk=target.pk).update(bytes_done=F("bytes_done") + 1)

    def kind(read: list[str]) -> str:
        alone = [sql for sql in read if "replicationstamp" in sql and "galleryimageversion" not in sql]
        whole = any("galleries_targetregion" in sql for sql in read)
        return "+".join(name for name, yes in (("stamps", alone), ("whole", whole)) if yes)

    poll(client, new)  # kept
    progress()
    assert kind(statements(client, new)[1]) == "stamps+whole"  # it asked first: it had been unchanged
    progress()
    assert kind(statements(client, new)[1]) == "whole"  # changing: everything at once
    assert kind(statements(client, new)[1]) == "whole"  # unchanged since: the same stamp twice
    assert kind(statements(client, new)[1]) == "stamps"


def test_inside_a_transaction_block_nothing_kept_is_used(user, two):
    _, new, _ = two
    assert panel.load(user, new.pk) is not None and new.pk in panel._KEPT  # kept
    before = panel.load(user, new.pk).etag
    with transaction.atomic():
        TargetRegion.objects.filter(version=new).update(bytes_done=F("bytes_done") + 5)
        # On PostgreSQL the stamp moves only at the commit: the block must read what it wrote.
        assert panel.load(user, new.pk).etag != before
        transaction.set_rollback(True)
    assert panel.load(user, new.pk).etag == before  # rolled back: the kept panel is right again


def test_a_missing_stamp_row_keeps_nothing(user, two):
    _, new, _ = two
    ReplicationStamp.objects.all().delete()  # as after a flush
    for _ in range(2):
        with CaptureQueriesContext(connection) as ctx:
            assert panel.load(user, new.pk) is not None
        assert any("galleries_targetregion" in q["sql"] for q in ctx.captured_queries)
    assert new.pk not in panel._KEPT
    TargetRegion.objects.filter(version=new).update(attempts=1)  # the trigger writes the row again
    assert stamp(new) is not None


def test_a_deleted_version_is_not_found_by_the_next_poll(client, user, two):
    _, new, _ = two
    client.force_login(user)
    assert poll(client, new).status_code == 200
    assert poll(client, new).status_code == 200  # from the kept panel
    GalleryImageVersion.objects.filter(pk=new.pk).delete()
    assert poll(client, new).status_code == 404


def test_the_kept_panel_equals_one_read_afresh_through_any_sequence_of_changes(user, two):
    """Random writes of what the panel shows — progress, state, a failure, exclusion from latest, a
    region's removal, a version's state or number, a region renamed, a new version — each committed on
    its own; after each, the panel as this process answers it (kept when the stamp allows) is the one
    read with nothing kept, down to the ETag. A stamp that does not move fails this at the first change."""
    old, new, _ = two
    rng = random.Random(16)
    regions = list(TargetRegion.objects.filter(version__in=[old, new]).values_list("pk", flat=True))
    names = iter(f"3.{i}.0" for i in range(1000))
    writes = [
        lambda pk: TargetRegion.objects.filter(pk=pk).update(bytes_done=F("bytes_done") + rng.randint(1, 9)),
        lambda pk: TargetRegion.objects.filter(pk=pk).update(
            state=rng.choice(["Completed", "Failed", "Replicating"])
        ),
        lambda pk: TargetRegion.objects.filter(pk=pk).update(
            attempts=F("attempts") + 1, last_error="copy failed"
        ),
        lambda pk: TargetRegion.objects.filter(pk=pk).update(exclude_from_latest=rng.random() < 0.5),
        lambda pk: TargetRegion.objects.filter(pk=pk).update(removing=rng.random() < 0.3),
        lambda pk: TargetRegion.objects.filter(pk=pk).update(revision=F("revision") + 1),
        lambda pk: GalleryImageVersion.objects.filter(pk=old.pk).update(
            exclude_from_latest=rng.random() < 0.5
        ),
        lambda pk: GalleryImageVersion.objects.filter(pk=old.pk).update(major=rng.choice([0, 1, 9])),
        lambda pk: GalleryImageVersion.objects.filter(pk=new.pk).update(
            provisioning_state=rng.choice(["Updating", "Succeeded", "Failed"])
        ),
        lambda pk: Region.objects.filter(pk=TargetRegion.objects.get(pk=pk).region_id).update(
            display_name=f"Region {rng.randint(0, 99)}"
        ),
        lambda pk: TargetRegion.objects.filter(version=new).update(lease_owner=f"w{rng.randint(0, 9)}"),
    ]
    for step in range(60):
        if step % 15 == 14:
            _new_version(user, new, next(names))
        else:
            rng.choice(writes)(rng.choice(regions))
        for _ in range(2):  # the second answer comes from what the first kept, when the stamp allows
            kept = panel.load(user, new.pk)
            saved = dict(panel._KEPT)
            panel._KEPT.clear()
            afresh = panel.load(user, new.pk)
            panel._KEPT.clear()
            panel._KEPT.update(saved)
            assert kept.etag == afresh.etag, f"step {step}"
            assert _shown(kept) == _shown(afresh), f"step {step}"


def _shown(shown) -> list:
    context = shown.context()
    return [
        context["aggregated"],
        context["in_flight"],
        context["any_failed"],
        *map(repr, context["regions"]),
    ]


def _new_version(user, like, name: str):
    """A version of ``like``'s definition Completed in its first region, through the services."""
    caller = Caller(principal=user, source="portal", client_ip="127.0.0.1")
    source = GalleryImageVersion.objects.get(pk=like.pk)
    made = services.create_version(
        caller,
        source.definition,
        name,
        location="westeurope",
        source=source.source_image,
        target_regions=[T("westeurope")],
    )
    TargetRegion.objects.filter(version=made).update(state="Completed", bytes_done=F("bytes_total"))
    return made
