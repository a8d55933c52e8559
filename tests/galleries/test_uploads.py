"""F4 scenario 3: chunked, resumable VHD uploads (start_upload, upload_chunk, discard_upload).

Every test gets its own region-store root (a tmp folder), so what is on disk after a call can be
checked exactly. VHDs are 1–2 MiB of virtual size to keep the run fast.
"""

from __future__ import annotations

import hashlib
import io

import pytest
from conftest import assert_error

from accounts.models import ActivityLogEntry
from galleries import services, vhd
from galleries.models import Blob
from galleries.storage import RegionStore
from portal.core.errors import ServiceError

MIB = vhd.MIB
TIB = 1024**4
FOOTER = vhd.FOOTER_SIZE
WRITE = "Microsoft.Storage/blobs/write"


def vhd_bytes(virtual_mib: int = 2, seed: int = 1) -> bytes:
    buf = io.BytesIO()
    vhd.write_fixed_vhd(buf, virtual_mib * MIB, seed=seed)
    return buf.getvalue()


def with_footer(data: bytes, footer: bytes) -> bytes:
    assert len(footer) == FOOTER
    return data[:-FOOTER] + footer


def flip(data: bytes, index: int) -> bytes:
    """Flip every bit of the byte at ``index`` (negative: from the end)."""
    b = bytearray(data)
    b[index] ^= 0xFF
    return bytes(b)


def send(caller, blob: Blob, data: bytes, sizes) -> Blob:
    """Send ``data`` from where ``blob`` stands, in chunks of the given sizes (the last one repeats)."""
    sizes = list(sizes)
    i = 0
    while blob.bytes_received < len(data):
        n = sizes[min(i, len(sizes) - 1)]
        o = blob.bytes_received
        blob = services.upload_chunk(caller, blob, o, data[o : o + n])
        i += 1
    return blob


