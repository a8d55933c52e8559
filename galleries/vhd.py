"""The fixed-size VHD format: parse and validate the 512-byte footer, and generate valid fixed VHDs.

Why only fixed VHDs: like Azure, the portal stores a disk image as a page blob and later serves it
as a managed disk, which must be a flat copy of the disk's bytes. A fixed VHD is exactly that (the
disk's bytes followed by one 512-byte footer), so it can be checked cheaply and used as is. Dynamic
and differencing VHDs (and VHDX) need converting first, and every refusal below says how.

Why the size rules: the disk's virtual size must be a whole number of MiB (Azure's rule, and what
makes an uploaded disk usable as a managed disk) and at most 1 TiB (this portal's limit per disk).
Because the footer is at the end of the file, :func:`validate_declared_size` checks the size rules
from the size a client declares *before* any byte is uploaded, and :func:`validate_footer` checks
the footer itself once the upload is complete.

The footer layout follows Microsoft's "Virtual Hard Disk Image Format Specification" (all fields
big-endian). This module is pure standard library on purpose: the upload code, management commands,
benchmarks and tests all use it without needing Django.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import struct
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import BinaryIO, NamedTuple

__all__ = [
    "FOOTER_SIZE",
    "MIB",
    "MAX_VIRTUAL_SIZE",
    "DISK_TYPE_NONE",
    "DISK_TYPE_FIXED",
    "DISK_TYPE_DYNAMIC",
    "DISK_TYPE_DIFFERENCING",
    "VhdFormatError",
    "DiskGeometry",
    "VhdFooter",
    "chs_geometry",
    "footer_checksum",
    "parse_footer",
    "validate_footer",
    "validate_file",
    "validate_declared_size",
    "make_footer",
    "write_fixed_vhd",
    "parse_size",
    "format_size",
]

FOOTER_SIZE = 512
MIB = 1024 * 1024
MAX_VIRTUAL_SIZE = 1024**4  # 1 TiB; a disk of exactly 1 TiB is allowed.

COOKIE = b"conectix"
DISK_TYPE_NONE = 0
DISK_TYPE_FIXED = 2
DISK_TYPE_DYNAMIC = 3
DISK_TYPE_DIFFERENCING = 4
DISK_TYPE_NAMES = {
    DISK_TYPE_NONE: "None",
    DISK_TYPE_FIXED: "Fixed",
    DISK_TYPE_DYNAMIC: "Dynamic",
    DISK_TYPE_DIFFERENCING: "Differencing",
}

# The spec says bit 1 ("reserved") of the features field must always be set.
FEATURES_RESERVED = 0x00000002
FILE_FORMAT_VERSION = 0x00010000
FIXED_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF
CREATOR_APPLICATION = b"sigp"
CREATOR_VERSION = 0x00010000
CREATOR_HOST_OS = b"Wi2k"
# VHD timestamps count seconds from 2000-01-01 00:00:00 UTC.
VHD_EPOCH = 946684800
# The timestamp written by a seeded write_fixed_vhd, so the same seed always gives the same file.
SEEDED_TIMESTAMP = 0

_FOOTER = struct.Struct(">8sIIQI4sI4sQQHBBII16sB427x")
assert _FOOTER.size == FOOTER_SIZE
_CHECKSUM_OFFSET = 64
_CHECKSUM_FIELD = struct.Struct(">I")

# Commands quoted in messages, so a person who gets a refusal knows what to run.
_CONVERT_HINT = (
    "convert it with `qemu-img convert -O vpc -o subformat=fixed,force_size SOURCE disk.vhd` "
    "or Hyper-V's `Convert-VHD -Path SOURCE -DestinationPath disk.vhd -VHDType Fixed`"
)


class VhdFormatError(ValueError):
    """A file (or a declared upload size) that is not an acceptable fixed VHD.

    ``str(error)`` is a sentence for a person: what is wrong, with the numbers, and how to fix it.
    ``rule`` is a short stable name for programs and tests: "cookie", "checksum", "disk_type",
    "size_multiple", "size_limit", "size_mismatch" or "too_small".
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message

    def __repr__(self) -> str:
        return f"VhdFormatError(rule={self.rule!r}, message={self.message!r})"


