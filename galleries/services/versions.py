"""Image versions (F7): create, update (target regions), delete, retry the failed regions."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F
from django.utils import timezone

from accounts.activity import Caller, change
from accounts.models import Resource
from accounts.services import in_future, name_taken, new_resource, require_enabled, touch, validate_tags
from portal.core.errors import ServiceError

from .. import replication, vhd
from ..models import (
    GalleryImage,
    GalleryImageVersion,
    HostCaching,
    ManagedImage,
    Region,
    Replica,
    Snapshot,
    StorageAccountType,
    TargetRegion,
    UsageCounter,
    VersionDisk,
)
from ..regions import resolve_region
from ..usage import release, reserve
from .checks import (
    MAX_INT32,
    MAX_REPLICAS,
    PP,
    TARGET_REGIONS,
    VERSION_NAME,
    Target,
    TargetRegionSpec,
    arm_op,
    check_choice,
    check_count,
    check_luns,
    clean_targets,
    get_resource,
    immutable_changes,
)

VERSION_PATHS = {
    "target_regions": TARGET_REGIONS,
    "replica_count": f"{PP}.replicaCount",
    "exclude_from_latest": f"{PP}.excludeFromLatest",
    "end_of_life_date": f"{PP}.endOfLifeDate",
    "storage_account_type": f"{PP}.storageAccountType",
    "source": "properties.storageProfile.source.id",
    "data_disk_snapshots": "properties.storageProfile.dataDiskImages",
    "os_host_caching": "properties.storageProfile.osDiskImage.hostCaching",
    "data_host_caching": "properties.storageProfile.dataDiskImages",
    "allow_deletion_of_replicated_locations": "properties.safetyProfile.allowDeletionOfReplicatedLocations",
    "block_deletion_before_end_of_life": "properties.safetyProfile.blockDeletionBeforeEndOfLife",
    "location": "location",
    "tags": "tags",
}
VERSION_MUTABLE = {
    "target_regions",
    "replica_count",
    "exclude_from_latest",
    "end_of_life_date",
    "tags",
    "allow_deletion_of_replicated_locations",
    "block_deletion_before_end_of_life",
}


def check_safety_profile(
    allow_deletion_of_replicated_locations: bool | None, block_deletion_before_end_of_life: bool | None
) -> None:
    """A version's safety profile (F24) is not implemented yet: the portal always lets replicated
    regions be removed and never blocks a deletion before the end of life. Asking for exactly that is
    accepted; asking for anything else is refused, so a client learns its setting is not honoured."""
    for key, value, portal_does, why in (
        (
            "allow_deletion_of_replicated_locations",
            allow_deletion_of_replicated_locations,
            True,
            "the portal does not yet protect replicated regions from removal (F24), so this can only be true",
        ),
        (
            "block_deletion_before_end_of_life",
            block_deletion_before_end_of_life,
            False,
            "the portal does not yet block deleting a version before its end-of-life date (F24), so this can "
            "only be false",
        ),
    ):
        if value is None:
            continue
        if not isinstance(value, bool):
            raise ServiceError.invalid(VERSION_PATHS[key], f"'{VERSION_PATHS[key]}' is true or false.")
        if value is not portal_does:
            raise ServiceError.invalid(VERSION_PATHS[key], f"'{VERSION_PATHS[key]}': {why}.")


def _caching_target(i: int) -> str:
    return f"{VERSION_PATHS['data_host_caching']}[{i}].hostCaching"


def check_host_caching(disks: list[dict], os_host_caching, data_host_caching) -> dict:
    """Each disk's ``hostCaching`` (ARM's HostCaching: None, ReadOnly or ReadWrite; "None" when not
    given): ``{lun: value}``, the OS disk's lun None. ``data_host_caching``: (lun, value) by the position
    of the entry in ``dataDiskImages`` (a value None: not given)."""
    out = {d["lun"]: HostCaching.NONE.value for d in disks}
    if os_host_caching is not None:
        out[None] = check_choice(
            os_host_caching, HostCaching, VERSION_PATHS["os_host_caching"], "host caching"
        )
    for i, (lun, value) in enumerate(data_host_caching or []):
        if value is None:
            continue
        value = check_choice(value, HostCaching, _caching_target(i), "host caching")
        if lun not in out or lun is None:
            raise ServiceError.invalid(
                f"{VERSION_PATHS['data_host_caching']}[{i}].lun",
                f"The version has no data disk at LUN {lun} to set the host caching of.",
            )
        out[lun] = value
    return out


def parse_version_name(name: str) -> tuple[int, int, int]:
    if not isinstance(name, str) or not VERSION_NAME.fullmatch(name):
        raise ServiceError.invalid(
            "name",
            f"The version name '{name}' is invalid: use Major.Minor.Patch, three whole numbers without leading zeros "
            "(e.g. 1.0.0).",
        )
    parts = tuple(int(p) for p in name.split("."))
    for label, value in zip(("major", "minor", "patch"), parts, strict=True):
        if value > MAX_INT32:
            raise ServiceError.invalid(
                "name",
                f"The {label} part of version '{name}' is {value}; each part must be at most {MAX_INT32}.",
            )
    return parts  # type: ignore[return-value]


def _version_disks(source, location: Region, definition: GalleryImage, data_snapshots) -> list[dict]:
    """The disks a version publishes, after checking the source fits the definition and location."""
    src_path = VERSION_PATHS["source"]
    if isinstance(source, ManagedImage):
        kind, os_type, os_state, gen, src_location = (
            "managed image",
            source.os_type,
            source.os_state,
            source.hyper_v_generation,
            source.location,
        )
        disks = [{"lun": None, "disk": source.os_disk, "arm": ""}]
        disks += [{"lun": d.lun, "disk": d.disk, "arm": ""} for d in source.data_disks.select_related("disk")]
    elif isinstance(source, Snapshot):
        if not source.os_type:
            raise ServiceError.invalid(
                src_path,
                f"The snapshot '{source.name}' is of a data disk; a version's source must be an OS-disk snapshot.",
            )
        kind, os_type, os_state, gen, src_location = (
            "snapshot",
            source.os_type,
            source.os_state,
            source.hyper_v_generation,
            source.location,
        )
        disks = [{"lun": None, "disk": source.disk, "arm": source.arm_id}]
    elif isinstance(source, GalleryImageVersion):
        src_def = source.definition
        kind, os_type, os_state, gen = (
            "image version",
            src_def.os_type,
            src_def.os_state,
            src_def.hyper_v_generation,
        )
        src_location = (
            location
            if source.target_regions.filter(region=location, state=TargetRegion.State.COMPLETED).exists()
            else source.location
        )
        disks = [{"lun": d.lun, "disk": d.source_disk, "arm": d.source_arm_id} for d in source.disks.all()]
    else:
        raise ServiceError.invalid(
            src_path, "The source must be a managed image, an OS-disk snapshot or another image version."
        )
    if data_snapshots:
        if not isinstance(source, Snapshot):
            raise ServiceError.invalid(
                VERSION_PATHS["data_disk_snapshots"],
                "Data-disk snapshots can only accompany an OS-disk snapshot source.",
            )
        check_luns([lun for lun, _ in data_snapshots], f"{VERSION_PATHS['data_disk_snapshots']}[{{i}}].lun")
        for i, (lun, snap) in enumerate(data_snapshots):
            if snap.location_id != location.pk:
                raise ServiceError.invalid(
                    f"{VERSION_PATHS['data_disk_snapshots']}[{i}].source.id",
                    f"The data-disk snapshot '{snap.name}' is in {snap.location.display_name}, not in the source region "
                    f"{location.display_name}.",
                )
            disks.append({"lun": lun, "disk": snap.disk, "arm": snap.arm_id})
    if src_location is None or src_location.pk != location.pk:
        raise ServiceError.invalid(
            "location",
            f"The source {kind} '{source.name}' is in {src_location.display_name if src_location else 'no region'}; "
            f"the version's location {location.display_name} must hold the source. Create the version in "
            f"{src_location.display_name if src_location else 'the source region'} and replicate it from there.",
        )
    if os_type != definition.os_type:
        raise ServiceError.invalid(
            src_path,
            f"The source {kind} '{source.name}' is {os_type} but the image definition '{definition.name}' is "
            f"{definition.os_type}; the OS types must match.",
        )
    if os_state != definition.os_state:
        raise ServiceError.invalid(
            src_path,
            f"The source {kind} '{source.name}' is {os_state} but the image definition '{definition.name}' is "
            f"{definition.os_state}; the OS states must match.",
        )
    if gen != definition.hyper_v_generation:
        raise ServiceError.invalid(
            src_path,
            f"The source {kind} '{source.name}' is Hyper-V generation {gen} but the image definition "
            f"'{definition.name}' is {definition.hyper_v_generation}; they must match.",
        )
    for d in disks:
        virtual = d["disk"].size_bytes - vhd.FOOTER_SIZE
        if virtual > vhd.MAX_VIRTUAL_SIZE:
            which = "OS disk" if d["lun"] is None else f"data disk at LUN {d['lun']}"
            raise ServiceError.invalid(
                src_path,
                f"The {which} of the source is {virtual:,} bytes, {_over(virtual - vhd.MAX_VIRTUAL_SIZE)} more than "
                f"the 1 TiB ({vhd.MAX_VIRTUAL_SIZE:,} bytes) any disk of an image may have.",
            )
    return disks


def source_region(location) -> Region:
    """The version's location: a region where versions can be created (a source region)."""
    region = resolve_region(location, "location")
    if not region.is_source:
        raise ServiceError.invalid(
            "location",
            f"{region.display_name} is not a source region: image versions can only be created in a source region "
            "and replicated from there.",
        )
    return region