def files_in(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def arm(rg, name: str, container: str = "vhds") -> str:
    return f"{rg.arm_id}/blobs/{container}/{name}"


# --- A complete upload ---------------------------------------------------------------------------------


UNEVEN = (1000, 700_001, MIB + 3, 333_333)


def test_uneven_chunks_make_an_available_blob_with_the_right_digest(caller, rg):
    data = vhd_bytes(2)
    blob = services.start_upload(caller, rg, "disk.vhd", len(data))
    assert blob.state == Blob.State.UPLOADING
    assert blob.bytes_received == 0
    assert blob.region == rg.location

    blob = send(caller, blob, data, UNEVEN)

    blob.refresh_from_db()
    assert blob.state == Blob.State.AVAILABLE
    assert blob.bytes_received == blob.size_bytes == len(data)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    final = RegionStore(blob.region).path(blob.relative_path)
    assert final.is_file()
    assert final.read_bytes() == data


def test_bytes_live_under_the_temporary_name_until_the_last_chunk(caller, rg):
    data = vhd_bytes(2)
    blob = services.start_upload(caller, rg, "disk.vhd", len(data))
    store = RegionStore(blob.region)
    final, temp = store.path(blob.relative_path), store.path(blob.temp_relative_path)
    assert temp != final
    assert temp.parent == final.parent

    offsets = []
    for n in UNEVEN[:3]:
        o = blob.bytes_received
        blob = services.upload_chunk(caller, blob, o, data[o : o + n])
        offsets.append(blob.bytes_received)
        assert not final.exists()
        assert temp.is_file()
        assert temp.read_bytes() == data[: blob.bytes_received]
        assert files_in(final.parent) == [temp.name]
    assert offsets == [1000, 701_001, 701_001 + MIB + 3]

    o = blob.bytes_received
    blob = services.upload_chunk(caller, blob, o, data[o:])
    assert blob.state == Blob.State.AVAILABLE
    assert final.read_bytes() == data
    assert not temp.exists()
    assert files_in(final.parent) == ["disk.vhd"]


def test_a_whole_file_in_one_chunk(caller, rg):
    data = vhd_bytes(1)
    blob = services.start_upload(caller, rg, "one.vhd", len(data))
    blob = services.upload_chunk(caller, blob, 0, data)
    assert blob.state == Blob.State.AVAILABLE
    assert blob.sha256 == hashlib.sha256(data).hexdigest()


def test_upload_into_another_container(caller, rg):
    data = vhd_bytes(1)
    blob = services.start_upload(caller, rg, "disk.vhd", len(data), container="my-images")
    blob = send(caller, blob, data, [MIB])
    assert blob.container == "my-images"
    assert blob.relative_path == f"blobs/{rg.pk}/my-images/disk.vhd"
    assert RegionStore(blob.region).path(blob.relative_path).read_bytes() == data


# --- Resume --------------------------------------------------------------------------------------------


def test_starting_again_resumes_where_the_upload_stood(caller, rg):
    data = vhd_bytes(2, seed=7)
    blob = services.start_upload(caller, rg, "resume.vhd", len(data))
    for n in (300_000, 500_000, 123):
        o = blob.bytes_received
        blob = services.upload_chunk(caller, blob, o, data[o : o + n])
    stood = blob.bytes_received
    assert stood == 800_123

    again = services.start_upload(caller, rg, "resume.vhd", len(data))
    assert again.pk == blob.pk
    assert again.state == Blob.State.UPLOADING
    assert again.bytes_received == stood
    assert Blob.objects.filter(resource_group=rg).count() == 1

    done = send(caller, again, data, [MIB])
    assert done.state == Blob.State.AVAILABLE
    assert done.sha256 == hashlib.sha256(data).hexdigest()
    assert RegionStore(done.region).path(done.relative_path).read_bytes() == data


def test_resume_with_the_name_in_another_case_finds_the_same_upload(caller, rg):
    data = vhd_bytes(1)
    blob = services.start_upload(caller, rg, "Resume.vhd", len(data))
    blob = services.upload_chunk(caller, blob, 0, data[:4096])
    again = services.start_upload(caller, rg, "RESUME.vhd", len(data))
    assert again.pk == blob.pk
    assert again.bytes_received == 4096


def test_resume_in_another_process_rereads_the_written_bytes_for_the_digest(caller, rg):
    data = vhd_bytes(2, seed=11)
    blob = services.start_upload(caller, rg, "proc.vhd", len(data))
    blob = send(caller, blob, data[: MIB + 17], [400_000])
    assert blob.bytes_received == MIB + 17
    assert blob.pk in services._hashers

    services._hashers.clear()  # another worker process: no running digest in memory
    again = services.start_upload(caller, rg, "proc.vhd", len(data))
    assert again.bytes_received == MIB + 17
    o = again.bytes_received
    blob = services.upload_chunk(caller, again, o, data[o : o + 5000])

    services._hashers.clear()  # and once more right before the last chunk
    o = blob.bytes_received
    blob = services.upload_chunk(caller, blob, o, data[o:])
    assert blob.state == Blob.State.AVAILABLE
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.pk not in services._hashers


def test_a_stale_in_memory_digest_is_not_reused(caller, rg):
    """A process that saw the upload at an earlier offset must not continue from its old digest."""
    data = vhd_bytes(2, seed=12)
    blob = services.start_upload(caller, rg, "stale.vhd", len(data))
    blob = services.upload_chunk(caller, blob, 0, data[:1000])
    stale = services._hashers[blob.pk]
    blob = services.upload_chunk(caller, blob, 1000, data[1000:9000])
    services._hashers[blob.pk] = stale  # the cache of a process that missed the second chunk
    blob = send(caller, blob, data, [MIB])
    assert blob.sha256 == hashlib.sha256(data).hexdigest()


# --- Refused chunks --------------------------------------------------------------------------------------


@pytest.fixture
def half(caller, rg):
    """An upload of a 2 MiB VHD standing at 1,000,000 bytes, with its data."""
    data = vhd_bytes(2, seed=3)
    blob = services.start_upload(caller, rg, "half.vhd", len(data))
    blob = services.upload_chunk(caller, blob, 0, data[:1_000_000])
    return blob, data


@pytest.mark.parametrize("offset", [0, 999_999, 1_000_001, 2 * MIB])
def test_a_chunk_at_the_wrong_offset_is_a_conflict_saying_where_the_upload_stands(caller, half, offset):
    blob, data = half
    with pytest.raises(ServiceError) as exc:
        services.upload_chunk(caller, blob, offset, data[offset : offset + 1000] or b"x")
    assert_error(exc, "Conflict", "offset", "stands at byte 1,000,000", f"starts at {offset:,}")
    blob.refresh_from_db()
    assert blob.bytes_received == 1_000_000
    assert RegionStore(blob.region).size(blob.temp_relative_path) == 1_000_000
    # The upload is not harmed: it continues from where it stood.
    blob = send(caller, blob, data, [MIB])
    assert blob.sha256 == hashlib.sha256(data).hexdigest()


def test_a_chunk_past_the_declared_size_is_refused(caller, half):
    blob, data = half
    too_long = data[1_000_000:] + b"\0"
    with pytest.raises(ServiceError) as exc:
        services.upload_chunk(caller, blob, 1_000_000, too_long)
    assert_error(
        exc,
        "InvalidParameter",
        "chunk",
        "past the declared size",
        f"{len(data):,} bytes",
        f"{len(data) + 1:,}",
    )
    blob.refresh_from_db()
    assert blob.bytes_received == 1_000_000
    assert RegionStore(blob.region).size(blob.temp_relative_path) == 1_000_000
    blob = send(caller, blob, data, [MIB])
    assert blob.state == Blob.State.AVAILABLE


def test_an_empty_chunk_is_refused(caller, half):
    blob, data = half
    with pytest.raises(ServiceError) as exc:
        services.upload_chunk(caller, blob, 1_000_000, b"")
    assert_error(exc, "InvalidParameter", "chunk", "empty")
    blob.refresh_from_db()
    assert blob.bytes_received == 1_000_000


def test_a_chunk_after_completion_is_refused(caller, rg):
    data = vhd_bytes(1)
    blob = send(caller, services.start_upload(caller, rg, "done.vhd", len(data)), data, [MIB])
    for offset in (len(data), 0):
        with pytest.raises(ServiceError) as exc:
            services.upload_chunk(caller, blob, offset, b"more")
        assert_error(exc, "Conflict", "offset", "already complete", "done.vhd")
    assert RegionStore(blob.region).path(blob.relative_path).read_bytes() == data
    blob.refresh_from_db()
    assert blob.sha256 == hashlib.sha256(data).hexdigest()


def test_the_same_name_with_another_size_while_uploading_is_a_conflict(caller, half, rg):
    blob, data = half
    with pytest.raises(ServiceError) as exc:
        services.start_upload(caller, rg, "half.vhd", len(data) + MIB)
    assert_error(exc, "Conflict", "name", "half.vhd", "already exists")
    with pytest.raises(ServiceError) as exc:
        services.start_upload(caller, rg, "HALF.vhd", len(data) + MIB)
    assert_error(exc, "Conflict", "name", "already exists")
    blob.refresh_from_db()
    assert blob.size_bytes == len(data)
    assert blob.bytes_received == 1_000_000
    assert Blob.objects.filter(resource_group=rg).count() == 1


@pytest.mark.parametrize("name", ["taken.vhd", "TAKEN.vhd"])
@pytest.mark.parametrize("extra_mib", [0, 1])
def test_the_name_of_an_available_blob_cannot_be_uploaded_again(caller, rg, name, extra_mib):
    data = vhd_bytes(1)
    blob = send(caller, services.start_upload(caller, rg, "taken.vhd", len(data)), data, [MIB])
    with pytest.raises(ServiceError) as exc:
        services.start_upload(caller, rg, name, len(data) + extra_mib * MIB)
    assert_error(exc, "Conflict", "name", f"'{name}'", "already exists", "vhds")
    assert list(Blob.objects.filter(resource_group=rg)) == [blob]
    assert RegionStore(blob.region).path(blob.relative_path).read_bytes() == data


def test_the_same_name_in_another_container_or_resource_group_is_a_new_blob(caller, rg, subscription):
    from accounts.services import create_resource_group

    data = vhd_bytes(1)
    a = services.start_upload(caller, rg, "same.vhd", len(data))
    b = services.start_upload(caller, rg, "same.vhd", len(data), container="other")
    rg2 = create_resource_group(caller, subscription, "images2", "westeurope")
    c = services.start_upload(caller, rg2, "same.vhd", len(data))
    assert len({a.pk, b.pk, c.pk}) == 3


# --- Declared size, before any byte ----------------------------------------------------------------------


def _refused_before_any_byte(caller, rg, name, size, container="vhds"):
    with pytest.raises(ServiceError) as exc:
        services.start_upload(caller, rg, name, size, container=container)
    assert not Blob.objects.filter(resource_group=rg).exists()
    blobs = RegionStore(rg.location).path(f"blobs/{rg.pk}")
    assert not blobs.exists() or not any(blobs.rglob("*"))
    return exc


@pytest.mark.parametrize("size", [2 * MIB + FOOTER + 1, 2 * MIB + FOOTER - 1, 3 * MIB // 2 + FOOTER, 1000])
def test_a_size_that_is_not_whole_mib_plus_the_footer_is_refused(caller, rg, size):
    exc = _refused_before_any_byte(caller, rg, "disk.vhd", size)
    assert_error(exc, "InvalidParameter", "size", f"{size:,} bytes", "not a whole number of MiB")


def test_a_size_without_the_footer_says_the_footer_seems_missing(caller, rg):
    exc = _refused_before_any_byte(caller, rg, "disk.vhd", 2 * MIB)
    assert_error(exc, "InvalidParameter", "size", "not a whole number of MiB", "footer seems to be missing")


@pytest.mark.parametrize("size", [TIB + MIB + FOOTER, 2 * TIB + FOOTER, 100 * TIB + FOOTER])
def test_a_size_over_one_tib_is_refused(caller, rg, size):
    exc = _refused_before_any_byte(caller, rg, "big.vhd", size)
    assert_error(exc, "InvalidParameter", "size", "exceeds the 1 TiB limit")


def test_exactly_one_tib_is_accepted_without_allocating_anything(caller, rg):
    blob = services.start_upload(caller, rg, "tib.vhd", TIB + FOOTER)
    assert blob.state == Blob.State.UPLOADING
    assert blob.size_bytes == TIB + FOOTER
    store = RegionStore(blob.region)
    assert not store.path(blob.temp_relative_path).exists()
    assert not store.path(blob.relative_path).exists()


@pytest.mark.parametrize("size", [FOOTER, 1, 0, -1, -(MIB + FOOTER)])
def test_a_size_of_at_most_the_footer_is_refused(caller, rg, size):
    exc = _refused_before_any_byte(caller, rg, "tiny.vhd", size)
    assert_error(exc, "InvalidParameter", "size", "larger than 512 bytes")


@pytest.mark.parametrize("size", [float(MIB + FOOTER), str(MIB + FOOTER), None, True, b"1049088"])
def test_a_size_that_is_not_an_integer_is_refused(caller, rg, size):
    exc = _refused_before_any_byte(caller, rg, "disk.vhd", size)
    assert_error(exc, "InvalidParameter", "size", "whole number of bytes")


# --- Names -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "disk",
        "disk.vhdx",
        "disk.VHDX",
        "disk.vhd.gz",
        ".vhd",
        ".disk.vhd",
        "-disk.vhd",
        "_disk.vhd",
        "dis k.vhd",
        "dir/disk.vhd",
        "../disk.vhd",
        "..\\disk.vhd",
        "disk$.vhd",
        "dísk.vhd",
        "a" * 252 + ".vhd",
        "",
        None,
    ],
)
def test_invalid_blob_names_are_refused(caller, rg, name):
    exc = _refused_before_any_byte(caller, rg, name, MIB + FOOTER)
    assert_error(exc, "InvalidParameter", "name", "blob name", "ending in .vhd")


@pytest.mark.parametrize("name", ["d.vhd", "Disk_01-final.v2.vhd", "9.vhd", "a" * 200 + ".vhd"])
def test_valid_blob_names_are_accepted(caller, rg, name):
    blob = services.start_upload(caller, rg, name, MIB + FOOTER)
    assert blob.name == name


@pytest.mark.parametrize("name, container", [("disk.vhd\n", "vhds"), ("disk.vhd", "vhds\n")])
def test_a_trailing_newline_in_a_name_is_refused(caller, rg, name, container):
    with pytest.raises(ServiceError) as exc:
        services.start_upload(caller, rg, name, MIB + FOOTER, container=container)
    assert exc.value.code == "InvalidParameter"
    assert exc.value.target == ("name" if container == "vhds" else "container")
    assert not Blob.objects.filter(resource_group=rg).exists()


def test_the_longest_accepted_blob_name_can_be_uploaded(caller, rg):
    data = vhd_bytes(1)
    name = "a" * 251 + ".vhd"  # 255 characters: the longest the rule allows
    blob = services.start_upload(caller, rg, name, len(data))
    blob = send(caller, blob, data, [MIB])
    assert blob.state == Blob.State.AVAILABLE
    assert RegionStore(blob.region).path(blob.relative_path).read_bytes() == data


@pytest.mark.parametrize(
    "container",
    ["VHDS", "Vhds", "ab", "a", "", None, "a--b", "-abc", "abc-", "ab_c", "ab.c", "a" * 64, "ab/c", ".."],
)
def test_invalid_container_names_are_refused(caller, rg, container):
    exc = _refused_before_any_byte(caller, rg, "disk.vhd", MIB + FOOTER, container=container)
    assert_error(exc, "InvalidParameter", "container", "container name", "3–63 lower-case letters")


@pytest.mark.parametrize("container", ["abc", "a-b-c", "0vhds9", "a" * 63])
def test_valid_container_names_are_accepted(caller, rg, container):
    blob = services.start_upload(caller, rg, "disk.vhd", MIB + FOOTER, container=container)
    assert blob.container == container


# --- Footer validation at the end --------------------------------------------------------------------------


def _bad_cookie(data):
    return flip(data, -FOOTER)


def _bad_checksum(data):
    return flip(data, -FOOTER + 24)  # a byte of the timestamp: the checksum no longer adds up


def _dynamic(data):
    return with_footer(data, vhd.make_footer(len(data) - FOOTER, disk_type=vhd.DISK_TYPE_DYNAMIC))


def _differencing(data):
    return with_footer(data, vhd.make_footer(len(data) - FOOTER, disk_type=vhd.DISK_TYPE_DIFFERENCING))


def _smaller_disk(data):
    return with_footer(data, vhd.make_footer(len(data) - FOOTER - MIB))


def _larger_disk(data):
    return with_footer(data, vhd.make_footer(len(data) - FOOTER + MIB))


def _raw_image(data):
    """A raw disk: its last 512 bytes are disk data, not a footer."""
    return data[: 2 * MIB - FOOTER] + data[MIB : MIB + 2 * FOOTER]


FOOTER_DEFECTS = {
    "cookie": (_bad_cookie, ["cookie", "expected 'conectix'", "not a VHD"]),
    "checksum": (_bad_checksum, ["checksum", "corrupt or truncated"]),
    "dynamic": (_dynamic, ["dynamic", "only fixed-size VHDs are accepted"]),
    "differencing": (_differencing, ["differencing", "only fixed-size VHDs are accepted"]),
    "smaller": (
        _smaller_disk,
        ["the footer says the disk is 1,048,576 bytes", "2,097,152 bytes", "too many"],
    ),
    "larger": (_larger_disk, ["the footer says the disk is 3,145,728 bytes", "2,097,152 bytes", "missing"]),
    "raw": (_raw_image, ["cookie", "expected 'conectix'"]),
}


def test_the_defective_files_are_built_right():
    data = vhd_bytes(2)
    assert len(_raw_image(data)) == len(data)
    for rule, (build, _) in FOOTER_DEFECTS.items():
        bad = build(data)
        assert len(bad) == len(data)
        with pytest.raises(vhd.VhdFormatError):
            vhd.validate_footer(bad[-FOOTER:], len(bad))
        assert rule


@pytest.mark.parametrize("defect", list(FOOTER_DEFECTS))
def test_an_invalid_vhd_is_refused_at_the_last_chunk_and_discarded_whole(
    caller, rg, defect, django_capture_on_commit_callbacks
):
    build, words = FOOTER_DEFECTS[defect]
    data = build(vhd_bytes(2, seed=5))
    blob = services.start_upload(caller, rg, "bad.vhd", len(data))
    blob = send(caller, blob, data[:-1000], [MIB])
    store = RegionStore(blob.region)
    temp, final = store.path(blob.temp_relative_path), store.path(blob.relative_path)
    assert temp.is_file()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ServiceError) as exc:
        services.upload_chunk(caller, blob, blob.bytes_received, data[-1000:])
    assert_error(exc, "InvalidParameter", "file", "'bad.vhd' is not a valid VHD", *words)

    assert not Blob.objects.filter(pk=blob.pk).exists()
    assert not temp.exists()
    assert not final.exists()
    assert files_in(final.parent) == []
    assert blob.pk not in services._hashers
    # The name is free again: the corrected file can be uploaded under it.
    good = vhd_bytes(2, seed=5)
    again = send(caller, services.start_upload(caller, rg, "bad.vhd", len(good)), good, [MIB])
    assert again.state == Blob.State.AVAILABLE


