"""Deleting a deployment (F10): a VM or a scale set, in any state.

As Azure does, a VM or a scale set can be deleted whatever its state: deleting one that is Creating
cancels its creation (a provisioning task that finishes afterwards finds no Creating row and drops its
copy of the disk, see ``create._finish``); one that is Waiting for a replica simply leaves the queue.
What the deployment holds goes with it: its OS disk (the portal models no separate disk resource, so
the disk is deleted with the VM, as Azure's "delete with VM" option does) and its resource row (with
its role assignments). Deployments take no subscription usage counter (no quota is reserved when one
is created), so none is released.

A deployment that was Creating held a replica slot, and one that was Waiting may have kept later
ones of its kind waiting behind it (first come, first served): after such a delete the waiting
deployments of the same source and region are admitted if they fit now (``admit_waiting``, which
queues their creation by name through ``galleries.queue``).
"""

from __future__ import annotations

from django.db import transaction

from accounts.activity import Caller, change
from accounts.models import Resource

from ..models import StoredDisk
from ..models_deploy import Deployment
from ..storage import RegionStore
from .create import admit_waiting

#: States whose deletion may let waiting deployments start.
HOLDS_A_PLACE = (Deployment.State.CREATING, Deployment.State.WAITING)


def delete_deployment(caller: Caller, deployment: Deployment) -> None:
    """Delete a VM or a scale set (needs ``delete`` on it: checked and logged by ``change``), with
    its OS disk; then admit the deployments waiting for the place it held."""
    with change(caller, f"{deployment.type}/delete", resource=deployment) as ch:
        # Read the state again under a row lock: a provisioning task may have finished meanwhile.
        current = (
            Deployment.objects.select_for_update()
            .filter(pk=deployment.pk)
            .values("state", "os_disk_id", "source_version_id", "location_id", "source_image_id")
            .first()
        )
        if current is None:  # deleted meanwhile: nothing left to delete
            ch.resource, ch.arm_id = None, deployment.arm_id
            ch.scope = Resource.objects.filter(pk=deployment.parent_id).first()
            ch.message = f"{deployment.kind_label} {deployment.name} was already deleted."
            return
        ch.resource, ch.arm_id = None, deployment.arm_id
        ch.scope = Resource.objects.get(pk=deployment.parent_id)
        was = current["state"]
        ch.details = {"state": was}
        ch.message = f"{deployment.kind_label} {deployment.name} deleted" + (
            " (its creation was cancelled)." if was == Deployment.State.CREATING else "."
        )
        disk = (
            StoredDisk.objects.select_related("region__cloud").filter(pk=current["os_disk_id"]).first()
            if current["os_disk_id"]
            else None
        )
        Deployment.objects.get(pk=deployment.pk).delete()  # the disk is PROTECTed by the row: row first
        if disk is not None:
            store, path = RegionStore(disk.region), disk.path
            disk.delete()
            transaction.on_commit(lambda: store.delete(path))
    if was in HOLDS_A_PLACE:
        admit_waiting(current["source_version_id"], current["location_id"], current["source_image_id"])
