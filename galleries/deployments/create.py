"""Creating a deployment (F10): the checks, the admission against the replicas' load (or Waiting),
the provisioning (the task's whole work) and the admission of waiting deployments.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import access
from accounts.activity import Caller, Change, change
from accounts.models import ActivityLogEntry, Resource, ResourceGroup
from accounts.roles import Action
from accounts.services import name_taken, new_resource, require_enabled, validate_tags
from portal.core.errors import ServiceError

from .. import queue, replication, services
from ..models import (
    DiskType,
    GalleryImageVersion,
    ManagedImage,
    OsState,
    Region,
    Replica,
    StoredDisk,
    TargetRegion,
)
from ..models_deploy import (
    Deployment,
    VirtualMachine,
    VirtualMachineScaleSet,
)
from ..regions import resolve_region
from ..services import checks
from ..storage import RegionStore
from .load import load_of, lock_source, serving_rows
from .rules import (
    DEFAULT_SIZE,
    MAX_VM_NAME,
    P_LOCATION,
    PS_DELETING,
    SPECIALIZED_WARNING,
    OsProfile,
    check_disk_type,
    check_instances,
    check_os_profile,
    deployable,
    recommendation,
    resolve_source,
    size_of,
    target_row,
)

# --- Create ------------------------------------------------------------------------------------------


def create_deployment(
    caller: Caller,
    source,
    resource_group: ResourceGroup,
    name: str,
    *,
    location=None,
    scale_set: bool = False,
    size: str = DEFAULT_SIZE,
    instance_count=None,
    disk_type: str = DiskType.STANDARD_SSD_LRS,
    os_profile: OsProfile | None = None,
    tags=None,
) -> Deployment:
    """Deploy a VM (or a scale set) from ``source`` (an image version, a definition for its latest, or
    a managed image — an object or its ARM id) into ``resource_group``. Returns the deployment,
    Creating (its creation is queued on the region) or Waiting (``waiting_reason`` says why); its
    ``warnings`` list what was accepted but is outside a recommendation."""
    model = VirtualMachineScaleSet if scale_set else VirtualMachine
    arm_id = f"{resource_group.arm_id}/providers/{model.ARM_TYPE}/{name}"
    with change(caller, f"{model.ARM_TYPE}/write", scope=resource_group, arm_id=arm_id) as ch:
        checks.check_name(
            name, services.CHILD_NAME, "VM" if not scale_set else "scale set", services.CHILD_NAME_RULE
        )
        if len(name) > MAX_VM_NAME:
            raise ServiceError.invalid("name", f"A VM name can be at most {MAX_VM_NAME} characters long.")
        asked = deployable(caller.actor, source if isinstance(source, str | int) else source.arm_id)
        access.require(caller.actor, Action.DEPLOY, asked, operation=f"{asked.type}/deploy/action")
        region = resolve_region(location, P_LOCATION) if location else resource_group.location
        resolved = resolve_source(asked, region)
        chosen = size_of(size)
        disk = check_disk_type(resolved.definition, disk_type)
        count = check_instances(resolved, scale_set, instance_count)
        profile = check_os_profile(resolved, os_profile)
        tags = validate_tags(tags)
        require_enabled(resource_group.subscription)
        if name_taken(resource_group, model.ARM_TYPE, name):
            raise ServiceError.conflict(
                f"A {'scale set' if scale_set else 'VM'} named '{name}' already exists in this resource group.",
                "name",
            )
        warnings = []
        outside = recommendation(resolved.definition, chosen)
        if outside:
            warnings.append(
                f"{chosen.name} has {outside}: outside what the image definition '{resolved.definition.name}' "
                "recommends. The VM is created anyway."
            )
        if resolved.os_state == OsState.SPECIALIZED:
            warnings.append(SPECIALIZED_WARNING)
        eol = (resolved.version.end_of_life_date if resolved.version else None) or (
            resolved.definition.end_of_life_date if resolved.definition else None
        )
        if eol is not None and eol <= timezone.now():
            warnings.append(f"The image reached its end of life on {eol:%Y-%m-%d}; it may be removed soon.")
        lock_source(resolved.version, region, resolved.image)
        load = load_of(resolved.version, region, resolved.image)
        # First come, first served among creations of the same kind (VMs and scale sets use different
        # capacities of a replica, so neither queues behind the other).
        waiting_before = serving_rows(resolved.version, resolved.image, region).filter(
            state=Deployment.State.WAITING, type=model.ARM_TYPE
        )
        indexes = None if waiting_before.exists() else load.place(scale_set, count)
        now = timezone.now()
        deployment = new_resource(
            model,
            caller,
            parent=resource_group,
            arm_id=arm_id,
            name=name,
            location=region,
            tags=tags,
            source_arm_id=asked.arm_id,
            from_latest=resolved.from_latest,
            source_version=resolved.version,
            source_definition=resolved.definition,
            source_image=resolved.image,
            source_version_name=resolved.version.name if resolved.version else "",
            os_type=resolved.os_type,
            os_state=resolved.os_state,
            hyper_v_generation=resolved.hyper_v_generation,
            size=chosen.name,
            vcpus=chosen.vcpus,
            memory_gb=chosen.memory_gb,
            disk_type=disk,
            instance_count=count,
            computer_name=profile.computer_name if profile else "",
            admin_username=profile.admin_username if profile else "",
            auth=(Deployment.Auth.SSH if profile.ssh_public_key else Deployment.Auth.PASSWORD)
            if profile
            else "",
            ssh_public_key=profile.ssh_public_key if profile else "",
            warnings=warnings,
            queued_at=now,
        )
        version_label = resolved.version.name if resolved.version else resolved.image.name
        if indexes is None:
            deployment.state = Deployment.State.WAITING
            deployment.waiting_reason = (
                load.why_wait(scale_set, count, region, version_label)
                if not waiting_before.exists()
                else f"Earlier deployments from {version_label} in {region.display_name} are waiting for a free "
                "replica; this one is queued behind them. "
                + load.why_wait(scale_set, count, region, version_label)
            )
        else:
            deployment.state = Deployment.State.CREATING
            deployment.replica_indexes = indexes
            deployment.started_at = now
        ch.conflict_message = f"A resource named '{name}' already exists in this resource group."
        ch.resource = deployment
        deployment.save()
        ch.details = {
            "source": asked.arm_id,
            "version": deployment.source_version_name,
            "state": deployment.state,
            "replicas": indexes or [],
        }
        ch.message = deployment.waiting_reason
        if deployment.state == Deployment.State.CREATING:
            _enqueue_on_commit(deployment)
    return deployment


def _enqueue_on_commit(deployment: Deployment) -> None:
    pk, region = deployment.pk, deployment.location.name
    transaction.on_commit(lambda: queue.send(queue.PROVISION_DEPLOYMENT, deployment_id=pk, region=region))


# --- Provision (the task), and admitting waiting deployments ----------------------------------------


def _serving_file(deployment: Deployment) -> tuple[RegionStore, str, int, str]:
    """The OS disk bytes a VM is created from: its replica, another verified replica in the region, or
    (a managed image) the image's disk. Returns store, path, size, SHA-256."""
    if deployment.source_image_id and deployment.source_version_id is None:
        disk = StoredDisk.objects.select_related("region__cloud").get(pk=deployment.source_image.os_disk_id)
        return RegionStore(disk.region), disk.path, disk.size_bytes, disk.sha256
    replicas = (
        Replica.objects.filter(
            target_region__version_id=deployment.source_version_id,
            target_region__region_id=deployment.location_id,
            disk__lun__isnull=True,
            verified_at__isnull=False,
        )
        .select_related("disk")
        .order_by("index")
    )
    preferred = deployment.replica_indexes[0] if deployment.replica_indexes else 0
    ordered = sorted(replicas, key=lambda r: (r.index != preferred, r.index))
    region = Region.objects.select_related("cloud").get(pk=deployment.location_id)
    for r in ordered:
        store = replication.store_for(region, r.zone)
        if store.exists(r.path):
            return store, r.path, r.disk.size_bytes, r.disk.sha256
    raise RuntimeError(
        f"No verified replica of version {deployment.source_version_name} is in {region.display_name} to create "
        "the VM from; the region's replication may be under repair."
    )


