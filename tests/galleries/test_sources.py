"""F4 sources: registering a VHD already in storage, managed images and snapshots made from blobs
(deep copies with size and SHA-256), and deleting them while image versions still use them.

Every test gets its own region-store root (a tmp folder), so the files under ``disks/`` can be
checked exactly: a refused write leaves nothing half written.
"""

from __future__ import annotations

import hashlib
import importlib
import io

import pytest
from conftest import assert_error

from accounts.activity import Caller
from accounts.models import ActivityLogEntry
from accounts.services import create_resource_group, create_subscription
from galleries import services, vhd
from galleries.models import Blob, ManagedImage, ManagedImageDataDisk, Region, Snapshot, StoredDisk
from galleries.storage import RegionStore
from portal.core.errors import ServiceError

MIB = vhd.MIB
FOOTER = vhd.FOOTER_SIZE
OS_BLOB = "properties.storageProfile.osDisk.blobUri"


def lun_target(i: int) -> str:
    return f"properties.storageProfile.dataDisks[{i}].lun"


def vhd_bytes(virtual_mib: int = 1, seed: int = 1) -> bytes:
    buf = io.BytesIO()
    vhd.write_fixed_vhd(buf, virtual_mib * MIB, seed=seed)
    return buf.getvalue()


def blob_bytes(blob: Blob) -> bytes:
    return RegionStore(blob.region).path(blob.relative_path).read_bytes()


def disk_path(disk: StoredDisk):
    return RegionStore(disk.region).path(disk.path)


def disk_files(rg) -> set[str]:
    """Every file (temporary ones included) under the region's ``disks/`` folder."""
    root = RegionStore(rg.location).path("disks")
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def assert_deep_copy(disk: StoredDisk, blob: Blob) -> None:
    src, dst = RegionStore(blob.region).path(blob.relative_path), disk_path(disk)
    assert disk.region_id == blob.region_id
    assert disk.path != blob.relative_path
    assert disk.path.startswith("disks/")
    assert dst.is_file()
    assert src.stat().st_ino != dst.stat().st_ino  # a copy, not a link to the blob's bytes
    data = dst.read_bytes()
    assert data == src.read_bytes()
    assert disk.size_bytes == len(data) == blob.size_bytes
    assert disk.sha256 == hashlib.sha256(data).hexdigest() == blob.sha256


@pytest.fixture
def uploading_blob(caller, rg):
    data = vhd_bytes(1, seed=99)
    blob = services.start_upload(caller, rg, "partial.vhd", len(data))
    return services.upload_chunk(caller, blob, 0, data[:5000])


# --- register_blob: a VHD already in storage (scenario 2) ------------------------------------------------