class DiskGeometry(NamedTuple):
    """The legacy cylinders/heads/sectors-per-track geometry stored in the footer."""

    cylinders: int
    heads: int
    sectors: int


@dataclass(frozen=True)
class VhdFooter:
    """The fields of a VHD footer, as stored (no interpretation beyond decoding)."""

    cookie: bytes
    features: int
    file_format_version: int
    data_offset: int
    timestamp: int
    creator_application: bytes
    creator_version: int
    creator_host_os: bytes
    original_size: int
    current_size: int
    disk_geometry: DiskGeometry
    disk_type: int
    checksum: int
    unique_id: uuid.UUID
    saved_state: int

    @property
    def disk_type_name(self) -> str:
        """ "Fixed", "Dynamic", "Differencing", "None", or "Unknown (N)" for any other value."""
        return DISK_TYPE_NAMES.get(self.disk_type, f"Unknown ({self.disk_type})")


def format_size(n: int) -> str:
    """A size in the largest binary unit it reaches, e.g. "1.5 TiB", "64 MiB", "512 bytes".

    Rounded to two decimals, so messages always pair it with the exact byte count.
    """
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", MIB), ("KiB", 1024)):
        if abs(n) >= factor:
            value = f"{n / factor:.2f}".rstrip("0").rstrip(".")
            return f"{value} {unit}"
    return f"{n} bytes" if n != 1 else "1 byte"


def _bytes(n: int) -> str:
    """An exact byte count with thousands separators: "10,485,761 bytes"."""
    return f"{n:,} bytes" if n != 1 else "1 byte"


def chs_geometry(virtual_size: int) -> DiskGeometry:
    """The CHS geometry for a disk of ``virtual_size`` bytes, by the VHD specification's algorithm.

    Nothing in this portal uses the geometry, but BIOS-era guests and some tools read it, so the
    footers we generate carry the same value Hyper-V would. The geometry can describe fewer
    sectors than the disk has (never more); the real size is the footer's current size.
    """
    total_sectors = virtual_size // 512
    if total_sectors > 65535 * 16 * 255:
        total_sectors = 65535 * 16 * 255
    if total_sectors >= 65535 * 16 * 63:
        sectors_per_track = 255
        heads = 16
        cylinder_times_heads = total_sectors // sectors_per_track
    else:
        sectors_per_track = 17
        cylinder_times_heads = total_sectors // sectors_per_track
        heads = (cylinder_times_heads + 1023) // 1024
        if heads < 4:
            heads = 4
        if cylinder_times_heads >= heads * 1024 or heads > 16:
            sectors_per_track = 31
            heads = 16
            cylinder_times_heads = total_sectors // sectors_per_track
        if cylinder_times_heads >= heads * 1024:
            sectors_per_track = 63
            heads = 16
            cylinder_times_heads = total_sectors // sectors_per_track
    cylinders = cylinder_times_heads // heads
    return DiskGeometry(cylinders, heads, sectors_per_track)


def footer_checksum(data: bytes) -> int:
    """The checksum a footer should carry: the one's complement (32-bit) of the sum of its bytes,
    with the checksum field itself (offset 64, 4 bytes) counted as zero."""
    if len(data) != FOOTER_SIZE:
        raise ValueError(f"a VHD footer is {FOOTER_SIZE} bytes, got {len(data)}")
    total = sum(data) - sum(data[_CHECKSUM_OFFSET : _CHECKSUM_OFFSET + 4])
    return ~total & 0xFFFFFFFF


def parse_footer(data: bytes) -> VhdFooter:
    """Decode a 512-byte footer without judging it (see :func:`validate_footer` for that)."""
    if len(data) != FOOTER_SIZE:
        raise ValueError(f"a VHD footer is {FOOTER_SIZE} bytes, got {len(data)}")
    (
        cookie,
        features,
        file_format_version,
        data_offset,
        timestamp,
        creator_application,
        creator_version,
        creator_host_os,
        original_size,
        current_size,
        cylinders,
        heads,
        sectors,
        disk_type,
        checksum,
        unique_id,
        saved_state,
    ) = _FOOTER.unpack(data)
    return VhdFooter(
        cookie=cookie,
        features=features,
        file_format_version=file_format_version,
        data_offset=data_offset,
        timestamp=timestamp,
        creator_application=creator_application,
        creator_version=creator_version,
        creator_host_os=creator_host_os,
        original_size=original_size,
        current_size=current_size,
        disk_geometry=DiskGeometry(cylinders, heads, sectors),
        disk_type=disk_type,
        checksum=checksum,
        unique_id=uuid.UUID(bytes=unique_id),
        saved_state=saved_state,
    )


