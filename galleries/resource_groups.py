"""Resource groups as ARM's Microsoft.Resources manages them (F21): update the tags, and delete a group
with everything inside it — Azure's "Resource Groups - Delete" deletes the group's resources first, then
the group, as one long-running operation.

Creating a group is ``accounts.administration.create_resource_group`` (the day-one page's service).
Deleting goes through each type's own service, so every rule, access check and activity-log entry is
theirs, in dependency order: the deployments (VMs and scale sets, which hold image versions), the image
versions (a version with replicas is deleted by its regions' workers; ``advance_deletion`` waits for
them), the image definitions, the galleries, the managed images and snapshots, the VHD uploads, then the
group. It sits above ``galleries.services`` and ``galleries.deployments`` because it calls both.
"""

from __future__ import annotations

from accounts.activity import Caller, change
from accounts.models import Resource, ResourceGroup
from accounts.services import touch, validate_tags
from portal.core.errors import ServiceError

from . import deployments, services
from .models import Blob, Gallery, GalleryImage, GalleryImageVersion, ManagedImage, Snapshot
from .models_deploy import Deployment

DELETE = f"{ResourceGroup.ARM_TYPE}/delete"
WRITE = f"{ResourceGroup.ARM_TYPE}/write"
PS = GalleryImageVersion.ProvisioningState


def update_tags(caller: Caller, group: ResourceGroup, tags) -> ResourceGroup:
    """Replace the group's tags (``write`` on the group needed)."""
    with change(caller, WRITE, resource=group) as ch:
        group.tags = validate_tags(tags)
        ch.message = "Tags updated."
        touch(group, caller)
        group.save()
    return group


def start_deletion(caller: Caller, group: ResourceGroup) -> None:
    """Begin deleting ``group``: ``delete`` on it needed, checked and logged here; then
    ``advance_deletion`` does the work (a refusal inside fails the operation, not this request)."""
    with change(caller, DELETE, resource=group) as ch:
        ch.message = "Deleting the resource group: its resources first, then the group."


def _in(model, group: ResourceGroup):
    return model.objects.filter(resource_group_id=group.pk).order_by("-pk")


def advance_deletion(caller: Caller, group: ResourceGroup) -> bool:
    """Delete what can be deleted now; True once the group itself is gone, False while versions'
    replicas are still being removed by the region workers. A refusal (a version elsewhere published
    from an image of this group, say) raises the service's ``ServiceError``."""
    if not ResourceGroup.objects.filter(pk=group.pk).exists():
        return True
    for deployment in _in(Deployment, group):
        deployments.delete_deployment(caller, deployment)
    for version in _in(GalleryImageVersion, group).exclude(provisioning_state=PS.DELETING):
        services.delete_version(caller, version)
    if _in(GalleryImageVersion, group).exists():
        return False  # the region workers are removing replicas
    for definition in _in(GalleryImage, group):
        services.delete_definition(caller, definition)
    for gallery in _in(Gallery, group):
        services.delete_gallery(caller, gallery)
    for image in _in(ManagedImage, group).select_related("os_disk"):
        services.delete_managed_image(caller, image)
    for snapshot in _in(Snapshot, group).select_related("disk"):
        services.delete_snapshot(caller, snapshot)
    for blob in Blob.objects.filter(resource_group_id=group.pk).select_related("region", "resource_group"):
        services.discard_upload(caller, blob, "Its resource group is being deleted.")
    with change(caller, DELETE, resource=group) as ch:
        left = Resource.objects.filter(resource_group_id=group.pk).exclude(pk=group.pk)
        if left.exists():
            names = ", ".join(sorted(r.arm_id for r in left[:5]))
            raise ServiceError.conflict(
                f"The resource group '{group.name}' still holds resources this portal cannot delete: {names}.",
                "name",
            )
        ch.resource, ch.arm_id = None, group.arm_id
        ch.scope = Resource.objects.get(pk=group.parent_id)
        ch.message = "Resource group deleted with everything in it."
        group.delete()
    return True