def _over(n: int) -> str:
    return f"{n // vhd.MIB:,} MiB" if n % vhd.MIB == 0 else f"{n:,} bytes"


def _target_row(version: GalleryImageVersion, t: Target, total_bytes: int) -> TargetRegion:
    """An unsaved row of ``version`` for the target region ``t`` (``total_bytes``: the size of one replica)."""
    return TargetRegion(
        version=version,
        region=t.region,
        replica_count=t.replica_count,
        storage_account_type=t.storage_account_type,
        exclude_from_latest=t.exclude_from_latest,
        bytes_total=total_bytes * t.replica_count,
    )


def create_version(
    caller: Caller,
    definition: GalleryImage,
    name: str,
    *,
    location,
    source,
    target_regions=None,
    replica_count: int = 1,
    storage_account_type: str = StorageAccountType.STANDARD_LRS,
    exclude_from_latest: bool = False,
    end_of_life_date: datetime | None = None,
    data_disk_snapshots=None,
    os_host_caching: str | None = None,
    data_host_caching=None,
    tags=None,
    allow_deletion_of_replicated_locations: bool | None = None,
    block_deletion_before_end_of_life: bool | None = None,
) -> GalleryImageVersion:
    """Create a version and its target-region rows (replication starts from them).
    ``data_disk_snapshots``: (lun, snapshot) pairs; a pair with no snapshot names a data disk the
    source already has (as a GET shows it), and that LUN must be one of the source's.
    ``os_host_caching`` and ``data_host_caching`` ((lun, value) pairs): each disk's ``hostCaching``
    (``check_host_caching``), kept as given and never changed."""
    arm_id = f"{definition.arm_id}/versions/{name}"
    with change(caller, arm_op(GalleryImageVersion, "write"), scope=definition, arm_id=arm_id) as ch:
        major, minor, patch = parse_version_name(name)
        region = source_region(location)
        common = check_count(replica_count, f"{PP}.replicaCount", "replica count", 1, MAX_REPLICAS) or 1
        stype = check_choice(
            storage_account_type or "Standard_LRS",
            StorageAccountType,
            f"{PP}.storageAccountType",
            "storage account type",
        )
        eol = in_future(end_of_life_date, VERSION_PATHS["end_of_life_date"])
        check_safety_profile(allow_deletion_of_replicated_locations, block_deletion_before_end_of_life)
        tags = validate_tags(tags)
        subscription = definition.subscription
        require_enabled(subscription)
        specs = target_regions if target_regions is not None else [TargetRegionSpec(region)]
        targets = clean_targets(subscription, region, specs, common, stype)
        if source is not None and not isinstance(source, str):
            source = source.arm_id  # an object too is looked up through the access filter
        if not source:
            raise ServiceError.invalid(
                VERSION_PATHS["source"],
                "The source id is required: the id of a managed image, a snapshot or another image version.",
            )
        source = get_resource(caller, source, target=VERSION_PATHS["source"])
        entries = list(data_disk_snapshots or [])
        check_luns([lun for lun, _ in entries], f"{VERSION_PATHS['data_disk_snapshots']}[{{i}}].lun")
        data = [
            (
                lun,
                get_resource(
                    caller,
                    s if isinstance(s, str) else s.arm_id,
                    Snapshot,
                    target=f"{VERSION_PATHS['data_disk_snapshots']}[{i}].source.id",
                ),
            )
            for i, (lun, s) in enumerate(entries)
            if s is not None
        ]
        disks = _version_disks(source, region, definition, data)
        own = {d["lun"] for d in disks if d["lun"] is not None}
        for i, (lun, s) in enumerate(entries):
            if s is None and lun not in own:
                raise ServiceError.invalid(
                    f"{VERSION_PATHS['data_disk_snapshots']}[{i}].lun",
                    f"The source '{source.name}' has no data disk at LUN {lun}; name a data-disk snapshot as this "
                    "entry's source.id, or leave the entry out.",
                )
        caching = check_host_caching(disks, os_host_caching, data_host_caching)
        if name_taken(definition, GalleryImageVersion.ARM_TYPE, name):
            raise ServiceError.conflict(
                f"The image definition '{definition.name}' already has a version {name}.", "name"
            )
        reserve(subscription, region, UsageCounter.Kind.VERSIONS)
        version = new_resource(
            GalleryImageVersion,
            caller,
            parent=definition,
            arm_id=arm_id,
            name=name,
            location=region,
            tags=tags,
            hidden=True,
            major=major,
            minor=minor,
            patch=patch,
            replica_count=common,
            storage_account_type=stype,
            exclude_from_latest=bool(exclude_from_latest),
            end_of_life_date=eol,
            source_arm_id=source.arm_id,
            source_image=source if isinstance(source, ManagedImage) else None,
            source_snapshot=source if isinstance(source, Snapshot) else None,
            source_version=source if isinstance(source, GalleryImageVersion) else None,
        )
        ch.conflict_message = f"The image definition '{definition.name}' already has a version {name}."
        ch.resource = version
        version.save()
        VersionDisk.objects.bulk_create(
            VersionDisk(
                version=version,
                lun=d["lun"],
                source_disk=d["disk"],
                source_arm_id=d["arm"],
                size_bytes=d["disk"].size_bytes,
                sha256=d["disk"].sha256,
                host_caching=caching[d["lun"]],
            )
            for d in disks
        )
        total = sum(d["disk"].size_bytes for d in disks)
        TargetRegion.objects.bulk_create(_target_row(version, t, total) for t in targets)
        replication.enqueue_on_commit(version.target_regions.select_related("region"))
    return version


