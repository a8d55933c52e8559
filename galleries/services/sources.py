"""Managed images and snapshots (F4), made from blobs."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

from django.db import transaction
from django.db.models import Q

from accounts.activity import Caller, change
from accounts.models import Resource, ResourceGroup
from accounts.services import name_taken, new_resource, require_enabled, validate_tags
from portal.core import inputs
from portal.core.errors import ServiceError

from ..models import (
    Blob,
    HyperVGeneration,
    ManagedImage,
    ManagedImageDataDisk,
    OsState,
    OsType,
    Snapshot,
    StoredDisk,
    VersionDisk,
)
from ..storage import RegionStore
from .checks import CHILD_NAME, CHILD_NAME_RULE, arm_op, check_choice, check_luns, check_name


def _disk_from_blob(blob: Blob, target: str, written: list) -> StoredDisk:
    """Deep-copy an available blob into a new managed disk in the same region, verifying the copy.
    The new file is noted in ``written`` so a refused or failed write can remove it."""
    if blob.state != Blob.State.AVAILABLE:
        raise ServiceError.invalid(
            target,
            f"The blob '{blob.name}' is still uploading ({blob.bytes_received:,} of "
            f"{blob.size_bytes:,} bytes); finish the upload first.",
        )
    store = RegionStore(blob.region)
    rel = f"disks/{uuid.uuid4().hex}.vhd"
    written.append((store, rel))
    try:
        size, digest = store.copy_from(store, blob.relative_path, rel)
    except FileNotFoundError:
        raise ServiceError.invalid(
            target,
            f"The blob '{blob.name}' is registered but its file is missing from the store of "
            f"{blob.region.display_name}; upload it again.",
        ) from None
    if digest != blob.sha256 or size != blob.size_bytes:
        raise ServiceError.invalid(
            target,
            f"The blob '{blob.name}' changed on disk since it was uploaded (its SHA-256 no longer matches).",
        )
    return StoredDisk.objects.create(region=blob.region, path=rel, size_bytes=size, sha256=digest)


@contextmanager
def _files_removed_on_failure():
    """Nothing half written: files created for a write that then fails are deleted."""
    written: list = []
    try:
        yield written
    except BaseException:
        for store, rel in written:
            store.delete(rel)
        raise


@contextmanager
def _writing(caller: Caller, resource_group: ResourceGroup, model, name: str, what: str):
    """The write of a managed image or snapshot: one change (activity-logged) whose disk files are
    deleted again if it fails; the name is checked first. Yields the written files and the change."""
    arm_id = f"{resource_group.arm_id}/providers/{model.ARM_TYPE}/{name}"
    with (
        _files_removed_on_failure() as written,
        change(caller, arm_op(model, "write"), scope=resource_group, arm_id=arm_id) as ch,
    ):
        check_name(name, CHILD_NAME, what, CHILD_NAME_RULE)
        yield written, ch


def _as_id(value) -> int:
    """A row id written as text, or -1 (matches nothing) when it is not one."""
    try:
        return inputs.whole_number(value, "id", "An id", 0, inputs.MAX_ID)
    except ServiceError:
        return -1


def _blob_in(resource_group: ResourceGroup, blob, target: str) -> Blob:
    if isinstance(blob, Blob):
        found = blob
    else:
        found = (
            Blob.objects.filter(resource_group=resource_group)
            .filter(Q(name__iexact=str(blob)) | Q(pk=_as_id(blob)))
            .first()
        )
    if found is None or found.resource_group.subscription_id != resource_group.subscription_id:
        raise ServiceError.invalid(target, f"The blob '{blob}' does not exist in this subscription.")
    return found


def _generation_and_tags(resource_group: ResourceGroup, hyper_v_generation, tags) -> tuple[str, dict]:
    """The checks a managed image and a snapshot share after their OS fields: the Hyper-V generation,
    the tags, and a subscription that is enabled."""
    gen = check_choice(
        hyper_v_generation, HyperVGeneration, "properties.hyperVGeneration", "Hyper-V generation"
    )
    tags = validate_tags(tags)
    require_enabled(resource_group.subscription)
    return gen, tags


def _saved(
    ch, what: str, model, caller: Caller, resource_group: ResourceGroup, name: str, blob, tags, **fields
):
    """A managed image or snapshot saved in ``resource_group`` (a name taken there is a conflict), in the
    region and with the URI of the blob of its (OS) disk, as the resource of the change ``ch``."""
    message = f"{what} named '{name}' already exists in this resource group."
    if name_taken(resource_group, model.ARM_TYPE, name):
        raise ServiceError.conflict(message, "name")
    resource = new_resource(
        model,
        caller,
        parent=resource_group,
        arm_id=ch.arm_id,
        name=name,
        location=blob.region,
        tags=tags,
        source_uri=blob.uri,
        **fields,
    )
    ch.conflict_message = message
    ch.resource = resource
    resource.save()
    return resource


def create_managed_image(
    caller: Caller,
    resource_group: ResourceGroup,
    name: str,
    *,
    os_blob,
    os_type: str,
    hyper_v_generation: str = "V1",
    data_blobs=(),
    tags=None,
) -> ManagedImage:
    """A managed image from a VHD blob (uploaded, or already in storage) plus data-disk blobs (F4)."""
    with _writing(caller, resource_group, ManagedImage, name, "image") as (written, ch):
        os_type = check_choice(os_type, OsType, "properties.storageProfile.osDisk.osType", "OS type")
        gen, tags = _generation_and_tags(resource_group, hyper_v_generation, tags)
        os_b = _blob_in(resource_group, os_blob, "properties.storageProfile.osDisk.blobUri")
        data_blobs = list(data_blobs)
        check_luns([lun for lun, _ in data_blobs], "properties.storageProfile.dataDisks[{i}].lun")
        data = []
        for i, (lun, b) in enumerate(data_blobs):
            data.append(
                (lun, _blob_in(resource_group, b, f"properties.storageProfile.dataDisks[{i}].blobUri"))
            )
        for b in [os_b] + [b for _, b in data]:
            if b.region_id != os_b.region_id:
                raise ServiceError.invalid(
                    "properties.storageProfile",
                    "All disks of an image must be in the same region as its OS disk.",
                )
        image = _saved(
            ch,
            "An image",
            ManagedImage,
            caller,
            resource_group,
            name,
            os_b,
            tags,
            os_type=os_type,
            hyper_v_generation=gen,
            os_disk=_disk_from_blob(os_b, "properties.storageProfile.osDisk.blobUri", written),
        )
        for i, (lun, b) in enumerate(data):
            ManagedImageDataDisk.objects.create(
                image=image,
                lun=lun,
                disk=_disk_from_blob(b, f"properties.storageProfile.dataDisks[{i}].blobUri", written),
            )
    return image


def create_snapshot(
    caller: Caller,
    resource_group: ResourceGroup,
    name: str,
    *,
    blob,
    os_type: str = "",
    os_state: str = OsState.GENERALIZED,
    hyper_v_generation: str = "V1",
    tags=None,
) -> Snapshot:
    """A snapshot of one disk from a VHD blob: an OS disk (with its OS type) or a data disk (F4)."""
    with _writing(caller, resource_group, Snapshot, name, "snapshot") as (written, ch):
        os_type = check_choice(os_type, OsType, "properties.osType", "OS type") if os_type else ""
        state = check_choice(os_state, OsState, "properties.osState", "OS state")
        gen, tags = _generation_and_tags(resource_group, hyper_v_generation, tags)
        b = _blob_in(resource_group, blob, "properties.creationData.sourceUri")
        snap = _saved(
            ch,
            "A snapshot",
            Snapshot,
            caller,
            resource_group,
            name,
            b,
            tags,
            os_type=os_type,
            os_state=state,
            hyper_v_generation=gen,
            disk=_disk_from_blob(b, "properties.creationData.sourceUri", written),
        )
    return snap


def _delete_source(caller: Caller, resource: ManagedImage | Snapshot, disks: list[StoredDisk]) -> None:
    with change(caller, arm_op(type(resource), "delete"), resource=resource) as ch:
        used = VersionDisk.objects.filter(source_disk__in=disks).select_related("version").first()
        if used is not None:
            raise ServiceError.conflict(
                f"'{resource.name}' is the source of image version {used.version.arm_id}; delete that version first.",
                "name",
            )
        ch.resource, ch.arm_id = None, resource.arm_id
        ch.scope = Resource.objects.get(pk=resource.parent_id)
        resource.delete()
        for disk in disks:
            store = RegionStore(disk.region)
            path = disk.path
            disk.delete()
            transaction.on_commit(lambda s=store, p=path: s.delete(p))


def delete_managed_image(caller: Caller, image: ManagedImage) -> None:
    disks = [image.os_disk] + [d.disk for d in image.data_disks.select_related("disk")]
    _delete_source(caller, image, disks)


def delete_snapshot(caller: Caller, snapshot: Snapshot) -> None:
    _delete_source(caller, snapshot, [snapshot.disk])