def _size_multiple_error(virtual_size: int, prefix: str) -> VhdFormatError:
    """The "not a whole number of MiB" refusal, suggesting the next whole MiB when that is allowed."""
    rounded_up = math.ceil(virtual_size / MIB) * MIB
    if rounded_up <= MAX_VIRTUAL_SIZE:
        mib = rounded_up // MIB
        fix = (
            f"resize the disk to {mib:,} MiB ({_bytes(rounded_up)}), e.g. `qemu-img resize -f raw "
            f"disk.raw {mib}M` before converting, or `Resize-VHD -Path disk.vhd -SizeBytes {mib}MB`"
        )
    else:
        fix = f"resize the disk to a whole number of MiB no larger than {format_size(MAX_VIRTUAL_SIZE)}"
    return VhdFormatError(
        "size_multiple",
        f"{prefix}the virtual size {_bytes(virtual_size)} is not a whole number of MiB "
        f"({_bytes(MIB)}): {fix}",
    )


def _size_limit_error(virtual_size: int, prefix: str) -> VhdFormatError:
    return VhdFormatError(
        "size_limit",
        f"{prefix}the virtual size {_bytes(virtual_size)} ({format_size(virtual_size)}) exceeds the "
        f"{format_size(MAX_VIRTUAL_SIZE)} limit for a disk ({_bytes(MAX_VIRTUAL_SIZE)}): shrink the disk "
        f"(its partitions first) to at most {format_size(MAX_VIRTUAL_SIZE)}, or split the data over "
        "several disks",
    )


def validate_footer(data: bytes, file_size: int) -> VhdFooter:
    """Check that ``data`` (the last 512 bytes of a file of ``file_size`` bytes) is the footer of an
    acceptable fixed VHD, and return it parsed.

    The checks run from "is this a VHD at all" to "is this disk the right size", so the first
    refusal names the most fundamental problem: cookie, checksum, disk type, size matching the
    file, size a whole number of MiB, size within the limit.
    """
    if file_size < FOOTER_SIZE or len(data) < FOOTER_SIZE:
        size = min(file_size, len(data))
        raise VhdFormatError(
            "too_small",
            f"the file is {_bytes(size)}, smaller than the {FOOTER_SIZE}-byte VHD footer: "
            f"it is not a VHD or the upload is incomplete",
        )
    footer = parse_footer(data)

    if footer.cookie != COOKIE:
        shown = "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in footer.cookie)
        raise VhdFormatError(
            "cookie",
            f"the VHD footer cookie is '{shown}', expected 'conectix': this file is not a VHD "
            f"(a VHD ends with a {FOOTER_SIZE}-byte footer; VHDX and raw images have none), "
            f"{_CONVERT_HINT}",
        )

    expected = footer_checksum(data)
    if footer.checksum != expected:
        raise VhdFormatError(
            "checksum",
            f"the VHD footer checksum is 0x{footer.checksum:08X}, but the footer's bytes sum to "
            f"0x{expected:08X}: the file is corrupt or truncated; copy or upload it again",
        )

    if footer.disk_type != DISK_TYPE_FIXED:
        raise VhdFormatError(
            "disk_type",
            f"the VHD is {footer.disk_type_name.lower()} (disk type {footer.disk_type}); only fixed-size "
            f"VHDs are accepted: {_CONVERT_HINT}",
        )

    data_size = file_size - FOOTER_SIZE
    if footer.current_size != data_size:
        if data_size < footer.current_size:
            why = (
                f"{_bytes(footer.current_size - data_size)} are missing: the file is truncated "
                "or the upload is incomplete"
            )
        else:
            why = (
                f"there are {_bytes(data_size - footer.current_size)} too many: the file has extra "
                "data before its footer"
            )
        raise VhdFormatError(
            "size_mismatch",
            f"the footer says the disk is {_bytes(footer.current_size)} but the file holds "
            f"{_bytes(data_size)} of disk data (file size {_bytes(file_size)} minus the "
            f"{FOOTER_SIZE}-byte footer); {why}",
        )

    _check_virtual_size(footer.current_size)
    return footer