def update_version(caller: Caller, version: GalleryImageVersion, **changes) -> GalleryImageVersion:
    """Change what F7 allows: target regions, replica counts, exclude-from-latest, end-of-life date."""
    with change(caller, arm_op(GalleryImageVersion, "write"), resource=version) as ch:
        if version.provisioning_state == GalleryImageVersion.ProvisioningState.DELETING:
            raise ServiceError.conflict(
                f"Version {version.name} is being deleted; it cannot change any more."
            )
        for key, value in immutable_changes(changes, VERSION_PATHS, VERSION_MUTABLE, "an image version"):
            target = VERSION_PATHS[key]
            if key == "location":
                same = resolve_region(value).pk == version.location_id
            elif key == "source":
                same = (
                    value.arm_id if isinstance(value, Resource) else str(value)
                ).lower() == version.source_arm_id.lower()
            elif key == "storage_account_type":
                same = str(value).lower() == version.storage_account_type.lower()
            elif key == "os_host_caching":
                current = version.disks.filter(lun=None).values_list("host_caching", flat=True).first()
                same = str(value).lower() == (current or "").lower()
            elif key == "data_host_caching":
                current = dict(version.disks.exclude(lun=None).values_list("lun", "host_caching"))
                changed = [
                    i
                    for i, (lun, v) in enumerate(value)
                    if v is not None and str(v).lower() != current.get(lun, "").lower()
                ]
                same = not changed
                target = _caching_target(changed[0]) if changed else target
            else:  # data_disk_snapshots: entries without a source of their own name a disk by LUN
                current = {d.lun: d.source_arm_id.lower() for d in version.disks.exclude(lun=None)}
                given = [
                    (lun, None if s is None else (s.arm_id if isinstance(s, Resource) else str(s)).lower())
                    for lun, s in value or []
                ]
                same = all(lun in current and (s is None or s == current[lun]) for lun, s in given) and (
                    all(s is None for _, s in given) or {lun for lun, _ in given} == set(current)
                )
            if not same:
                raise ServiceError.immutable(
                    target,
                    f"The property '{target}' of an image version cannot change after creation; only target "
                    "regions, replica counts, exclude-from-latest and the end-of-life date can.",
                )
        if "replica_count" in changes:
            version.replica_count = (
                check_count(changes["replica_count"], f"{PP}.replicaCount", "replica count", 1, MAX_REPLICAS)
                or version.replica_count
            )
        if "exclude_from_latest" in changes:
            version.exclude_from_latest = bool(changes["exclude_from_latest"])
        if "end_of_life_date" in changes and changes["end_of_life_date"] != version.end_of_life_date:
            version.end_of_life_date = in_future(
                changes["end_of_life_date"], VERSION_PATHS["end_of_life_date"]
            )
        if "tags" in changes:
            version.tags = validate_tags(changes["tags"])
        check_safety_profile(
            changes.get("allow_deletion_of_replicated_locations"),
            changes.get("block_deletion_before_end_of_life"),
        )
        if "target_regions" in changes:
            ch.details["targetRegions"] = _apply_targets(version, changes["target_regions"])
        touch(version, caller)
        version.save()
    return version