def test_a_refused_upload_leaves_a_delete_entry_with_the_reason(
    caller, rg, django_capture_on_commit_callbacks
):
    data = _bad_cookie(vhd_bytes(1))
    blob = services.start_upload(caller, rg, "bad.vhd", len(data))
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ServiceError):
        send(caller, blob, data, [MIB])
    entry = ActivityLogEntry.objects.get(
        operation="Microsoft.Storage/blobs/delete", resource_arm_id=arm(rg, "bad.vhd")
    )
    assert "conectix" in entry.message


def test_a_refused_upload_is_logged_as_failed(caller, rg, django_capture_on_commit_callbacks):
    data = _dynamic(vhd_bytes(1))
    blob = services.start_upload(caller, rg, "bad.vhd", len(data))
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ServiceError):
        send(caller, blob, data, [MIB])
    failed = ActivityLogEntry.objects.filter(
        operation=WRITE, resource_arm_id=arm(rg, "bad.vhd"), status=ActivityLogEntry.Status.FAILED
    )
    assert failed.exists()
    entry = failed.get()
    assert entry.error_code == "InvalidParameter"
    assert "dynamic" in entry.message


# --- Discarding ------------------------------------------------------------------------------------------


def test_discarding_an_unfinished_upload_removes_the_row_and_its_temporary_file(
    caller, half, django_capture_on_commit_callbacks
):
    blob, data = half
    store = RegionStore(blob.region)
    temp = store.path(blob.temp_relative_path)
    assert temp.is_file()
    with django_capture_on_commit_callbacks(execute=True):
        services.discard_upload(caller, blob)
    assert not Blob.objects.filter(pk=blob.pk).exists()
    assert not temp.exists()
    assert files_in(temp.parent) == []
    assert blob.pk not in services._hashers


