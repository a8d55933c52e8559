"""Capturing a running VM into a managed image or a snapshot (F10)."""

from __future__ import annotations

import uuid

from accounts import access
from accounts.activity import Caller, change
from accounts.models import ResourceGroup
from accounts.roles import Action
from accounts.services import name_taken
from portal.core.errors import ServiceError

from .. import services
from ..models import (
    ManagedImage,
    OsState,
    Snapshot,
    StoredDisk,
)
from ..models_deploy import (
    Deployment,
)
from ..services import checks
from ..storage import RegionStore

# --- Capture -----------------------------------------------------------------------------------------

CAPTURE_KINDS = ("image", "snapshot")


def capture(
    caller: Caller, deployment: Deployment, resource_group: ResourceGroup, name: str, kind: str = "image"
):
    """Capture a running VM's OS disk into a managed image (generalized VMs) or a snapshot (either),
    in ``resource_group``. Reuses the source services: the disk is exported as a VHD blob of the
    resource group, made into the image or snapshot by ``services.create_managed_image`` /
    ``services.create_snapshot`` (their rules, access checks and log entries), and the blob removed."""
    target_model = ManagedImage if kind == "image" else Snapshot
    exported: list = []
    try:
        with change(caller, f"{deployment.type}/capture/action", resource=deployment) as ch:
            _check_capture(caller, deployment, resource_group, name, kind, target_model)
            ch.details = {"into": f"{resource_group.arm_id}/providers/{target_model.ARM_TYPE}/{name}"}
            ch.message = f"Captured into the {'managed image' if kind == 'image' else 'snapshot'} '{name}'."
            blob = _export_disk(caller, deployment, resource_group, exported)
            if kind == "image":
                made = services.create_managed_image(
                    caller,
                    resource_group,
                    name,
                    os_blob=blob,
                    os_type=deployment.os_type,
                    hyper_v_generation=deployment.hyper_v_generation,
                )
            else:
                made = services.create_snapshot(
                    caller,
                    resource_group,
                    name,
                    blob=blob,
                    os_type=deployment.os_type,
                    os_state=deployment.os_state,
                    hyper_v_generation=deployment.hyper_v_generation,
                )
            services.discard_upload(
                caller, blob, reason=f"Capture of {deployment.name}: the exported VHD is removed."
            )
    except BaseException:
        for store, rel in exported:
            store.delete(rel)
        raise
    return made


def _check_capture(caller, deployment, resource_group, name, kind, target_model) -> None:
    if kind not in CAPTURE_KINDS:
        raise ServiceError.invalid(
            "kind", "Capture into a managed image ('image') or a snapshot ('snapshot')."
        )
    if deployment.is_scale_set:
        raise ServiceError.invalid(
            "kind", "A scale set cannot be captured; capture one of its VMs, or the VM its image came from."
        )
    if deployment.state != Deployment.State.RUNNING or deployment.os_disk_id is None:
        raise ServiceError.conflict(
            f"The VM '{deployment.name}' is {deployment.state}; only a running VM can be captured.", "name"
        )
    if kind == "image" and deployment.os_state == OsState.SPECIALIZED:
        raise ServiceError.invalid(
            "kind",
            f"The VM '{deployment.name}' is specialized and managed images are made from generalized VMs; "
            "capture it into a snapshot (a specialized snapshot can become a specialized image version).",
        )
    access.require(caller.actor, Action.WRITE, resource_group, target_model.ARM_TYPE)
    what = "image" if kind == "image" else "snapshot"
    checks.check_name(name, services.CHILD_NAME, what, services.CHILD_NAME_RULE)
    if name_taken(resource_group, target_model.ARM_TYPE, name):
        raise ServiceError.conflict(f"A {what} named '{name}' already exists in this resource group.", "name")


def _export_disk(caller: Caller, deployment: Deployment, resource_group: ResourceGroup, exported: list):
    """The VM's OS disk as a VHD blob of ``resource_group`` (copied, verified, adopted by register_blob)."""
    disk = StoredDisk.objects.select_related("region__cloud").get(pk=deployment.os_disk_id)
    blob_name = f"{deployment.name[:40]}-{uuid.uuid4().hex[:8]}.vhd"
    container = "captures"
    rel = f"blobs/{resource_group.pk}/{container}/{blob_name}"
    dst = RegionStore(resource_group.location)
    exported.append((dst, rel))
    size, digest = dst.copy_from(RegionStore(disk.region), disk.path, rel)
    if size != disk.size_bytes or digest != disk.sha256:
        raise ServiceError.conflict(
            f"The disk of '{deployment.name}' did not read back intact; try again.", "name"
        )
    return services.register_blob(caller, resource_group, blob_name, container=container)