def plan_targets(version: GalleryImageVersion, specs, common: int | None = None) -> list[Target]:
    """The target regions ``specs`` would give an existing version, validated: the shared target
    rules, plus "the storage type of an existing region never changes" (a region keeps its type
    unless the caller names a different one, which is refused). Used by updates and cost estimates."""
    base = VERSION_PATHS["target_regions"]
    targets = clean_targets(
        version.subscription,
        version.location,
        specs,
        common or version.replica_count,
        version.storage_account_type,
    )
    existing = {t.region_id: t for t in version.target_regions.all()}
    for i, (t, spec) in enumerate(zip(targets, specs, strict=True)):
        old = existing.get(t.region.pk)
        explicit = not isinstance(spec, str | Region) and spec.storage_account_type
        if old is None:
            continue
        if explicit and t.storage_account_type != old.storage_account_type:
            raise ServiceError.immutable(
                f"{base}[{i}].storageAccountType",
                f"The storage account type of {t.region.display_name} is {old.storage_account_type} and cannot change; "
                "remove the region and add it again to change it.",
            )
        t.storage_account_type = old.storage_account_type
    return targets


def _apply_targets(version: GalleryImageVersion, specs) -> dict:
    targets = plan_targets(version, specs)
    existing = {t.region_id: t for t in version.target_regions.all()}
    total = version.total_size_bytes
    wanted = {t.region.pk: t for t in targets}
    removed = [r for pk, r in existing.items() if pk not in wanted and not r.removing]
    work: list[TargetRegion] = []
    for r in removed:
        if r.replicas.exists():
            # Its replica files live in that region's store: the region's worker deletes them, then the row.
            r.removing = True
            r.revision += 1
            r.save(update_fields=["removing", "revision", "updated_at"])
            work.append(r)
        else:
            r.delete()
    added, changed = [], []
    for pk, t in wanted.items():
        old = existing.get(pk)
        if old is None:
            row = _target_row(version, t, total)
            row.save(force_insert=True)
            work.append(row)
            added.append(t.region.name)
        elif old.removing or old.replica_count != t.replica_count:
            # Re-added while its removal was pending, or a new replica count: the worker re-plans.
            was_removing = old.removing
            old.removing = False
            old.replica_count, old.exclude_from_latest = t.replica_count, t.exclude_from_latest
            old.revision += 1
            old.attempts = 0
            old.save(
                update_fields=["removing", "replica_count", "exclude_from_latest", "revision", "attempts"]
            )
            work.append(old)
            (added if was_removing else changed).append(t.region.name)
        elif old.exclude_from_latest != t.exclude_from_latest:
            old.exclude_from_latest = t.exclude_from_latest
            old.save(update_fields=["exclude_from_latest"])
            changed.append(t.region.name)
    if work and version.provisioning_state in (
        GalleryImageVersion.ProvisioningState.SUCCEEDED,
        GalleryImageVersion.ProvisioningState.FAILED,
    ):
        version.provisioning_state = GalleryImageVersion.ProvisioningState.UPDATING
    replication.enqueue_on_commit(work)
    return {"added": added, "removed": [r.region.name for r in removed], "changed": changed}