def _check_virtual_size(virtual_size: int) -> None:
    """The size rules on a disk's virtual size (the same ones :func:`validate_declared_size` applies)."""
    if virtual_size <= 0:
        raise VhdFormatError(
            "too_small",
            f"the virtual size is {_bytes(virtual_size)}: a disk must be at least 1 MiB ({_bytes(MIB)})",
        )
    if virtual_size % MIB:
        raise _size_multiple_error(virtual_size, "")
    if virtual_size > MAX_VIRTUAL_SIZE:
        raise _size_limit_error(virtual_size, "")


def validate_file(path: str | os.PathLike[str]) -> VhdFooter:
    """Validate the VHD at ``path`` (reads only its last 512 bytes) and return its footer."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - FOOTER_SIZE))
        data = f.read(FOOTER_SIZE)
    return validate_footer(data, size)


def validate_declared_size(total_size: int) -> int:
    """Check the total file size a client declares before uploading (disk bytes + 512-byte
    footer) and return the disk's virtual size.

    Refusing here, rather than after the last byte arrives, saves the user a useless upload of a
    possibly very large file: the size rules of :func:`validate_footer` depend only on this number.
    """
    prefix = f"the declared file size is {_bytes(total_size)}, so "
    if total_size <= FOOTER_SIZE:
        raise VhdFormatError(
            "too_small",
            f"the declared file size is {_bytes(total_size)}, but a fixed VHD is its disk data plus a "
            f"{FOOTER_SIZE}-byte footer, so it must be larger than {FOOTER_SIZE} bytes (the smallest "
            f"disk is 1 MiB, i.e. a file of {_bytes(MIB + FOOTER_SIZE)})",
        )
    virtual_size = total_size - FOOTER_SIZE
    if virtual_size % MIB:
        error = _size_multiple_error(virtual_size, prefix)
        if total_size % MIB == 0:
            # The commonest mistake: a raw image (or a size computed without the footer).
            error = VhdFormatError(
                "size_multiple",
                f"{error.message}. The file size itself is a whole number of MiB, so the "
                f"{FOOTER_SIZE}-byte footer seems to be missing: is this a raw image rather than a "
                f"fixed VHD? If so, {_CONVERT_HINT}",
            )
        raise error
    if virtual_size > MAX_VIRTUAL_SIZE:
        raise _size_limit_error(virtual_size, prefix)
    return virtual_size


def make_footer(
    virtual_size: int,
    *,
    disk_type: int = DISK_TYPE_FIXED,
    unique_id: uuid.UUID | None = None,
    timestamp: int | None = None,
) -> bytes:
    """A correct footer for a disk of ``virtual_size`` bytes (any size: tests build invalid ones).

    ``timestamp`` is in VHD seconds (since 2000-01-01 UTC), by default now; ``unique_id`` is by
    default a fresh random UUID. For a dynamic or differencing disk the data offset points at the
    dynamic header right after the footer copy, as the spec says; for the others it is all ones.
    """
    if virtual_size < 0:
        raise ValueError(f"a disk size cannot be negative, got {virtual_size}")
    if timestamp is None:
        timestamp = min(max(int(time.time()) - VHD_EPOCH, 0), 0xFFFFFFFF)
    if unique_id is None:
        unique_id = uuid.uuid4()
    if disk_type in (DISK_TYPE_DYNAMIC, DISK_TYPE_DIFFERENCING):
        data_offset = FOOTER_SIZE
    else:
        data_offset = FIXED_DATA_OFFSET
    cylinders, heads, sectors = chs_geometry(virtual_size)
    footer = bytearray(
        _FOOTER.pack(
            COOKIE,
            FEATURES_RESERVED,
            FILE_FORMAT_VERSION,
            data_offset,
            timestamp,
            CREATOR_APPLICATION,
            CREATOR_VERSION,
            CREATOR_HOST_OS,
            virtual_size,
            virtual_size,
            cylinders,
            heads,
            sectors,
            disk_type,
            0,
            unique_id.bytes,
            0,
        )
    )
    _CHECKSUM_FIELD.pack_into(footer, _CHECKSUM_OFFSET, footer_checksum(footer))
    return bytes(footer)


def write_fixed_vhd(
    dest: str | os.PathLike[str] | BinaryIO,
    virtual_size: int,
    *,
    seed: int | None = 0,
    chunk_size: int = 4 * MIB,
    allow_invalid: bool = False,
) -> str:
    """Write a fixed VHD of ``virtual_size`` bytes of disk data plus its footer, and return the
    SHA-256 hex digest of everything written.

    ``dest`` is a path (created or overwritten; removed again if writing fails) or a binary file
    object (written from its current position and left open). The data is pseudo-random, so the
    file does not compress or deduplicate to nothing, yet cheap: one random block of
    ``chunk_size`` bytes is generated once, and each chunk is that block with its first 8 bytes
    XORed with the chunk's index, so no two chunks are equal. With an integer ``seed`` the whole
    file, footer included, is the same on every run (fixed timestamp, unique id drawn from the
    seed); with ``seed=None`` it differs every time.

    Sizes :func:`validate_declared_size` would refuse raise :class:`VhdFormatError`, unless
    ``allow_invalid`` is true (for tests that need bad files).
    """
    if virtual_size < 0:
        raise ValueError(f"a disk size cannot be negative, got {virtual_size}")
    if chunk_size < 8:
        raise ValueError(f"chunk_size must be at least 8 bytes, got {chunk_size}")
    if not allow_invalid:
        _check_virtual_size(virtual_size)

    rng = random.Random(seed)
    unique_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    timestamp = SEEDED_TIMESTAMP if seed is not None else None
    footer = make_footer(virtual_size, unique_id=unique_id, timestamp=timestamp)

    if isinstance(dest, str | os.PathLike):
        path = Path(dest)
        try:
            with open(path, "wb") as f:
                return _write(f, virtual_size, rng, chunk_size, footer)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return _write(dest, virtual_size, rng, chunk_size, footer)


def _write(f: BinaryIO, virtual_size: int, rng: random.Random, chunk_size: int, footer: bytes) -> str:
    digest = hashlib.sha256()
    block = bytearray(rng.randbytes(min(chunk_size, max(virtual_size, 8))))
    head = int.from_bytes(block[:8], "big")
    view = memoryview(block)
    written = 0
    index = 0
    while written < virtual_size:
        block[:8] = (head ^ index).to_bytes(8, "big")
        chunk = view[: min(len(block), virtual_size - written)]
        f.write(chunk)
        digest.update(chunk)
        written += len(chunk)
        index += 1
    f.write(footer)
    digest.update(footer)
    return digest.hexdigest()


_UNITS = {"": 1, "b": 1, "kib": 1024, "mib": MIB, "gib": 1024**3, "tib": 1024**4}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")


def parse_size(text: str) -> int:
    """Parse a size such as "64MiB", "1.5GiB", "512KiB", "1TiB", "100B" or "1048576" (bytes).

    Only binary units are accepted: "MB" could mean 1,000,000 or 1,048,576 bytes, and for a disk
    that must be a whole number of MiB the difference matters.
    """
    match = _SIZE_RE.fullmatch(text)
    if not match:
        raise ValueError(
            f"cannot read {text!r} as a size: write a number with an optional unit B, KiB, MiB, GiB "
            "or TiB, e.g. 64MiB or 1.5GiB"
        )
    number, unit = match.groups()
    factor = _UNITS.get(unit.lower())
    if factor is None:
        raise ValueError(
            f"unknown size unit {unit!r} in {text!r}: use B, KiB, MiB, GiB or TiB (binary units, e.g. 64MiB)"
        )
    try:
        value = Decimal(number) * factor
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError(f"cannot read {text!r} as a size") from exc
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of bytes ({value} bytes)")
    return int(value)
