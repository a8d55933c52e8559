"""VHD uploads and registered blobs (F4)."""

from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.access import require
from accounts.activity import Caller, Change, change
from accounts.models import ActivityLogEntry, ResourceGroup
from accounts.roles import BLOB_TYPE, Action
from accounts.services import require_enabled
from portal.core import limits
from portal.core.errors import ServiceError

from .. import vhd
from ..models import (
    Blob,
)
from ..storage import RegionStore
from .checks import BLOB_NAME, CONTAINER_NAME

_hashers: dict[int, tuple[int, object]] = {}
_hashers_lock = threading.Lock()


def _check_blob_name(container: str, name: str) -> None:
    if not isinstance(container, str) or not CONTAINER_NAME.fullmatch(container):
        raise ServiceError.invalid(
            "container",
            f"The container name '{limits.quote(container)}' is invalid: use 3–63 lower-case letters, digits and "
            "single hyphens.",
        )
    if not isinstance(name, str) or not BLOB_NAME.fullmatch(name):
        raise ServiceError.invalid(
            "name",
            f"The blob name '{limits.quote(name)}' is invalid: use letters, digits, hyphens, underscores and "
            "periods, up to 255 characters, ending in .vhd.",
        )


@contextmanager
def _blob_write(caller: Caller, resource_group: ResourceGroup, container: str, name: str):
    """The change that writes a blob into the resource group (one activity-log entry), its name
    checked first."""
    with change(
        caller,
        "Microsoft.Storage/blobs/write",
        scope=resource_group,
        arm_id=f"{resource_group.arm_id}/blobs/{container}/{name}",
    ) as ch:
        _check_blob_name(container, name)
        yield ch


def start_upload(
    caller: Caller, resource_group: ResourceGroup, name: str, size_bytes: int, container: str = "vhds"
) -> Blob:
    """Begin (or resume) a chunked upload of a VHD into the resource group's region store.
    Starting again with the same name and size resumes the unfinished upload."""
    with _blob_write(caller, resource_group, container, name):
        if isinstance(size_bytes, bool) or not isinstance(size_bytes, int):
            raise ServiceError.invalid("size", "The upload size must be a whole number of bytes.")
        try:
            vhd.validate_declared_size(size_bytes)
        except vhd.VhdFormatError as err:
            raise ServiceError.invalid("size", str(err)) from None
        require_enabled(resource_group.subscription)
        existing = Blob.objects.filter(
            resource_group=resource_group, container__iexact=container, name__iexact=name
        ).first()
        if existing is not None:
            if existing.state == Blob.State.UPLOADING and existing.size_bytes == size_bytes:
                return existing
            raise ServiceError.conflict(
                f"A blob named '{name}' already exists in container '{container}'; choose another name or delete it.",
                "name",
            )
        blob = Blob(
            resource_group=resource_group,
            region=resource_group.location,
            container=container,
            name=name,
            size_bytes=size_bytes,
            created_by=caller.principal,
        )
        if RegionStore(resource_group.location).exists(blob.relative_path):
            raise ServiceError.conflict(
                f"A VHD named '{name}' is already in the store of {resource_group.location.display_name} (not yet "
                "registered); register it as a blob or upload under another name.",
                "name",
            )
        blob.save()
        return blob


def _hasher_for(blob: Blob, store: RegionStore):
    """The running SHA-256 of an upload. Kept in memory between chunks; a resume in another process
    (or after a restart) first re-reads the bytes already written, so the digest is always of the
    whole file."""

    with _hashers_lock:
        entry = _hashers.get(blob.pk)
    if entry is not None and entry[0] == blob.bytes_received:
        return entry[1]
    h = hashlib.sha256()
    if blob.bytes_received:
        for buf in store.read_chunks(blob.temp_relative_path, 0, blob.bytes_received):
            h.update(buf)
    return h


def _may_upload(caller: Caller, blob: Blob) -> None:
    """Chunks between the start and the end are not logged one by one, but each is checked; a
    refused one is logged."""

    try:
        require(caller.actor, Action.WRITE, blob.resource_group, BLOB_TYPE, "Microsoft.Storage/blobs/write")
    except ServiceError as err:
        _log_refused_upload(caller, blob, err)
        raise