def test_discarding_an_available_blob_removes_its_file(caller, rg, django_capture_on_commit_callbacks):
    data = vhd_bytes(1)
    blob = send(caller, services.start_upload(caller, rg, "gone.vhd", len(data)), data, [MIB])
    final = RegionStore(blob.region).path(blob.relative_path)
    with django_capture_on_commit_callbacks(execute=True):
        services.discard_upload(caller, blob)
    assert not Blob.objects.filter(pk=blob.pk).exists()
    assert not final.exists()


# --- Activity log ----------------------------------------------------------------------------------------


def test_start_and_completion_of_an_upload_are_in_the_activity_log(caller, rg, user):
    data = vhd_bytes(1)
    before = ActivityLogEntry.objects.count()
    blob = services.start_upload(caller, rg, "logged.vhd", len(data))
    entries = ActivityLogEntry.objects.filter(resource_arm_id=arm(rg, "logged.vhd")).order_by("id")
    assert [(e.operation, e.status) for e in entries] == [(WRITE, "Succeeded")]
    start = entries.get()
    assert start.principal == user
    assert start.source == "portal"
    assert start.subscription_id == rg.subscription.guid

    blob = send(caller, blob, data, [400_000])
    entries = list(ActivityLogEntry.objects.filter(resource_arm_id=arm(rg, "logged.vhd")).order_by("id"))
    assert [(e.operation, e.status) for e in entries] == [(WRITE, "Succeeded"), (WRITE, "Succeeded")]
    done = entries[-1]
    assert "logged.vhd" in done.message
    assert "completed" in done.message
    assert f"{len(data):,} bytes" in done.message
    # Intermediate chunks are not logged one by one.
    assert ActivityLogEntry.objects.count() == before + 2