def provision(deployment_id: int) -> str:
    """Create a deployment that holds its replica slot: a VM gets its OS disk (a verified copy of the
    replica serving it); a scale set's instances are created from the replicas directly. Then the slot
    is released and waiting deployments that now fit start. Idempotent."""
    deployment = (
        Deployment.objects.select_related("location__cloud", "source_image").filter(pk=deployment_id).first()
    )
    if deployment is None or deployment.state != Deployment.State.CREATING:
        return "nothing to do"
    disk = None
    try:
        if not deployment.is_scale_set:
            src_store, src_path, size, digest = _serving_file(deployment)
            dst = RegionStore(deployment.location)
            rel = f"deployments/{deployment.pk}/{uuid.uuid4().hex}-os.vhd"
            got_size, got_digest = dst.copy_from(src_store, src_path, rel)
            if got_size != size or got_digest != digest:
                dst.delete(rel)
                raise RuntimeError("The copy of the OS disk did not verify (SHA-256 mismatch); try again.")
            disk = StoredDisk.objects.create(
                region=deployment.location, path=rel, size_bytes=size, sha256=digest
            )
    except Exception as exc:  # noqa: BLE001 - the failure is the deployment's state
        _finish(deployment, Deployment.State.FAILED, None, str(exc))
        return "failed"
    _finish(deployment, Deployment.State.RUNNING, disk, "")
    return "running"