def upload_chunk(caller: Caller, blob: Blob, offset: int, data: bytes) -> Blob:
    """Append one chunk at ``offset`` (which must be where the upload stands). The last chunk
    validates the VHD footer, then renames the file into place; an invalid VHD is discarded whole."""

    failure = None
    _may_upload(caller, blob)
    with transaction.atomic():
        found = Blob.objects.select_for_update().select_related("region__cloud").filter(pk=blob.pk).first()
        if found is None:
            raise ServiceError.not_found(
                f"The upload of '{blob.name}' no longer exists (it was refused or discarded); start it again.",
                "blob",
            )
        blob = found
        if blob.state != Blob.State.UPLOADING:
            raise ServiceError.conflict(f"The upload of '{blob.name}' is already complete.", "offset")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ServiceError.invalid(
                "offset", f"The offset must be a whole number of bytes ≥ 0; '{offset}' was given."
            )
        if offset != blob.bytes_received:
            raise ServiceError.conflict(
                f"The upload of '{blob.name}' stands at byte {blob.bytes_received:,}; send the chunk that starts there "
                f"(this one starts at {offset:,}).",
                "offset",
            )
        if not data:
            raise ServiceError.invalid("chunk", "The chunk is empty.")
        if len(data) > settings.UPLOAD_MAX_CHUNK_BYTES:
            raise ServiceError.invalid(
                "chunk",
                f"The chunk is {len(data):,} bytes; chunks can be at most {settings.UPLOAD_MAX_CHUNK_BYTES:,} bytes.",
            )
        if offset + len(data) > blob.size_bytes:
            raise ServiceError.invalid(
                "chunk",
                f"The chunk ends at byte {offset + len(data):,}, past the declared size of {blob.size_bytes:,} bytes.",
            )
        store = RegionStore(blob.region)
        h = _hasher_for(blob, store)
        store.write_at(blob.temp_relative_path, offset, data)
        h.update(data)
        blob.bytes_received = offset + len(data)
        blob.updated_at = timezone.now()
        if blob.bytes_received < blob.size_bytes:
            blob.save(update_fields=["bytes_received", "updated_at"])
            with _hashers_lock:
                _hashers[blob.pk] = (blob.bytes_received, h)
            return blob
        with _hashers_lock:
            _hashers.pop(blob.pk, None)
        with store.open_read(blob.temp_relative_path) as f:
            f.seek(blob.size_bytes - vhd.FOOTER_SIZE)
            footer = f.read(vhd.FOOTER_SIZE)
        try:
            vhd.validate_footer(footer, blob.size_bytes)
            if store.exists(blob.relative_path):
                raise ServiceError.conflict(
                    f"A VHD named '{blob.name}' appeared in the store while uploading; the upload is discarded so "
                    "the existing file is kept. Upload under another name.",
                    "name",
                )
        except (vhd.VhdFormatError, ServiceError) as err:
            failure = err
            blob.save(update_fields=["bytes_received", "updated_at"])
        else:
            with change(
                caller,
                "Microsoft.Storage/blobs/write",
                scope=blob.resource_group,
                arm_id=f"{blob.resource_group.arm_id}/blobs/{blob.container}/{blob.name}",
            ) as ch:
                ch.message = f"Upload of {blob.name} completed ({blob.size_bytes:,} bytes)."
                blob.sha256 = h.hexdigest()
                blob.state = Blob.State.AVAILABLE
                blob.save()
                store.commit(blob.temp_relative_path, blob.relative_path)
            return blob
    # Refused at the end: discard the whole upload, and log the refused write.
    error = (
        failure
        if isinstance(failure, ServiceError)
        else ServiceError.invalid("file", f"'{blob.name}' is not a valid VHD: {failure}")
    )
    discard_upload(caller, blob, reason=error.message)
    _log_refused_upload(caller, blob, error)
    raise error


def _log_refused_upload(caller: Caller, blob: Blob, error: ServiceError) -> None:
    Change(
        caller=caller,
        operation="Microsoft.Storage/blobs/write",
        scope=blob.resource_group,
        arm_id=f"{blob.resource_group.arm_id}/blobs/{blob.container}/{blob.name}",
    ).record(ActivityLogEntry.Status.FAILED, error)


def discard_upload(caller: Caller, blob: Blob, reason: str = "") -> None:
    """Remove an unfinished or refused upload with its temporary file."""
    with change(
        caller,
        "Microsoft.Storage/blobs/delete",
        scope=blob.resource_group,
        arm_id=f"{blob.resource_group.arm_id}/blobs/{blob.container}/{blob.name}",
    ) as ch:
        ch.message = reason
        store = RegionStore(blob.region)
        Blob.objects.filter(pk=blob.pk).delete()
        path = blob.temp_relative_path if blob.state == Blob.State.UPLOADING else blob.relative_path
        transaction.on_commit(lambda: store.delete(path))
    with _hashers_lock:
        _hashers.pop(blob.pk, None)


def register_blob(caller: Caller, resource_group: ResourceGroup, name: str, container: str = "vhds") -> Blob:
    """Adopt a VHD already present in the resource group's region store (an "unmanaged image",
    F4 scenario 2): validate it as a fixed VHD and record its size and SHA-256."""
    with _blob_write(caller, resource_group, container, name):
        require_enabled(resource_group.subscription)
        blob = Blob(
            resource_group=resource_group,
            region=resource_group.location,
            container=container,
            name=name,
            state=Blob.State.AVAILABLE,
            size_bytes=0,
            created_by=caller.principal,
        )
        store = RegionStore(resource_group.location)
        if not store.exists(blob.relative_path):
            raise ServiceError.invalid(
                "name",
                f"No blob '{container}/{name}' exists in {resource_group.location.display_name}'s store.",
            )
        if Blob.objects.filter(
            resource_group=resource_group, container__iexact=container, name__iexact=name
        ).exists():
            raise ServiceError.conflict(f"The blob '{container}/{name}' is already registered.", "name")
        size = store.size(blob.relative_path)
        try:
            vhd.validate_declared_size(size)
            with store.open_read(blob.relative_path) as f:
                f.seek(size - vhd.FOOTER_SIZE)
                vhd.validate_footer(f.read(vhd.FOOTER_SIZE), size)
        except vhd.VhdFormatError as err:
            raise ServiceError.invalid("file", f"'{name}' is not a valid VHD: {err}") from None
        blob.size_bytes = blob.bytes_received = size
        blob.sha256 = store.sha256(blob.relative_path)
        blob.save()
    return blob
