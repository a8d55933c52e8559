"""The fixed-VHD format module: footer parsing, every validation rule, and the VHD generator.

Pure unit tests: no database, and nothing here writes more than a few MiB (sizes up to and past the
1 TiB limit are checked by building only the footer and claiming a file size).
"""

from __future__ import annotations

import hashlib
import io
import struct
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from galleries import vhd
from galleries.vhd import (
    FOOTER_SIZE,
    MAX_VIRTUAL_SIZE,
    MIB,
    DiskGeometry,
    VhdFormatError,
    chs_geometry,
    footer_checksum,
    make_footer,
    parse_footer,
    parse_size,
    validate_declared_size,
    validate_file,
    validate_footer,
    write_fixed_vhd,
)

TIB = 1024**4
GIB = 1024**3


def _with_checksum(footer: bytes | bytearray) -> bytes:
    """``footer`` with its checksum field recomputed, to break one rule without breaking the checksum."""
    data = bytearray(footer)
    struct.pack_into(">I", data, 64, footer_checksum(bytes(data)))
    return bytes(data)


def _read_footer(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-FOOTER_SIZE, 2)
        return f.read()


# --- a generated VHD ---------------------------------------------------------------------------


def test_generated_vhd_validates_and_sha256_matches(tmp_path: Path) -> None:
    path = tmp_path / "disk.vhd"
    digest = write_fixed_vhd(path, 3 * MIB, chunk_size=MIB)

    assert path.stat().st_size == 3 * MIB + FOOTER_SIZE
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    footer = validate_footer(_read_footer(path), path.stat().st_size)
    assert footer == validate_file(path)
    assert footer.cookie == b"conectix"
    assert footer.disk_type == 2
    assert footer.disk_type_name == "Fixed"
    assert footer.current_size == footer.original_size == 3 * MIB
    assert footer.data_offset == 0xFFFFFFFFFFFFFFFF
    assert footer.file_format_version == 0x00010000
    assert footer.features & 0x2
    assert footer.creator_application == b"sigp"
    assert footer.creator_host_os == b"Wi2k"
    assert footer.disk_geometry == chs_geometry(3 * MIB)
    assert footer.checksum == footer_checksum(_read_footer(path))
    assert isinstance(footer.unique_id, uuid.UUID)
    assert footer.saved_state == 0


def test_generated_vhd_to_a_file_object(tmp_path: Path) -> None:
    buf = io.BytesIO(b"prefix")
    buf.seek(0, 2)
    digest = write_fixed_vhd(buf, MIB)
    data = buf.getvalue()
    assert data.startswith(b"prefix")
    assert not buf.closed
    written = data[len(b"prefix") :]
    assert len(written) == MIB + FOOTER_SIZE
    assert digest == hashlib.sha256(written).hexdigest()
    validate_footer(written[-FOOTER_SIZE:], len(written))


