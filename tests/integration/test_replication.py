"""Replication with real workers and real files (F9): every replica verified, a killed worker's job
finished by another, a lost zone and a corrupt copy repaired by the scrub, and the files on disk
matching the rows after every kind of change."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import wait_for
from django.conf import settings

from accounts.models import ActivityLogEntry
from galleries import replication, services
from galleries.models import GalleryImageVersion, Replica, TargetRegion
from galleries.services import TargetRegionSpec as T
from galleries.storage import TMP_SUFFIX, RegionStore

REGIONS = ["westeurope", "eastus", "northeurope"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def replica_file(r: Replica) -> Path:
    return replication.store_for(r.target_region.region, r.zone).path(r.path)


def files_on_disk(version_id: int) -> set[tuple[str, str, str]]:
    """Every replica file of a version in every region store: (region, zone, relative path)."""
    root = Path(settings.REGION_STORAGE_ROOT)
    out = set()
    for p in root.glob(f"*/*/*/versions/{version_id}/**/*"):
        if p.is_file():
            cloud, region, zone, *rest = p.relative_to(root).parts
            out.add((region, "" if zone == "regional" else zone, "/".join(rest)))
    return out


def rows_of(version_id: int) -> set[tuple[str, str, str]]:
    return {
        (r.target_region.region.name, r.zone, r.path)
        for r in Replica.objects.filter(target_region__version_id=version_id).select_related(
            "target_region__region"
        )
    }


def temporaries() -> list[Path]:
    return list(Path(settings.REGION_STORAGE_ROOT).rglob(f"*{TMP_SUFFIX}"))


def settled(version: GalleryImageVersion):
    """The version's regions are all final and nobody holds a lease."""
    rows = list(TargetRegion.objects.filter(version=version))
    return rows and all(not t.in_flight and not t.lease_owner for t in rows)


def assert_replicas_match_source(version: GalleryImageVersion):
    disks = {d.pk: d for d in version.disks.all()}
    for r in Replica.objects.filter(target_region__version=version).select_related("target_region__region"):
        assert r.verified_at is not None
        assert sha(replica_file(r)) == disks[r.disk_id].sha256 == r.sha256
        assert (
            sha(RegionStore(disks[r.disk_id].source_disk.region).path(disks[r.disk_id].source_disk.path))
            == r.sha256
        )


@pytest.fixture
def image_with_data_disk(make_image):
    return make_image("multi", data_luns=(0, 3))


def test_three_regions_one_zrs_all_replicas_verified(celery_processes, make_version, image_with_data_disk):
    celery_processes.worker(regions=REGIONS)
    version = make_version(
        "1.0.0",
        source=image_with_data_disk,
        target_regions=[T("westeurope", 2), T("eastus", 1), T("northeurope", 2, "Standard_ZRS")],
    )
    wait_for(lambda: settled(version), 120, "replication to finish")
    version.refresh_from_db()
    rows = {t.region.name: t for t in version.target_regions.select_related("region")}
    assert {n: t.state for n, t in rows.items()} == dict.fromkeys(REGIONS, "Completed")
    assert version.provisioning_state == "Succeeded"
    assert version.aggregated_state() == "Completed"
    assert all(t.bytes_done == t.bytes_total > 0 and t.percent == 100 for t in rows.values())
    # 3 disks × (2 + 1 + 3 copies): ZRS keeps a copy in each of the three zones even at count 2.
    assert Replica.objects.filter(target_region__version=version).count() == 3 * 6
    zrs = Replica.objects.filter(target_region=rows["northeurope"])
    assert sorted({r.zone for r in zrs}) == ["1", "2", "3"]
    assert_replicas_match_source(version)
    assert files_on_disk(version.pk) == rows_of(version.pk)
    assert temporaries() == []
    assert ActivityLogEntry.objects.filter(resource=version, message__contains="completed").count() == 3
    assert services.latest_version(version.definition, rows["eastus"].region) == version


def test_a_killed_worker_is_replaced_and_leaves_nothing_behind(celery_processes, make_version, make_image):
    image = make_image("big", data_luns=())
    # Make the source large enough that the copy is slow under a bandwidth cap, to kill it mid-copy.
    lease = 2
    slow = celery_processes.worker(
        regions=["westeurope"],
        env={"REPLICATION_MAX_BYTES_PER_SECOND": 512 * 1024, "REPLICATION_LEASE_SECONDS": lease},
    )
    version = make_version("1.0.0", source=image, target_regions=[T("westeurope", 2)])
    target = version.target_regions.get()
    wait_for(lambda: TargetRegion.objects.get(pk=target.pk).bytes_done > 0, 60, "the copy to start")
    wait_for(temporaries, 10, "a partial copy on disk")
    slow.kill()  # SIGKILL, mid-copy
    row = TargetRegion.objects.get(pk=target.pk)
    assert row.state == "Replicating" and row.lease_owner  # the dead worker's lease, still there
    assert temporaries()  # its partial file too

    celery_processes.worker(regions=["westeurope"], env={"REPLICATION_LEASE_SECONDS": lease})
    celery_processes.beat(
        env={"REPLICATION_REAPER_INTERVAL_SECONDS": 1, "REPLICATION_REAPER_GRACE_SECONDS": 1}
    )
    wait_for(lambda: settled(version), 120, "a new worker to finish the job")
    row = TargetRegion.objects.get(pk=target.pk)
    assert row.state == "Completed" and row.lease_owner == "" and row.lease_expires_at is None
    assert not TargetRegion.objects.filter(state="Replicating").exists()
    assert temporaries() == []
    assert_replicas_match_source(version)
    assert files_on_disk(version.pk) == rows_of(version.pk)