def _finish(deployment: Deployment, state: str, disk: StoredDisk | None, error: str) -> None:
    with transaction.atomic():
        done = Deployment.objects.filter(pk=deployment.pk, state=Deployment.State.CREATING).update(
            state=state, os_disk=disk, error=error, finished_at=timezone.now()
        )
        if not done:
            if disk is not None:  # someone else finished it: drop our copy
                path, store = disk.path, RegionStore(deployment.location)
                disk.delete()
                transaction.on_commit(lambda: store.delete(path))
            return
        ch = Change(
            caller=Caller.system(),
            operation=f"{deployment.type}/write",
            resource=Resource.objects.get(pk=deployment.pk),
        )
        ch.message = f"{deployment.kind_label} {deployment.name}: {state}." + (f" {error}" if error else "")
        if state == Deployment.State.FAILED:
            ch.record(
                ActivityLogEntry.Status.FAILED, ServiceError("DeploymentFailed", error, deployment.name)
            )
        else:
            ch.record(ActivityLogEntry.Status.SUCCEEDED)
    admit_waiting(deployment.source_version_id, deployment.location_id, deployment.source_image_id)


def admit_waiting(version_id: int | None, region_id: int, image_id: int | None = None) -> list[int]:
    """Start, oldest first, the waiting deployments of (source, region) that the replicas can serve
    now; a waiting deployment whose version is no longer Completed there fails with the reason.
    Returns the ids started. Called when a creation finishes (and safe to call any time)."""
    region = Region.objects.select_related("cloud").get(pk=region_id)
    version = GalleryImageVersion.objects.filter(pk=version_id).first() if version_id else None
    image = ManagedImage.objects.filter(pk=image_id).first() if image_id and not version_id else None
    started: list[Deployment] = []
    with transaction.atomic():
        lock_source(version, region, image)
        waiting = list(
            serving_rows(version, image, region)
            .filter(state=Deployment.State.WAITING)
            .order_by("queued_at", "pk")
        )
        if not waiting:
            return []
        row = target_row(version, region) if version is not None else None
        gone = (version is None and image is None) or (version is not None and row is None)
        if gone or (version is not None and version.provisioning_state == PS_DELETING):
            where = f"version {version.name} in {region.display_name}" if version else "the image"
            Deployment.objects.filter(pk__in=[d.pk for d in waiting]).update(
                state=Deployment.State.FAILED,
                error=f"The source ({where}) was removed while the deployment was waiting.",
                finished_at=timezone.now(),
            )
            return []
        if row is not None and row.state != TargetRegion.State.COMPLETED:
            return []  # replicas are being added or repaired: keep waiting until the region is Completed
        load = load_of(version, region, image)
        now = timezone.now()
        blocked: set[bool] = set()
        for d in waiting:
            if d.is_scale_set in blocked:
                continue
            indexes = load.place(d.is_scale_set, d.instance_count)
            if indexes is None:
                blocked.add(d.is_scale_set)  # first come, first served: later ones of its kind wait behind it
                continue
            load.take(indexes, d.is_scale_set, d.instance_count)
            Deployment.objects.filter(pk=d.pk, state=Deployment.State.WAITING).update(
                state=Deployment.State.CREATING, replica_indexes=indexes, started_at=now, waiting_reason=""
            )
            d.location = region
            started.append(d)
        for d in started:
            _enqueue_on_commit(d)
    return [d.pk for d in started]


def admit_all_waiting() -> int:
    """Admit what fits everywhere (for beat, and after replicas were added): returns how many started.
    Also queues again creations whose task message was lost (still Creating long after they started):
    ``provision`` is idempotent, and a second finisher drops its copy."""
    stale = timezone.now() - timedelta(seconds=getattr(settings, "DEPLOYMENT_REQUEUE_SECONDS", 120))
    for d in Deployment.objects.filter(state=Deployment.State.CREATING, started_at__lt=stale).select_related(
        "location"
    ):
        _enqueue_on_commit(d)
    keys = (
        Deployment.objects.filter(state=Deployment.State.WAITING)
        .values_list("source_version_id", "location_id", "source_image_id")
        .distinct()
    )
    return sum(len(admit_waiting(v, r, i)) for v, r, i in list(keys))