def put_in_store(rg, name: str, data: bytes, container: str = "vhds"):
    path = RegionStore(rg.location).path(f"blobs/{rg.pk}/{container}/{name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_register_a_vhd_already_in_storage(caller, rg):
    data = vhd_bytes(2, seed=21)
    path = put_in_store(rg, "legacy.vhd", data)
    blob = services.register_blob(caller, rg, "legacy.vhd")
    blob.refresh_from_db()
    assert blob.state == Blob.State.AVAILABLE
    assert blob.name == "legacy.vhd"
    assert blob.container == "vhds"
    assert blob.region == rg.location
    assert blob.size_bytes == blob.bytes_received == len(data)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert RegionStore(blob.region).path(blob.relative_path) == path
    assert path.read_bytes() == data
    entry = ActivityLogEntry.objects.get(resource_arm_id=f"{rg.arm_id}/blobs/vhds/legacy.vhd")
    assert (entry.operation, entry.status) == ("Microsoft.Storage/blobs/write", "Succeeded")


def test_register_in_another_container_then_make_an_image_from_it(caller, rg):
    data = vhd_bytes(1, seed=22)
    put_in_store(rg, "legacy.vhd", data, container="old-disks")
    blob = services.register_blob(caller, rg, "legacy.vhd", container="old-disks")
    image = services.create_managed_image(caller, rg, "fromLegacy", os_blob=blob, os_type="Windows")
    assert image.os_type == "Windows"
    assert image.source_uri == blob.uri
    assert_deep_copy(image.os_disk, blob)


def test_register_a_missing_file_is_refused(caller, rg):
    put_in_store(rg, "other.vhd", vhd_bytes(1))
    with pytest.raises(ServiceError) as exc:
        services.register_blob(caller, rg, "missing.vhd")
    assert_error(exc, "InvalidParameter", "name", "No blob 'vhds/missing.vhd' exists", "West Europe")
    assert not Blob.objects.filter(resource_group=rg).exists()
    entry = ActivityLogEntry.objects.get(resource_arm_id=f"{rg.arm_id}/blobs/vhds/missing.vhd")
    assert entry.status == ActivityLogEntry.Status.FAILED


def test_register_a_folder_is_refused(caller, rg):
    RegionStore(rg.location).path(f"blobs/{rg.pk}/vhds/folder.vhd").mkdir(parents=True)
    with pytest.raises(ServiceError) as exc:
        services.register_blob(caller, rg, "folder.vhd")
    assert_error(exc, "InvalidParameter", "name", "No blob")


def _footer(data: bytes, footer: bytes) -> bytes:
    return data[:-FOOTER] + footer


def _flip(data: bytes, index: int) -> bytes:
    b = bytearray(data)
    b[index] ^= 0xFF
    return bytes(b)


def _odd_size_vhd() -> bytes:
    buf = io.BytesIO()
    vhd.write_fixed_vhd(buf, MIB + MIB // 2, seed=4, allow_invalid=True)
    return buf.getvalue()


INVALID_FILES = {
    "cookie": (lambda: _flip(vhd_bytes(1), -FOOTER), ["expected 'conectix'"]),
    "checksum": (lambda: _flip(vhd_bytes(1), -FOOTER + 30), ["checksum", "corrupt"]),
    "dynamic": (
        lambda: _footer(vhd_bytes(1), vhd.make_footer(MIB, disk_type=vhd.DISK_TYPE_DYNAMIC)),
        ["dynamic", "only fixed-size"],
    ),
    "size_mismatch": (
        lambda: _footer(vhd_bytes(2), vhd.make_footer(MIB)),
        ["the footer says the disk is 1,048,576 bytes", "2,097,152 bytes"],
    ),
    "not_whole_mib": (_odd_size_vhd, ["1,572,864 bytes", "not a whole number of MiB"]),
    "raw": (lambda: vhd_bytes(1)[:-FOOTER], ["not a whole number of MiB", "footer seems to be missing"]),
    "tiny": (lambda: b"conectix", ["larger than 512 bytes"]),
    "empty": (lambda: b"", ["larger than 512 bytes"]),
}


@pytest.mark.parametrize("kind", list(INVALID_FILES))
def test_register_an_invalid_vhd_is_refused_and_the_file_left_alone(caller, rg, kind):
    build, words = INVALID_FILES[kind]
    data = build()
    path = put_in_store(rg, "bad.vhd", data)
    with pytest.raises(ServiceError) as exc:
        services.register_blob(caller, rg, "bad.vhd")
    assert_error(exc, "InvalidParameter", "file", "'bad.vhd' is not a valid VHD", *words)
    assert not Blob.objects.filter(resource_group=rg).exists()
    assert path.read_bytes() == data  # not the service's file to delete
    entry = ActivityLogEntry.objects.get(resource_arm_id=f"{rg.arm_id}/blobs/vhds/bad.vhd")
    assert (entry.status, entry.error_code) == ("Failed", "InvalidParameter")


def test_register_twice_is_a_conflict(caller, rg):
    put_in_store(rg, "twice.vhd", vhd_bytes(1))
    first = services.register_blob(caller, rg, "twice.vhd")
    with pytest.raises(ServiceError) as exc:
        services.register_blob(caller, rg, "twice.vhd")
    assert_error(exc, "Conflict", "name", "'vhds/twice.vhd'", "already registered")
    assert list(Blob.objects.filter(resource_group=rg)) == [first]


def test_register_the_name_of_an_uploaded_blob_is_a_conflict(caller, rg, make_blob):
    blob = make_blob("up.vhd", virtual_mib=1)
    with pytest.raises(ServiceError) as exc:
        services.register_blob(caller, rg, "up.vhd")
    assert_error(exc, "Conflict", "name", "already registered")
    assert list(Blob.objects.filter(resource_group=rg)) == [blob]


@pytest.mark.parametrize(
    "name, container, target",
    [("legacy.vhdx", "vhds", "name"), ("../legacy.vhd", "vhds", "name"), ("legacy.vhd", "VHDS", "container")],
)
def test_register_checks_the_names(caller, rg, name, container, target):
    with pytest.raises(ServiceError) as exc:
        services.register_blob(caller, rg, name, container=container)
    assert_error(exc, "InvalidParameter", target, "invalid")


# --- Managed images ---------------------------------------------------------------------------------------


def test_managed_image_with_data_disks_is_a_deep_copy(caller, rg, make_blob):
    os_blob = make_blob("os.vhd", virtual_mib=2)
    d0, d5 = make_blob("d0.vhd", virtual_mib=1), make_blob("d5.vhd", virtual_mib=1)
    disks_before = StoredDisk.objects.count()

    image = services.create_managed_image(
        caller,
        rg,
        "web",
        os_blob=os_blob,
        os_type="linux",
        data_blobs=[(5, d5), (0, d0)],
        tags={"env": "test"},
    )

    image = ManagedImage.objects.get(pk=image.pk)
    assert image.name == "web"
    assert image.os_type == "Linux"
    assert image.os_state == "Generalized"
    assert image.hyper_v_generation == "V1"
    assert image.location == rg.location
    assert image.tags == {"env": "test"}
    assert image.source_uri == os_blob.uri
    assert image.arm_id == f"{rg.arm_id}/providers/Microsoft.Compute/images/web"
    assert_deep_copy(image.os_disk, os_blob)
    data_disks = list(image.data_disks.select_related("disk"))
    assert [d.lun for d in data_disks] == [0, 5]
    assert_deep_copy(data_disks[0].disk, d0)
    assert_deep_copy(data_disks[1].disk, d5)
    paths = {image.os_disk.path} | {d.disk.path for d in data_disks}
    assert len(paths) == 3
    assert StoredDisk.objects.count() == disks_before + 3
    assert disk_files(rg) == {p.removeprefix("disks/") for p in paths}
    # The blobs are untouched, and the image no longer depends on them.
    for b in (os_blob, d0, d5):
        assert hashlib.sha256(blob_bytes(b)).hexdigest() == b.sha256
    entry = ActivityLogEntry.objects.get(resource_arm_id=image.arm_id)
    assert (entry.operation, entry.status) == ("Microsoft.Compute/images/write", "Succeeded")


def test_the_same_blob_may_back_two_disks_as_separate_copies(caller, rg, make_blob):
    b = make_blob("shared.vhd", virtual_mib=1)
    image = services.create_managed_image(
        caller, rg, "twice", os_blob=b, os_type="Linux", data_blobs=[(1, b)]
    )
    data_disk = image.data_disks.get().disk
    assert image.os_disk.path != data_disk.path
    assert image.os_disk.sha256 == data_disk.sha256 == b.sha256


def test_a_blob_may_be_named_instead_of_passed(caller, rg, make_blob):
    make_blob("byname.vhd", virtual_mib=1)
    image = services.create_managed_image(caller, rg, "byName", os_blob="ByName.vhd", os_type="Linux")
    assert image.os_disk.size_bytes == MIB + FOOTER


@pytest.mark.parametrize(
    "luns, index, shown",
    [
        ((64,), 0, "64"),
        ((-1,), 0, "-1"),
        ((0, 64), 1, "64"),
        ((1, 2, 99), 2, "99"),
        (("1",), 0, "1"),
        ((True,), 0, "True"),
        ((1.0,), 0, "1.0"),
        ((None,), 0, "None"),
    ],
)
def test_a_lun_out_of_range_is_refused(caller, rg, make_blob, luns, index, shown):
    blobs = [make_blob(virtual_mib=1) for _ in luns]
    os_blob = make_blob(virtual_mib=1)
    before = StoredDisk.objects.count()
    with pytest.raises(ServiceError) as exc:
        services.create_managed_image(
            caller,
            rg,
            "img",
            os_blob=os_blob,
            os_type="Linux",
            data_blobs=list(zip(luns, blobs, strict=True)),
        )
    assert_error(exc, "InvalidParameter", lun_target(index), "between 0 and 63", f"{shown} was given")
    assert StoredDisk.objects.count() == before
    assert disk_files(rg) == set()
    assert not ManagedImage.objects.exists()


def test_luns_zero_and_sixty_three_are_allowed(caller, rg, make_blob):
    image = services.create_managed_image(
        caller,
        rg,
        "edges",
        os_blob=make_blob(virtual_mib=1),
        os_type="Linux",
        data_blobs=[(63, make_blob(virtual_mib=1)), (0, make_blob(virtual_mib=1))],
    )
    assert list(image.data_disks.values_list("lun", flat=True)) == [0, 63]


def test_a_duplicate_lun_listed_last_is_refused_and_nothing_is_written(caller, rg, make_blob):
    os_blob = make_blob(virtual_mib=1)
    data = [(0, make_blob(virtual_mib=1)), (7, make_blob(virtual_mib=1)), (7, make_blob(virtual_mib=1))]
    before = StoredDisk.objects.count()
    with pytest.raises(ServiceError) as exc:
        services.create_managed_image(caller, rg, "dup", os_blob=os_blob, os_type="Linux", data_blobs=data)
    assert_error(exc, "InvalidParameter", lun_target(2), "LUN 7", "two data disks")
    assert StoredDisk.objects.count() == before
    assert not ManagedImageDataDisk.objects.exists()
    assert disk_files(rg) == set()
    entry = ActivityLogEntry.objects.get(
        resource_arm_id=f"{rg.arm_id}/providers/Microsoft.Compute/images/dup"
    )
    assert (entry.status, entry.error_code) == ("Failed", "InvalidParameter")


def test_a_blob_still_uploading_is_refused(caller, rg, uploading_blob):
    with pytest.raises(ServiceError) as exc:
        services.create_managed_image(caller, rg, "early", os_blob=uploading_blob, os_type="Linux")
    assert_error(
        exc, "InvalidParameter", OS_BLOB, "'partial.vhd'", "still uploading", "5,000 of 1,049,088 bytes"
    )
    assert not StoredDisk.objects.exists()
    assert disk_files(rg) == set()


def test_a_data_blob_still_uploading_after_others_were_copied_leaves_nothing(
    caller, rg, make_blob, uploading_blob
):
    image_before = make_blob(virtual_mib=1)
    existing = services.create_managed_image(caller, rg, "existing", os_blob=image_before, os_type="Linux")
    files_before, disks_before = disk_files(rg), StoredDisk.objects.count()
    assert files_before == {existing.os_disk.path.removeprefix("disks/")}

    with pytest.raises(ServiceError) as exc:
        services.create_managed_image(
            caller,
            rg,
            "late",
            os_blob=make_blob(virtual_mib=1),
            os_type="Linux",
            data_blobs=[(0, make_blob(virtual_mib=1)), (1, uploading_blob)],
        )
    assert_error(
        exc,
        "InvalidParameter",
        "properties.storageProfile.dataDisks[1].blobUri",
        "'partial.vhd'",
        "still uploading",
    )
    assert disk_files(rg) == files_before
    assert StoredDisk.objects.count() == disks_before
    assert list(ManagedImage.objects.values_list("name", flat=True)) == ["existing"]


def test_a_blob_changed_on_disk_is_refused_after_the_copy_and_the_copy_removed(caller, rg, make_blob):
    os_blob = make_blob(virtual_mib=1)
    tampered = make_blob("tampered.vhd", virtual_mib=1)
    path = RegionStore(tampered.region).path(tampered.relative_path)
    path.write_bytes(_flip(path.read_bytes(), 100))
    with pytest.raises(ServiceError) as exc:
        services.create_managed_image(
            caller, rg, "tamper", os_blob=os_blob, os_type="Linux", data_blobs=[(0, tampered)]
        )
    assert_error(exc, "InvalidParameter", "properties.storageProfile.dataDisks[0].blobUri", "changed on disk")
    assert disk_files(rg) == set()
    assert not StoredDisk.objects.exists()


@pytest.mark.parametrize("name", ["", "-img", ".img", "_img", "img-", "img.", "im g", "im/g", "a" * 81, None])
def test_an_invalid_image_name_is_refused(caller, rg, make_blob, name):
    os_blob = make_blob(virtual_mib=1)
    with pytest.raises(ServiceError) as exc:
        services.create_managed_image(caller, rg, name, os_blob=os_blob, os_type="Linux")
    assert_error(exc, "InvalidParameter", "name", "image name")
    assert disk_files(rg) == set()
    assert not StoredDisk.objects.exists()


@pytest.mark.parametrize("name", ["a", "img_", "My.Image-1_", "a" * 80])
def test_valid_image_names_are_accepted(caller, rg, make_blob, name):
    image = services.create_managed_image(caller, rg, name, os_blob=make_blob(virtual_mib=1), os_type="Linux")
    assert image.name == name


@pytest.mark.parametrize("second", ["Base", "base", "BASE"])
def test_a_duplicate_image_name_is_a_conflict_and_nothing_is_written(caller, rg, make_blob, second):
    first = services.create_managed_image(
        caller, rg, "Base", os_blob=make_blob(virtual_mib=1), os_type="Linux"
    )
    files_before, disks_before = disk_files(rg), StoredDisk.objects.count()
    with pytest.raises(ServiceError) as exc:
        services.create_managed_image(
            caller,
            rg,
            second,
            os_blob=make_blob(virtual_mib=1),
            os_type="Linux",
            data_blobs=[(0, make_blob(virtual_mib=1))],
        )
    assert_error(exc, "Conflict", "name", f"'{second}'", "already exists")
    assert disk_files(rg) == files_before
    assert StoredDisk.objects.count() == disks_before
    assert list(ManagedImage.objects.all()) == [first]


def test_the_same_image_name_in_another_resource_group_is_allowed(caller, rg, subscription, make_blob):
    services.create_managed_image(caller, rg, "base", os_blob=make_blob(virtual_mib=1), os_type="Linux")
    rg2 = create_resource_group(caller, subscription, "other", "westeurope")
    image = services.create_managed_image(
        caller, rg2, "base", os_blob=make_blob(virtual_mib=1, resource_group=rg2), os_type="Linux"
    )
    assert image.resource_group_id == rg2.pk


@pytest.mark.parametrize(
    "kwargs, target",
    [
        ({"os_type": "Solaris"}, "properties.storageProfile.osDisk.osType"),
        ({"os_type": ""}, "properties.storageProfile.osDisk.osType"),
        ({"hyper_v_generation": "V3"}, "properties.hyperVGeneration"),
    ],
)
def test_bad_os_type_or_generation_is_refused(caller, rg, make_blob, kwargs, target):
    kwargs = {"os_type": "Linux", **kwargs}
    with pytest.raises(ServiceError) as exc:
        services.create_managed_image(caller, rg, "img", os_blob=make_blob(virtual_mib=1), **kwargs)
    assert_error(exc, "InvalidParameter", target, "not a valid")


def test_a_blob_of_another_subscription_is_refused(caller, tenant, rg, make_blob):
    other_sub = create_subscription(Caller.system(), tenant, "Other", owner=caller.principal)
    other_rg = create_resource_group(caller, other_sub, "theirs", "westeurope")
    theirs = make_blob("theirs.vhd", virtual_mib=1, resource_group=other_rg)
    with pytest.raises(ServiceError) as exc:
        services.create_managed_image(caller, rg, "img", os_blob=theirs, os_type="Linux")
    assert_error(exc, "InvalidParameter", OS_BLOB, "does not exist in this subscription")
    assert disk_files(rg) == set()


def test_data_disks_must_be_in_the_os_disk_region(caller, rg, subscription, make_blob):
    far_rg = create_resource_group(caller, subscription, "far", "eastus")
    far = make_blob("far.vhd", virtual_mib=1, resource_group=far_rg)
    with pytest.raises(ServiceError) as exc:
        services.create_managed_image(
            caller, rg, "img", os_blob=make_blob(virtual_mib=1), os_type="Linux", data_blobs=[(0, far)]
        )
    assert_error(exc, "InvalidParameter", "properties.storageProfile", "same region")
    assert disk_files(rg) == set()
    assert disk_files(far_rg) == set()


# --- Snapshots ------------------------------------------------------------------------------------------


def test_os_snapshot(caller, rg, make_blob):
    b = make_blob("osdisk.vhd", virtual_mib=2)
    snap = services.create_snapshot(
        caller, rg, "os-snap", blob=b, os_type="Linux", os_state="Specialized", hyper_v_generation="V2"
    )
    snap = Snapshot.objects.get(pk=snap.pk)
    assert (snap.os_type, snap.os_state, snap.hyper_v_generation) == ("Linux", "Specialized", "V2")
    assert snap.location == rg.location
    assert snap.source_uri == b.uri
    assert snap.arm_id == f"{rg.arm_id}/providers/Microsoft.Compute/snapshots/os-snap"
    assert_deep_copy(snap.disk, b)


def test_data_snapshot_has_no_os_type(caller, rg, make_blob):
    b = make_blob("data.vhd", virtual_mib=1)
    snap = services.create_snapshot(caller, rg, "data-snap", blob=b)
    snap = Snapshot.objects.get(pk=snap.pk)
    assert snap.os_type == ""
    assert snap.os_state == "Generalized"
    assert_deep_copy(snap.disk, b)


@pytest.mark.parametrize("state", ["Sleeping", "generalised", ""])
def test_a_bad_os_state_is_refused(caller, rg, make_blob, state):
    with pytest.raises(ServiceError) as exc:
        services.create_snapshot(
            caller, rg, "snap", blob=make_blob(virtual_mib=1), os_type="Linux", os_state=state
        )
    assert_error(
        exc, "InvalidParameter", "properties.osState", "not a valid OS state", "Generalized", "Specialized"
    )
    assert not Snapshot.objects.exists()
    assert disk_files(rg) == set()


def test_a_bad_snapshot_os_type_is_refused(caller, rg, make_blob):
    with pytest.raises(ServiceError) as exc:
        services.create_snapshot(caller, rg, "snap", blob=make_blob(virtual_mib=1), os_type="Plan9")
    assert_error(exc, "InvalidParameter", "properties.osType", "not a valid OS type")


def test_a_snapshot_of_a_blob_still_uploading_is_refused(caller, rg, uploading_blob):
    with pytest.raises(ServiceError) as exc:
        services.create_snapshot(caller, rg, "snap", blob=uploading_blob)
    assert_error(exc, "InvalidParameter", "properties.creationData.sourceUri", "still uploading")
    assert disk_files(rg) == set()


def test_a_duplicate_snapshot_name_is_a_conflict(caller, rg, make_blob):
    services.create_snapshot(caller, rg, "Snap1", blob=make_blob(virtual_mib=1))
    files_before = disk_files(rg)
    with pytest.raises(ServiceError) as exc:
        services.create_snapshot(caller, rg, "snap1", blob=make_blob(virtual_mib=1))
    assert_error(exc, "Conflict", "name", "already exists")
    assert disk_files(rg) == files_before
    assert StoredDisk.objects.count() == 1


def test_a_snapshot_of_a_blob_changed_on_disk_leaves_nothing(caller, rg, make_blob):
    b = make_blob(virtual_mib=1)
    path = RegionStore(b.region).path(b.relative_path)
    path.write_bytes(_flip(path.read_bytes(), 0))
    with pytest.raises(ServiceError) as exc:
        services.create_snapshot(caller, rg, "snap", blob=b)
    assert_error(exc, "InvalidParameter", "properties.creationData.sourceUri", "changed on disk")
    assert disk_files(rg) == set()
    assert not StoredDisk.objects.exists()


# --- Deleting sources ----------------------------------------------------------------------------------


def test_an_image_that_is_a_version_source_cannot_be_deleted_until_the_version_is(
    caller, rg, make_blob, make_version, django_capture_on_commit_callbacks
):
    image = services.create_managed_image(
        caller,
        rg,
        "src",
        os_blob=make_blob(virtual_mib=1),
        os_type="Linux",
        data_blobs=[(2, make_blob(virtual_mib=1))],
    )
    version = make_version("1.2.3", source=image)
    disks = [image.os_disk, image.data_disks.get().disk]
    paths = [disk_path(d) for d in disks]

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ServiceError) as exc:
        services.delete_managed_image(caller, image)
    assert_error(exc, "Conflict", "name", "'src'", version.arm_id, "delete that version first")
    assert "1.2.3" in exc.value.message
    assert ManagedImage.objects.filter(pk=image.pk).exists()
    assert StoredDisk.objects.filter(pk__in=[d.pk for d in disks]).count() == 2
    assert all(p.is_file() for p in paths)
    failed = ActivityLogEntry.objects.get(resource_arm_id=image.arm_id, status="Failed")
    assert (failed.operation, failed.error_code) == ("Microsoft.Compute/images/delete", "Conflict")

    services.delete_version(caller, version)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.delete_managed_image(caller, image)
    assert callbacks
    assert not ManagedImage.objects.filter(pk=image.pk).exists()
    assert not StoredDisk.objects.filter(pk__in=[d.pk for d in disks]).exists()
    assert not any(p.exists() for p in paths)
    done = ActivityLogEntry.objects.get(
        resource_arm_id=image.arm_id, operation="Microsoft.Compute/images/delete", status="Succeeded"
    )
    assert done.resource is None


def test_deleting_an_image_keeps_the_blob_and_other_images(
    caller, rg, make_blob, django_capture_on_commit_callbacks
):
    b = make_blob(virtual_mib=1)
    a = services.create_managed_image(caller, rg, "a", os_blob=b, os_type="Linux")
    keep = services.create_managed_image(caller, rg, "keep", os_blob=b, os_type="Linux")
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_managed_image(caller, a)
    assert disk_files(rg) == {keep.os_disk.path.removeprefix("disks/")}
    assert blob_bytes(b) and hashlib.sha256(blob_bytes(b)).hexdigest() == b.sha256
    # The name is free again.
    again = services.create_managed_image(caller, rg, "A", os_blob=b, os_type="Linux")
    assert again.name == "A"


@pytest.fixture
def regions_seeded(transactional_db):
    """Another transactional test may have flushed the seeded region catalogue: seed it again."""
    from django.apps import apps

    seed_regions = importlib.import_module("galleries.migrations.0002_seed_regions")
    if not Region.objects.filter(name="westeurope").exists():
        seed_regions.seed(apps, None)


@pytest.mark.django_db(transaction=True)
def test_deleted_image_files_are_removed_on_a_real_commit(regions_seeded, caller, rg, make_blob):
    image = services.create_managed_image(
        caller,
        rg,
        "committed",
        os_blob=make_blob(virtual_mib=1),
        os_type="Linux",
        data_blobs=[(0, make_blob(virtual_mib=1))],
    )
    paths = [disk_path(image.os_disk), disk_path(image.data_disks.get().disk)]
    assert all(p.is_file() for p in paths)
    services.delete_managed_image(caller, image)
    assert not any(p.exists() for p in paths)
    assert disk_files(rg) == set()


def test_a_snapshot_that_is_a_version_source_cannot_be_deleted_until_the_version_is(
    caller, rg, make_blob, make_version, django_capture_on_commit_callbacks
):
    os_snap = services.create_snapshot(caller, rg, "os", blob=make_blob(virtual_mib=1), os_type="Linux")
    data_snap = services.create_snapshot(caller, rg, "data", blob=make_blob(virtual_mib=1))
    version = make_version("2.0.0", source=os_snap, data_disk_snapshots=[(4, data_snap)])
    for snap in (os_snap, data_snap):
        with pytest.raises(ServiceError) as exc:
            services.delete_snapshot(caller, snap)
        assert_error(exc, "Conflict", "name", f"'{snap.name}'", version.arm_id)
        assert disk_path(snap.disk).is_file()

    services.delete_version(caller, version)
    for snap in (os_snap, data_snap):
        path = disk_path(snap.disk)
        with django_capture_on_commit_callbacks(execute=True):
            services.delete_snapshot(caller, snap)
        assert not path.exists()
        assert not Snapshot.objects.filter(pk=snap.pk).exists()
    assert not StoredDisk.objects.filter(pk__in=[os_snap.disk_id, data_snap.disk_id]).exists()


def test_an_image_used_through_a_copied_version_stays_protected(
    caller, rg, make_blob, make_definition, make_version
):
    """A version made from another version publishes the same stored disks: the image stays in use."""
    image = services.create_managed_image(
        caller, rg, "root", os_blob=make_blob(virtual_mib=1), os_type="Linux"
    )
    first = make_version("1.0.0", source=image)
    second = make_version("1.0.1", source=first, definition_=make_definition("copy"))
    services.delete_version(caller, first)
    with pytest.raises(ServiceError) as exc:
        services.delete_managed_image(caller, image)
    assert_error(exc, "Conflict", "name", second.arm_id)


def test_a_blob_whose_file_is_gone_is_refused(caller, rg, make_blob):
    b = make_blob(virtual_mib=1)
    RegionStore(b.region).path(b.relative_path).unlink()
    try:
        with pytest.raises(ServiceError) as exc:
            services.create_managed_image(caller, rg, "img", os_blob=b, os_type="Linux")
        assert_error(exc, "InvalidParameter", OS_BLOB, "'disk")
    finally:
        assert disk_files(rg) == set()
        assert not StoredDisk.objects.exists()


@pytest.mark.parametrize("kind", ["image", "snapshot"])
def test_a_trailing_newline_in_an_image_or_snapshot_name_is_refused(caller, rg, make_blob, kind):
    b = make_blob(virtual_mib=1)
    with pytest.raises(ServiceError) as exc:
        if kind == "image":
            services.create_managed_image(caller, rg, "img\n", os_blob=b, os_type="Linux")
        else:
            services.create_snapshot(caller, rg, "snap\n", blob=b)
    assert_error(exc, "InvalidParameter", "name", f"{kind} name")