def test_a_chunk_size_that_does_not_divide_the_disk(tmp_path: Path) -> None:
    path = tmp_path / "disk.vhd"
    digest = write_fixed_vhd(path, 2 * MIB, chunk_size=3 * MIB // 4)
    assert path.stat().st_size == 2 * MIB + FOOTER_SIZE
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    validate_file(path)


def test_same_seed_same_bytes_different_seed_different_bytes() -> None:
    def generate(seed: int) -> bytes:
        buf = io.BytesIO()
        write_fixed_vhd(buf, 2 * MIB, seed=seed, chunk_size=MIB)
        return buf.getvalue()

    first, again, other = generate(1), generate(1), generate(2)
    assert first == again
    assert first != other
    # The data differs, not just the footer's unique id.
    assert first[: 2 * MIB] != other[: 2 * MIB]
    assert parse_footer(first[-FOOTER_SIZE:]).unique_id != parse_footer(other[-FOOTER_SIZE:]).unique_id


def test_seed_none_gives_a_fresh_file_each_time() -> None:
    a, b = io.BytesIO(), io.BytesIO()
    assert write_fixed_vhd(a, MIB, seed=None) != write_fixed_vhd(b, MIB, seed=None)
    assert a.getvalue()[:MIB] != b.getvalue()[:MIB]


def test_chunks_differ_from_each_other() -> None:
    chunk = 256 * 1024
    buf = io.BytesIO()
    write_fixed_vhd(buf, 2 * MIB, chunk_size=chunk)
    data = buf.getvalue()[: 2 * MIB]
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    assert len(chunks) == 8
    assert len(set(chunks)) == len(chunks)
    # Not trivially compressible: the data is random, not zeros.
    assert data.count(0) < len(data) // 100


def test_write_refuses_invalid_sizes_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "bad.vhd"
    with pytest.raises(VhdFormatError) as exc:
        write_fixed_vhd(path, MIB + 1)
    assert exc.value.rule == "size_multiple"
    assert not path.exists()
    with pytest.raises(VhdFormatError) as exc:
        write_fixed_vhd(path, 0)
    assert exc.value.rule == "too_small"
    with pytest.raises(VhdFormatError) as exc:
        write_fixed_vhd(path, MAX_VIRTUAL_SIZE + MIB)
    assert exc.value.rule == "size_limit"
    assert not path.exists()

    write_fixed_vhd(path, MIB + 1, allow_invalid=True)
    assert path.stat().st_size == MIB + 1 + FOOTER_SIZE
    with pytest.raises(VhdFormatError) as exc:
        validate_file(path)
    assert exc.value.rule == "size_multiple"


def test_write_removes_a_partial_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "disk.vhd"

    def boom(*args: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(vhd, "_write", boom)
    with pytest.raises(OSError, match="disk full"):
        write_fixed_vhd(path, MIB)
    assert not path.exists()


# --- each rule broken on its own ---------------------------------------------------------------


def test_wrong_cookie() -> None:
    footer = _with_checksum(b"notavhd!" + make_footer(MIB)[8:])
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(footer, MIB + FOOTER_SIZE)
    assert exc.value.rule == "cookie"
    message = str(exc.value)
    assert "'notavhd!'" in message
    assert "'conectix'" in message
    assert "not a VHD" in message
    assert "qemu-img convert" in message and "Convert-VHD" in message


def test_wrong_cookie_with_unprintable_bytes_is_shown_readably() -> None:
    footer = bytes(FOOTER_SIZE)
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(footer, 10 * MIB)
    assert exc.value.rule == "cookie"
    assert "\\x00" in str(exc.value)


def test_flipped_footer_byte_breaks_the_checksum() -> None:
    footer = bytearray(make_footer(MIB))
    stored = struct.unpack_from(">I", footer, 64)[0]
    footer[100] ^= 0x01  # inside the unique id
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(bytes(footer), MIB + FOOTER_SIZE)
    assert exc.value.rule == "checksum"
    message = str(exc.value)
    assert f"0x{stored:08X}" in message
    assert f"0x{footer_checksum(bytes(footer)):08X}" in message
    assert "corrupt or truncated" in message


def test_checksum_field_itself_is_not_summed() -> None:
    footer = make_footer(MIB)
    zeroed = footer[:64] + b"\0\0\0\0" + footer[68:]
    assert footer_checksum(footer) == footer_checksum(zeroed)
    assert footer_checksum(zeroed) == ~sum(zeroed) & 0xFFFFFFFF


@pytest.mark.parametrize(
    ("disk_type", "name"), [(3, "dynamic"), (4, "differencing"), (0, "none"), (7, "unknown (7)")]
)
def test_non_fixed_disk_type(disk_type: int, name: str) -> None:
    footer = make_footer(MIB, disk_type=disk_type)
    assert footer_checksum(footer) == parse_footer(footer).checksum
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(footer, MIB + FOOTER_SIZE)
    assert exc.value.rule == "disk_type"
    message = str(exc.value)
    assert f"the VHD is {name}" in message
    assert "only fixed-size VHDs are accepted" in message
    assert "subformat=fixed" in message


def test_disk_type_names() -> None:
    names = {t: parse_footer(make_footer(MIB, disk_type=t)).disk_type_name for t in (0, 2, 3, 4, 9)}
    assert names == {0: "None", 2: "Fixed", 3: "Dynamic", 4: "Differencing", 9: "Unknown (9)"}


def test_dynamic_footer_points_at_its_dynamic_header() -> None:
    assert parse_footer(make_footer(MIB, disk_type=3)).data_offset == 512
    assert parse_footer(make_footer(MIB)).data_offset == 0xFFFFFFFFFFFFFFFF


def test_current_size_larger_than_the_file_is_a_size_mismatch() -> None:
    footer = make_footer(64 * MIB)
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(footer, 32 * MIB + FOOTER_SIZE)
    assert exc.value.rule == "size_mismatch"
    message = str(exc.value)
    assert "the footer says the disk is 67,108,864 bytes but the file holds 33,554,432 bytes" in message
    assert "truncated" in message


def test_current_size_smaller_than_the_file_is_a_size_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "disk.vhd"
    write_fixed_vhd(path, MIB)
    with open(path, "r+b") as f:  # append junk after the footer and then a copy of the footer
        footer = _read_footer(path)
        f.seek(0, 2)
        f.write(b"x" * 512 + footer)
    with pytest.raises(VhdFormatError) as exc:
        validate_file(path)
    assert exc.value.rule == "size_mismatch"
    assert "1,048,576 bytes" in str(exc.value)
    assert "1,049,600 bytes of disk data" in str(exc.value)
    assert "too many" in str(exc.value)


def test_virtual_size_not_a_whole_number_of_mib() -> None:
    size = 10 * MIB + 1
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(make_footer(size), size + FOOTER_SIZE)
    assert exc.value.rule == "size_multiple"
    message = str(exc.value)
    assert "the virtual size 10,485,761 bytes is not a whole number of MiB (1,048,576 bytes)" in message
    assert "resize the disk to 11 MiB" in message


def test_virtual_size_above_one_tib() -> None:
    size = TIB + TIB // 2
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(make_footer(size), size + FOOTER_SIZE)
    assert exc.value.rule == "size_limit"
    message = str(exc.value)
    assert "1,649,267,441,664 bytes (1.5 TiB)" in message
    assert "exceeds the 1 TiB limit" in message


def test_exactly_one_tib_is_accepted_and_one_mib_more_is_not() -> None:
    footer = validate_footer(make_footer(TIB), TIB + FOOTER_SIZE)
    assert footer.current_size == TIB
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(make_footer(TIB + MIB), TIB + MIB + FOOTER_SIZE)
    assert exc.value.rule == "size_limit"


def test_size_multiple_above_the_limit_does_not_suggest_an_oversized_disk() -> None:
    size = TIB + 1
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(make_footer(size), size + FOOTER_SIZE)
    assert exc.value.rule == "size_multiple"
    assert "no larger than 1 TiB" in str(exc.value)


def test_zero_size_disk_and_tiny_files_are_too_small() -> None:
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(make_footer(0), FOOTER_SIZE)
    assert exc.value.rule == "too_small"
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(b"conectix", 8)
    assert exc.value.rule == "too_small"
    assert "8 bytes" in str(exc.value)


def test_rules_are_checked_in_order() -> None:
    # A dynamic disk whose size is also wrong reports the disk type first...
    footer = make_footer(MIB + 1, disk_type=3)
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(footer, 5 * MIB)
    assert exc.value.rule == "disk_type"
    # ...and a corrupt footer reports the checksum before anything it says.
    corrupt = bytearray(footer)
    corrupt[70] ^= 0xFF
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(bytes(corrupt), 5 * MIB)
    assert exc.value.rule == "checksum"
    # A size mismatch comes before the size rules.
    with pytest.raises(VhdFormatError) as exc:
        validate_footer(make_footer(2 * TIB), TIB)
    assert exc.value.rule == "size_mismatch"


def test_error_is_a_value_error_with_rule_and_message() -> None:
    error = VhdFormatError("cookie", "bad")
    assert isinstance(error, ValueError)
    assert (error.rule, error.message, str(error)) == ("cookie", "bad", "bad")


def test_parse_footer_roundtrip() -> None:
    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    footer = parse_footer(make_footer(64 * MIB, unique_id=uid, timestamp=123456))
    assert footer.unique_id == uid
    assert footer.timestamp == 123456
    assert footer.current_size == 64 * MIB
    assert footer.disk_geometry == DiskGeometry(963, 8, 17)
    assert footer.disk_geometry.cylinders == 963
    with pytest.raises(ValueError, match="512 bytes"):
        parse_footer(b"\0" * 511)


# --- sizes declared before an upload -----------------------------------------------------------


def test_declared_size_boundaries() -> None:
    assert validate_declared_size(TIB + FOOTER_SIZE) == TIB
    assert validate_declared_size(MIB + FOOTER_SIZE) == MIB
    assert validate_declared_size(64 * MIB + FOOTER_SIZE) == 64 * MIB

    with pytest.raises(VhdFormatError) as exc:
        validate_declared_size(TIB + MIB + FOOTER_SIZE)
    assert exc.value.rule == "size_limit"
    assert "1,099,512,676,352 bytes" in str(exc.value)

    for too_small in (512, 0, -1):
        with pytest.raises(VhdFormatError) as exc:
            validate_declared_size(too_small)
        assert exc.value.rule == "too_small"

    with pytest.raises(VhdFormatError) as exc:
        validate_declared_size(513)
    assert exc.value.rule == "size_multiple"
    assert "the virtual size 1 byte is not" in str(exc.value)


def test_declared_size_messages() -> None:
    with pytest.raises(VhdFormatError) as exc:
        validate_declared_size(512)
    assert "the declared file size is 512 bytes" in str(exc.value)
    assert "1,049,088 bytes" in str(exc.value)

    with pytest.raises(VhdFormatError) as exc:
        validate_declared_size(10 * MIB + 1 + FOOTER_SIZE)
    message = str(exc.value)
    assert "10,486,273 bytes" in message
    assert "the virtual size 10,485,761 bytes is not a whole number of MiB (1,048,576 bytes)" in message
    assert "resize the disk to 11 MiB" in message


def test_declared_size_of_a_raw_image_points_at_the_missing_footer() -> None:
    with pytest.raises(VhdFormatError) as exc:
        validate_declared_size(64 * MIB)
    assert exc.value.rule == "size_multiple"
    assert "footer seems to be missing" in str(exc.value)


# --- parse_size --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64MiB", 64 * MIB),
        ("1GiB", GIB),
        ("512KiB", 512 * 1024),
        ("1048576", MIB),
        ("1.5GiB", 1536 * MIB),
        ("1TiB", TIB),
        ("100B", 100),
        (" 64 mib ", 64 * MIB),
        ("0.5KiB", 512),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text", ["", "MiB", "64MB", "64 M", "-1MiB", "1e6", "1.5", "0.1KiB", "1,024", "64 MiB x"]
)
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


# --- geometry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        # Worked by hand through the spec's algorithm, one per branch.
        (MIB, (30, 4, 17)),  # 17 sectors, at least 4 heads
        (40 * MIB, (963, 5, 17)),
        (64 * MIB, (963, 8, 17)),
        (200 * MIB, (825, 16, 31)),  # too many heads for 17 sectors: 31
        (500 * MIB, (1015, 16, 63)),  # still too many cylinders: 63
        (GIB, (2080, 16, 63)),
        (127 * GIB, (65278, 16, 255)),  # beyond 65535*16*63 sectors: 255
        (TIB, (65535, 16, 255)),  # capped at 65535*16*255 sectors
    ],
)
def test_chs_geometry(size: int, expected: tuple[int, int, int]) -> None:
    geometry = chs_geometry(size)
    assert geometry == expected
    cylinders, heads, sectors = geometry
    assert cylinders * heads * sectors * 512 <= size
    assert parse_footer(make_footer(size)).disk_geometry == expected