def delete_version(caller: Caller, version: GalleryImageVersion) -> None:
    """Delete a version: every replica first (each by its region's worker), then the version. A
    version with no replica yet goes at once."""
    with change(caller, arm_op(GalleryImageVersion, "delete"), resource=version) as ch:
        working = TargetRegion.objects.filter(version=version, lease_expires_at__gt=timezone.now()).exclude(
            lease_owner=""
        )
        if not Replica.objects.filter(target_region__version=version).exists() and not working.exists():
            # Nothing was copied and no worker is copying: nothing to remove first.
            ch.resource, ch.arm_id = None, version.arm_id
            ch.scope = Resource.objects.get(pk=version.parent_id)
            release(version.subscription_id, version.location_id, UsageCounter.Kind.VERSIONS)
            version.delete()
            return
        ch.message = "Deleting: the replicas in every region are removed first, then the version."
        version.provisioning_state = GalleryImageVersion.ProvisioningState.DELETING
        touch(version, caller)
        version.save()
        rows = list(version.target_regions.select_related("region"))
        TargetRegion.objects.filter(version=version).update(revision=F("revision") + 1)
        replication.enqueue_on_commit(rows)


def retry_failed_regions(caller: Caller, version: GalleryImageVersion) -> list[str]:
    """Start the failed regions of a version again, and only those."""
    with change(
        caller, "Microsoft.Compute/galleries/images/versions/retryReplication/action", resource=version
    ) as ch:
        failed = list(version.target_regions.filter(state=TargetRegion.State.FAILED).select_related("region"))
        if not failed:
            raise ServiceError.conflict(f"No region of version {version.name} has failed; nothing to retry.")
        TargetRegion.objects.filter(pk__in=[t.pk for t in failed]).update(
            state=TargetRegion.State.UNKNOWN,
            attempts=0,
            last_error="",
            lease_owner="",
            lease_expires_at=None,
            revision=F("revision") + 1,
        )
        GalleryImageVersion.objects.filter(pk=version.pk).update(
            provisioning_state=GalleryImageVersion.ProvisioningState.UPDATING
        )
        names = [t.region.name for t in failed]
        ch.details = {"regions": names}
        replication.enqueue_on_commit(failed)
    return names