def test_the_scrub_repairs_a_corrupt_copy_and_a_lost_zone(celery_processes, make_version, image):
    celery_processes.worker(regions=["westeurope", "northeurope"])
    version = make_version("1.0.0", target_regions=[T("westeurope", 1), T("northeurope", 1, "Standard_ZRS")])
    wait_for(lambda: settled(version), 120, "replication")
    zrs = TargetRegion.objects.get(version=version, region__name="northeurope")
    by_zone = {r.zone: r for r in Replica.objects.filter(target_region=zrs)}
    corrupt = replica_file(by_zone["1"])
    data = bytearray(corrupt.read_bytes())
    data[4096] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    zone2 = replication.store_for(zrs.region, "2").base
    import shutil

    shutil.rmtree(zone2)

    from galleries.tasks import scrub_region

    scrub_region.delay(region="northeurope")
    wait_for(
        lambda: ActivityLogEntry.objects.filter(
            resource=version, message__startswith="Scrub of North Europe"
        ).exists(),
        60,
        "the scrub's findings",
    )
    wait_for(lambda: settled(version), 120, "the repair")
    entry = ActivityLogEntry.objects.get(resource=version, message__startswith="Scrub of North Europe")
    assert "2 missing or corrupt" in entry.message
    assert_replicas_match_source(version)
    assert sorted(r.zone for r in Replica.objects.filter(target_region=zrs)) == ["1", "2", "3"]
    assert files_on_disk(version.pk) == rows_of(version.pk)


def test_changes_keep_files_and_rows_equal(celery_processes, caller, make_version, image):
    celery_processes.worker(regions=REGIONS)
    version = make_version("1.0.0", target_regions=[T("westeurope", 1)])

    def after(step):
        wait_for(lambda: settled(version), 120, step)
        assert files_on_disk(version.pk) == rows_of(version.pk), step
        assert temporaries() == [], step

    after("creation")
    services.update_version(caller, version, target_regions=[T("westeurope", 1), T("eastus", 1)])
    after("adding a region")
    assert {r[0] for r in rows_of(version.pk)} == {"westeurope", "eastus"}
    services.update_version(caller, version, target_regions=[T("westeurope", 3), T("eastus", 1)])
    after("raising a count")
    assert len([r for r in rows_of(version.pk) if r[0] == "westeurope"]) == 3
    services.update_version(caller, version, target_regions=[T("westeurope", 1), T("eastus", 1)])
    after("lowering a count")
    assert len([r for r in rows_of(version.pk) if r[0] == "westeurope"]) == 1
    services.update_version(caller, version, target_regions=[T("westeurope", 1)])
    after("removing a region")
    assert {r[0] for r in rows_of(version.pk)} == {"westeurope"}
    assert not TargetRegion.objects.filter(version=version, region__name="eastus").exists()
    version.refresh_from_db()
    assert version.provisioning_state == "Succeeded"

    services.delete_version(caller, version)
    wait_for(lambda: not GalleryImageVersion.objects.filter(pk=version.pk).exists(), 60, "the deletion")
    assert files_on_disk(version.pk) == set()
    assert not Replica.objects.exists()


def test_a_failed_region_is_retried_alone(celery_processes, caller, make_version, image):
    celery_processes.worker(
        regions=["westeurope", "eastus"],
        env={"REPLICATION_MAX_ATTEMPTS": 2, "REPLICATION_RETRY_BASE_SECONDS": 1},
    )
    # Corrupt the source disk so every copy fails its checksum.
    src = RegionStore(image.os_disk.region).path(image.os_disk.path)
    good = src.read_bytes()
    src.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    version = make_version("1.0.0", target_regions=[T("westeurope", 1), T("eastus", 1)])
    wait_for(lambda: settled(version), 120, "both regions to fail")
    rows = {t.region.name: t for t in TargetRegion.objects.filter(version=version).select_related("region")}
    assert {t.state for t in rows.values()} == {"Failed"}
    assert "did not verify" in rows["eastus"].last_error and rows["eastus"].attempts == 2
    version.refresh_from_db()
    assert version.provisioning_state == "Failed" and version.aggregated_state() == "Failed"
    assert temporaries() == [] and not Replica.objects.exists()

    src.write_bytes(good)  # the operator repairs the source
    assert sorted(services.retry_failed_regions(caller, version)) == ["eastus", "westeurope"]
    wait_for(lambda: settled(version), 120, "the retried regions")
    assert set(TargetRegion.objects.filter(version=version).values_list("state", flat=True)) == {"Completed"}
    version.refresh_from_db()
    assert version.provisioning_state == "Succeeded"
    assert_replicas_match_source(version)
