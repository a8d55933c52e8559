"""Pieces of the replication engine that need no worker: the plan, leases, throttled progress, the
backoff, the reaper's choice of rows, the scrub's sweep of orphans, and the lifecycle policy field."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from galleries import replication, services
from galleries.models import TargetRegion
from galleries.services import TargetRegionSpec as T
from portal.core.errors import ServiceError


def test_zrs_keeps_a_copy_in_every_zone_and_lrs_keeps_the_count(make_version):
    v = make_version(target_regions=[T("westeurope", 2), T("northeurope", 1, "Standard_ZRS"), T("eastus", 5)])
    rows = {t.region.name: t for t in v.target_regions.select_related("region")}
    assert replication.copies_for(rows["westeurope"]) == 2
    assert replication.copies_for(rows["eastus"]) == 5
    assert replication.copies_for(rows["northeurope"]) == 3
    assert [replication.zone_for(rows["northeurope"], i) for i in range(4)] == ["1", "2", "3", "1"]
    assert replication.zone_for(rows["westeurope"], 1) == ""
    p = replication.plan(rows["northeurope"], list(v.disks.all()))
    assert len(p.missing) == 3 and p.bytes_total == 3 * v.total_size_bytes and p.bytes_present == 0


def test_one_lease_at_a_time_and_an_expired_lease_can_be_taken_over(make_version):
    v = make_version()
    t = v.target_regions.get()
    assert replication.acquire(t.pk, "a") is not None
    assert replication.acquire(t.pk, "b") is None  # a holds it
    assert replication.acquire(t.pk, "a") is not None  # a retry of a keeps it
    TargetRegion.objects.filter(pk=t.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert replication.acquire(t.pk, "b").lease_owner == "b"  # a died: b takes over
    progress = replication.Progress(t.pk, "a", 0)
    progress.pending = 1
    with pytest.raises(replication.LeaseLost):
        progress.flush()  # a finds out it lost the lease and stops


def test_progress_writes_are_throttled_not_per_chunk(make_version, settings):
    settings.REPLICATION_PROGRESS_BYTES = 64 * 2**20
    settings.REPLICATION_PROGRESS_SECONDS = 3600
    v = make_version()
    t = v.target_regions.get()
    replication.acquire(t.pk, "me")
    progress = replication.Progress(t.pk, "me", 0)
    for _ in range(1024):  # 1 GiB in 1 MiB chunks
        progress.add(2**20)
    assert progress.writes == 16  # one write per 64 MiB, not 1024
    assert TargetRegion.objects.get(pk=t.pk).bytes_done == 2**30


def test_backoff_doubles_up_to_the_cap(settings):
    settings.REPLICATION_RETRY_BASE_SECONDS = 10
    settings.REPLICATION_RETRY_MAX_SECONDS = 100
    assert [replication.backoff_seconds(a) for a in range(1, 6)] == [10, 20, 40, 80, 100]


@pytest.fixture
def broker_queues():
    """Message counts of queues on the run's real broker (filesystem or Redis), purged afterwards."""
    from portal.celery import app

    used = set()

    def count(queue: str) -> int:
        used.add(queue)
        with app.connection_for_read() as conn:
            return conn.default_channel.queue_declare(queue=queue, passive=False).message_count

    yield count
    with app.connection_for_write() as conn:
        for queue in used:
            conn.default_channel.queue_purge(queue)


def test_the_reaper_requeues_only_rows_that_need_work_and_have_nobody(make_version, settings, broker_queues):
    settings.REPLICATION_REAPER_GRACE_SECONDS = 30
    v = make_version(target_regions=[T("westeurope"), T("eastus"), T("northeurope"), T("uksouth")])
    rows = {t.region.name: t for t in v.target_regions.select_related("region")}
    before = {name: broker_queues(f"region.{name}") for name in rows}
    now = timezone.now()
    old = now - timedelta(minutes=5)
    TargetRegion.objects.filter(pk=rows["westeurope"].pk).update(
        state="Replicating", lease_owner="dead", lease_expires_at=now - timedelta(seconds=1)
    )
    TargetRegion.objects.filter(pk=rows["eastus"].pk).update(
        state="Replicating", lease_owner="alive", lease_expires_at=now + timedelta(seconds=30)
    )
    TargetRegion.objects.filter(pk=rows["northeurope"].pk).update(state="Completed", updated_at=old)
    TargetRegion.objects.filter(pk=rows["uksouth"].pk).update(state="Unknown", updated_at=old)
    assert replication.reap(now) == 2
    added = {name: broker_queues(f"region.{name}") - before[name] for name in rows}
    assert added == {"westeurope": 1, "eastus": 0, "northeurope": 0, "uksouth": 1}
    assert replication.reap(now) == 0  # reserved for the grace period: not queued twice