def test_chs_geometry_fits_every_size_up_to_the_cap() -> None:
    for mib in range(1, 4096, 7):
        c, h, s = chs_geometry(mib * MIB)
        assert c * h * s * 512 <= mib * MIB
        assert c <= 65535 and 1 <= h <= 16 and s in (17, 31, 63, 255)


# --- the management command --------------------------------------------------------------------


def test_make_vhd_command(tmp_path: Path) -> None:
    from django.core.management import CommandError, call_command

    from galleries.management.commands.make_vhd import Command

    path = tmp_path / "cmd.vhd"
    out = io.StringIO()
    call_command(Command(), str(path), "--size", "2MiB", "--seed", "3", stdout=out)
    data = path.read_bytes()
    assert len(data) == 2 * MIB + FOOTER_SIZE
    validate_file(path)
    text = out.getvalue()
    assert f"path: {path}" in text
    assert f"bytes: {2 * MIB + FOOTER_SIZE}" in text
    assert f"sha256: {hashlib.sha256(data).hexdigest()}" in text
    assert write_fixed_vhd(io.BytesIO(), 2 * MIB, seed=3) == hashlib.sha256(data).hexdigest()

    with pytest.raises(CommandError, match="already exists"):
        call_command(Command(), str(path), "--size", "2MiB")
    with pytest.raises(CommandError, match="not a whole number of MiB"):
        call_command(Command(), str(tmp_path / "bad.vhd"), "--size", "1.5MiB")
    with pytest.raises(CommandError, match="--size"):
        call_command(Command(), str(tmp_path / "bad.vhd"), "--size", "lots")
    assert not (tmp_path / "bad.vhd").exists()


@pytest.mark.parametrize("size", [0, 1, MIB - 1, MIB, MIB + 1, 64 * MIB, TIB - MIB, TIB, TIB + 1, TIB + MIB])
def test_declared_size_and_footer_apply_the_same_size_rules(size: int) -> None:
    """A size accepted before the upload must not be refused after it, and the other way round."""

    def rule(check: Callable[..., object], *args: object) -> str | None:
        try:
            check(*args)
        except VhdFormatError as error:
            return error.rule
        return None

    declared = rule(validate_declared_size, size + FOOTER_SIZE)
    assert declared == rule(validate_footer, make_footer(size), size + FOOTER_SIZE)
    if size <= 2 * MIB:
        assert declared == rule(write_fixed_vhd, io.BytesIO(), size)