def test_a_refused_start_is_logged_as_failed(caller, rg):
    with pytest.raises(ServiceError):
        services.start_upload(caller, rg, "disk.vhd", 2 * MIB)
    entry = ActivityLogEntry.objects.get(resource_arm_id=arm(rg, "disk.vhd"))
    assert entry.operation == WRITE
    assert entry.status == ActivityLogEntry.Status.FAILED
    assert entry.error_code == "InvalidParameter"
    assert "not a whole number of MiB" in entry.message


# --- Edge cases found while testing ------------------------------------------------------------------


def test_a_chunk_for_a_discarded_upload_is_refused_cleanly(caller, rg, django_capture_on_commit_callbacks):
    data = _bad_cookie(vhd_bytes(1))
    blob = services.start_upload(caller, rg, "bad.vhd", len(data))
    blob = services.upload_chunk(caller, blob, 0, data[:-100])
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ServiceError):
        services.upload_chunk(caller, blob, blob.bytes_received, data[-100:])
    # The client retries its last chunk (e.g. it never saw the answer): a clean 404, not a crash.
    with pytest.raises(ServiceError) as exc:
        services.upload_chunk(caller, blob, blob.bytes_received, data[-100:])
    assert exc.value.code == "ResourceNotFound"
    assert "bad.vhd" in exc.value.message