def test_the_scrub_removes_files_no_replica_accounts_for(make_version, region, settings):
    v = make_version()
    store = replication.store_for(region("westeurope"), "")
    orphan = store.path(f"versions/{v.pk + 1000}/0/os.vhd")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left behind")
    fresh = store.path(f"versions/{v.pk + 1001}/0/os.vhd")
    fresh.parent.mkdir(parents=True, exist_ok=True)
    fresh.write_bytes(b"being written right now")
    past = time.time() - 3600
    os.utime(orphan, (past, past))
    found = replication.scrub_region(region("westeurope"))
    assert found["orphans"] == [f"versions/{v.pk + 1000}/0/os.vhd"]
    assert not orphan.exists() and fresh.exists()  # a recent file may be a copy about to be recorded


def test_the_lifecycle_policy_is_set_and_changed_through_the_services(caller, gallery):
    d = services.create_definition(
        caller,
        gallery,
        "d",
        publisher="P",
        offer="O",
        sku="S",
        os_type="Linux",
        os_state="Generalized",
        lifecycle_policy="TrimOlderToSource",
    )
    assert d.lifecycle_policy == "TrimOlderToSource"
    services.update_definition(caller, d, lifecycle_policy="None")
    d.refresh_from_db()
    assert d.lifecycle_policy == "None"
    with pytest.raises(ServiceError) as exc:
        services.update_definition(caller, d, lifecycle_policy="KeepEverythingForever")
    assert exc.value.code == "InvalidParameter" and exc.value.target == "properties.lifecyclePolicy"
    assert "TrimOlderToSource" in exc.value.message


def test_the_reaper_settles_versions_that_fell_behind_their_regions(caller, make_version, settings):
    settings.REPLICATION_REAPER_GRACE_SECONDS = 30
    from galleries.models import GalleryImageVersion

    old = timezone.now() - timedelta(minutes=5)
    done = make_version("1.0.0")
    TargetRegion.objects.filter(version=done).update(state="Completed")
    gone = make_version("1.0.1")
    TargetRegion.objects.filter(version=gone).delete()
    GalleryImageVersion.objects.filter(pk=gone.pk).update(provisioning_state="Deleting")
    fresh = make_version("1.0.2")
    TargetRegion.objects.filter(version=fresh).update(state="Completed")
    GalleryImageVersion.objects.filter(pk__in=[done.pk, gone.pk]).update(modified_at=old)
    replication.reap()
    assert GalleryImageVersion.objects.get(pk=done.pk).provisioning_state == "Succeeded"
    assert not GalleryImageVersion.objects.filter(pk=gone.pk).exists()
    assert GalleryImageVersion.objects.get(pk=fresh.pk).provisioning_state == "Creating"  # within the grace


def test_the_reaper_leaves_failed_regions_alone_unless_they_are_being_removed(
    make_version, settings, broker_queues
):
    from galleries.models import GalleryImageVersion

    settings.REPLICATION_REAPER_GRACE_SECONDS = 30
    old = timezone.now() - timedelta(minutes=5)
    failed = make_version("1.0.0", target_regions=[T("westeurope"), T("eastus")])
    TargetRegion.objects.filter(version=failed).update(state="Failed", updated_at=old)
    deleting = make_version("1.0.1", target_regions=[T("westeurope"), T("uksouth")])
    TargetRegion.objects.filter(version=deleting).update(state="Failed", updated_at=old)
    GalleryImageVersion.objects.filter(pk=deleting.pk).update(provisioning_state="Deleting")
    before = broker_queues("region.uksouth"), broker_queues("region.eastus")
    assert replication.reap() == 2  # the deleting version's two regions, not the failed one's
    assert broker_queues("region.uksouth") == before[0] + 1
    assert broker_queues("region.eastus") == before[1]