def test_an_upload_never_overwrites_a_vhd_already_in_storage(caller, rg):
    existing = vhd_bytes(1, seed=40)
    path = RegionStore(rg.location).path(f"blobs/{rg.pk}/vhds/legacy.vhd")
    path.parent.mkdir(parents=True)
    path.write_bytes(existing)
    data = vhd_bytes(1, seed=41)
    try:
        blob = services.start_upload(caller, rg, "legacy.vhd", len(data))
        send(caller, blob, data, [MIB])
    except ServiceError as err:
        assert err.code == "Conflict"
        assert err.target == "name"
    assert path.read_bytes() == existing


def test_a_disabled_subscription_accepts_no_upload(caller, rg, subscription):
    subscription.state = "Disabled"
    subscription.save()
    rg.subscription.refresh_from_db()
    with pytest.raises(ServiceError) as exc:
        services.start_upload(caller, rg, "disk.vhd", len(vhd_bytes(1)))
    assert_error(exc, "Conflict", "subscription", "Disabled")
    assert not Blob.objects.exists()


def test_a_chunk_larger_than_the_configured_maximum_is_refused(caller, rg, settings):
    settings.UPLOAD_MAX_CHUNK_BYTES = MIB
    data = vhd_bytes(2)
    blob = services.start_upload(caller, rg, "disk.vhd", len(data))
    with pytest.raises(ServiceError) as exc:
        services.upload_chunk(caller, blob, 0, data[: MIB + 1])
    assert_error(exc, "InvalidParameter", "chunk", "1,048,577", "at most 1,048,576")
    blob.refresh_from_db()
    assert blob.bytes_received == 0


@pytest.mark.parametrize("offset", ["0", 0.0, -1, True])
def test_an_offset_that_is_not_a_whole_number_of_bytes_is_refused(caller, rg, offset):
    data = vhd_bytes(1)
    blob = services.start_upload(caller, rg, "disk.vhd", len(data))
    with pytest.raises(ServiceError) as exc:
        services.upload_chunk(caller, blob, offset, data[:100])
    assert_error(exc, "InvalidParameter", "offset", "whole number")
