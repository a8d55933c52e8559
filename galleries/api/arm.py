"""ARM shapes of the gallery resources (F19): rows → JSON for an api-version, request bodies → the
service layer's arguments. No rule lives here: values are only moved between the two shapes; the
services validate them and name the property (``target``) in ARM's terms when they refuse.

Read-only properties (``provisioningState``, ``identifier.uniqueName``, ``replicationStatus``,
``publishedDate``, ``storageProfile.osDiskImage.sizeInGB``, …) are ignored on input; a property this
API does not know is refused with the path of it, rather than silently dropped. Nothing is
accepted and ignored (F24; ``tests/api/test_property_walk.py`` walks every property of the SDK).
Request bodies arrive here already read by ``portal.core.inputs.parse_json``; dates go through
``inputs.parse_datetime``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from accounts.models import User
from portal.core import inputs
from portal.core.errors import ServiceError

from ..models import (
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    ManagedImage,
    Snapshot,
    TargetRegion,
    aggregated_state,
    region_percent,
)
from ..services import TargetRegionSpec
from ..services.checks import ChainRow
from . import arm_versions

GB = 1024**3


# --- Output ---------------------------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def knows(api_version: str, path: str, since_table: dict | None = None) -> bool:
    """Does ``api_version`` have the property ``path``? ``since_table``: the resource type's table of
    first versions (``arm_versions.SINCE`` for the gallery family, ``IMAGE_SINCE``, ``SNAPSHOT_SINCE``)."""
    since = (arm_versions.SINCE if since_table is None else since_table).get(path)
    return since is None or api_version >= since


def _prune(value):
    """ARM leaves out what is not set: no nulls, no empty objects (empty lists and strings are values)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _prune(v)
            if v is None or (isinstance(v, dict) and not v):
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _principal_type(user) -> str:
    return "Application" if user is not None and user.kind == User.Kind.SERVICE_PRINCIPAL else "User"


def envelope(resource, properties: dict, api_version: str, since_table: dict | None = None) -> dict:
    """The ARM envelope of ``resource`` (select_related: location, created_by, modified_by)."""
    body = {
        "id": resource.arm_id,
        "name": resource.name,
        "type": resource.type,
        "location": resource.location.name if resource.location_id else None,
        "tags": resource.tags or {},
        "properties": _prune(properties),
    }
    if knows(api_version, "systemData", since_table):
        body["systemData"] = _prune(
            {
                "createdBy": resource.created_by.username if resource.created_by_id else None,
                "createdByType": _principal_type(resource.created_by) if resource.created_by_id else None,
                "createdAt": iso(resource.created_at),
                "lastModifiedBy": resource.modified_by.username if resource.modified_by_id else None,
                "lastModifiedByType": _principal_type(resource.modified_by)
                if resource.modified_by_id
                else None,
                "lastModifiedAt": iso(resource.modified_at),
            }
        )
    return body


def gallery(g: Gallery, api_version: str) -> dict:
    return envelope(
        g,
        {
            "description": g.description or None,
            "identifier": {"uniqueName": g.unique_name},
            "provisioningState": "Succeeded",
        },
        api_version,
    )


def definition(d: GalleryImage, api_version: str) -> dict:
    props = {
        "description": d.description or None,
        "eula": d.eula or None,
        "privacyStatementUri": d.privacy_statement_uri or None,
        "releaseNoteUri": d.release_note_uri or None,
        "osType": d.os_type,
        "osState": d.os_state,
        "endOfLifeDate": iso(d.end_of_life_date),
        "identifier": {"publisher": d.publisher, "offer": d.offer, "sku": d.sku},
        "recommended": {
            "vCPUs": {"min": d.min_vcpus, "max": d.max_vcpus},
            "memory": {"min": d.min_memory_gb, "max": d.max_memory_gb},
        },
        "disallowed": {"diskTypes": list(d.disallowed_disk_types)} if d.disallowed_disk_types else None,
        "purchasePlan": {"name": d.plan_name, "publisher": d.plan_publisher, "product": d.plan_product}
        if d.plan_name
        else None,
        "provisioningState": "Succeeded",
    }
    if knows(api_version, "properties.hyperVGeneration"):
        props["hyperVGeneration"] = d.hyper_v_generation
    if d.features and knows(api_version, "properties.features"):
        props["features"] = [{"name": f["name"], "value": f["value"]} for f in d.features]
    return envelope(d, props, api_version)


def _disk_image(size_bytes: int, host_caching: str) -> dict:
    return {"sizeInGB": _gb(size_bytes), "hostCaching": host_caching}


@dataclass(slots=True)
class RegionRow:
    """What a version's shape shows of one target region."""

    display_name: str
    replica_count: int
    storage_account_type: str
    exclude_from_latest: bool
    removing: bool
    state: str
    last_error: str
    percent: int


#: A version's disks as ``version`` shows them (``VersionDisk`` columns).
DISK_COLUMNS = ("lun", "size_bytes", "source_arm_id", "host_caching")


#: The columns of ``RegionRow`` as a ``values_list`` reads them (then ``region_rows``).
REGION_COLUMNS = (
    "region__display_name",
    "replica_count",
    "storage_account_type",
    "exclude_from_latest",
    "removing",
    "state",
    "last_error",
    "bytes_done",
    "bytes_total",
)


def region_rows(rows) -> list[RegionRow]:
    """``RegionRow`` from tuples of ``REGION_COLUMNS`` (or from ``TargetRegion`` instances)."""
    out = []
    for r in rows:
        if isinstance(r, TargetRegion):
            r = (
                r.region.display_name,
                r.replica_count,
                r.storage_account_type,
                r.exclude_from_latest,
                r.removing,
                r.state,
                r.last_error,
                r.bytes_done,
                r.bytes_total,
            )
        name, replicas, storage, excluded, removing, state, error, done, total = r
        out.append(
            RegionRow(
                name,
                replicas,
                storage,
                bool(excluded),
                bool(removing),
                state,
                error,
                region_percent(state, done, total),
            )
        )
    return out


@dataclass(slots=True)
class Who:
    username: str
    kind: str


@dataclass(slots=True)
class Place:
    name: str


@dataclass(slots=True)
class VersionRow(ChainRow):
    """A version read as one row (``VERSION_COLUMNS``): what its shape and its access check need,
    without building the model, its parent row and two user rows."""

    arm_id: str
    name: str
    location_id: int | None
    location_name: str | None
    tags: dict
    created_at: datetime
    created_by_id: int | None
    created_by_name: str | None
    created_by_kind: str | None
    modified_at: datetime
    modified_by_id: int | None
    modified_by_name: str | None
    modified_by_kind: str | None
    replica_count: int
    exclude_from_latest: bool
    published_date: datetime
    end_of_life_date: datetime | None
    storage_account_type: str
    provisioning_state: str
    source_arm_id: str
    source_image_id: int | None

    @property
    def location(self):
        return Place(self.location_name) if self.location_id else None

    @property
    def created_by(self):
        return Who(self.created_by_name, self.created_by_kind) if self.created_by_id else None

    @property
    def modified_by(self):
        return Who(self.modified_by_name, self.modified_by_kind) if self.modified_by_id else None


VERSION_COLUMNS = (
    "pk",
    "type",
    "subscription_id",
    "resource_group_id",
    "gallery_id",
    "definition_id",
    "arm_id",
    "name",
    "location_id",
    "location__name",
    "tags",
    "created_at",
    "created_by_id",
    "created_by__username",
    "created_by__kind",
    "modified_at",
    "modified_by_id",
    "modified_by__username",
    "modified_by__kind",
    "replica_count",
    "exclude_from_latest",
    "published_date",
    "end_of_life_date",
    "storage_account_type",
    "provisioning_state",
    "source_arm_id",
    "source_image_id",
)


def version(
    v: GalleryImageVersion,
    api_version: str,
    regions: list[RegionRow],
    disks: list[tuple],
    replication: bool = False,
) -> dict:
    """``regions``: ``region_rows`` of the version's target regions; ``disks``: (lun, size in bytes,
    source id, host caching), the OS disk's lun None (``DISK_COLUMNS``). A version published from snapshots shows each disk's snapshot
    as its ``source`` (as it was given); other versions' disks came with their source."""
    shown = [t for t in regions if not t.removing]
    targets = []
    for t in shown:
        entry = {"name": t.display_name, "regionalReplicaCount": t.replica_count}
        if knows(api_version, "properties.publishingProfile.targetRegions.storageAccountType"):
            entry["storageAccountType"] = t.storage_account_type
        if knows(api_version, "properties.publishingProfile.targetRegions.excludeFromLatest"):
            entry["excludeFromLatest"] = t.exclude_from_latest
        targets.append(entry)
    publishing = {
        "targetRegions": targets,
        "replicaCount": v.replica_count,
        "excludeFromLatest": v.exclude_from_latest,
        "publishedDate": iso(v.published_date),
        "endOfLifeDate": iso(v.end_of_life_date),
    }
    if knows(api_version, "properties.publishingProfile.storageAccountType"):
        publishing["storageAccountType"] = v.storage_account_type
    per_disk = "/providers/microsoft.compute/snapshots/" in (v.source_arm_id or "").lower() and knows(
        api_version, "properties.storageProfile.osDiskImage.source"
    )

    def disk_image(size: int, source_id: str, caching: str) -> dict:
        shown = _disk_image(size, caching)
        if per_disk and source_id:
            shown["source"] = {"id": source_id}
        return shown

    os_disk = next((disk_image(*rest) for lun, *rest in disks if lun is None), None)
    data_disks = sorted((d for d in disks if d[0] is not None), key=lambda d: d[0])
    storage = {
        "osDiskImage": os_disk,
        "dataDiskImages": [{"lun": lun, **disk_image(*rest)} for lun, *rest in data_disks],
    }
    props = {"publishingProfile": publishing, "provisioningState": v.provisioning_state}
    if knows(api_version, "properties.safetyProfile"):
        # What the portal does (F24 is not implemented): replicated regions can be removed, deletion
        # is never blocked, nothing is reported. Other values are refused on input.
        props["safetyProfile"] = {
            "allowDeletionOfReplicatedLocations": True,
            "reportedForPolicyViolation": False,
        }
        if knows(api_version, "properties.safetyProfile.blockDeletionBeforeEndOfLife"):
            props["safetyProfile"]["blockDeletionBeforeEndOfLife"] = False
    if knows(api_version, "properties.storageProfile.source"):
        storage["source"] = {"id": v.source_arm_id}
    elif v.source_image_id or "/providers/microsoft.compute/images/" in v.source_arm_id.lower():
        # Before 2019-07-01 the source was a managed image, named in the publishing profile (the only
        # kind of source those versions knew; other sources are left out there).
        publishing["source"] = {"managedImage": {"id": v.source_arm_id}}
    props["storageProfile"] = storage
    if replication:
        props["replicationStatus"] = {
            "aggregatedState": aggregated_state({t.state for t in shown}),
            "summary": [
                {
                    "region": t.display_name,
                    "state": t.state,
                    "details": t.last_error or None,
                    "progress": t.percent,
                }
                for t in shown
            ],
        }
    return envelope(v, props, api_version)


def _gb(size_bytes: int) -> int:
    return max(1, -(-size_bytes // GB))


def managed_image(image: ManagedImage, api_version: str) -> dict:
    """``image`` with ``os_disk`` (select_related) and ``data_disks`` (prefetched, with ``disk``)."""
    storage = {
        "osDisk": {
            "osType": image.os_type,
            "osState": image.os_state,
            "diskSizeGB": _gb(image.os_disk.size_bytes),
            "blobUri": image.source_uri or None,
            "caching": "None",
            "storageAccountType": "Standard_LRS",
        },
        "dataDisks": [
            {"lun": d.lun, "diskSizeGB": _gb(d.disk.size_bytes), "caching": "None"}
            for d in sorted(image.data_disks.all(), key=lambda d: d.lun)
        ],
    }
    props = {"storageProfile": storage, "provisioningState": "Succeeded"}
    if knows(api_version, "properties.hyperVGeneration", arm_versions.IMAGE_SINCE):
        props["hyperVGeneration"] = image.hyper_v_generation
    return envelope(image, props, api_version, arm_versions.IMAGE_SINCE)


def snapshot(s: Snapshot, api_version: str) -> dict:
    """``s`` with ``disk`` (select_related)."""
    props = {
        "osType": s.os_type,
        "diskSizeGB": _gb(s.disk.size_bytes),
        "creationData": {"createOption": "Import", "sourceUri": s.source_uri or None},
        "timeCreated": iso(s.created_at),
        "provisioningState": "Succeeded",
    }
    if knows(api_version, "properties.hyperVGeneration", arm_versions.SNAPSHOT_SINCE):
        props["hyperVGeneration"] = s.hyper_v_generation
    if knows(api_version, "properties.diskSizeBytes", arm_versions.SNAPSHOT_SINCE):
        props["diskSizeBytes"] = s.disk.size_bytes
    body = envelope(s, props, api_version, arm_versions.SNAPSHOT_SINCE)
    body["sku"] = {"name": "Standard_LRS", "tier": "Standard"}
    return body


# --- Input ----------------------------------------------------------------------------------------------


class Body:
    """A request body read with the path of each value, so that a wrong type is refused by name."""

    def __init__(self, data, path: str = ""):
        if not isinstance(data, dict):
            raise ServiceError.invalid(
                path or "body", f"'{path or 'The request body'}' must be a JSON object."
            )
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def get(self, key: str, kind=None, default=None):
        self.used.add(key)
        value = self.data.get(key)
        if value is None:
            return default
        if kind is not None and (
            not isinstance(value, kind) or (kind in (int, int | None) and isinstance(value, bool))
        ):
            names = {
                str: "text",
                int: "a whole number",
                bool: "true or false",
                list: "a list",
                dict: "an object",
            }
            raise ServiceError.invalid(self._at(key), f"'{self._at(key)}' must be {names.get(kind, kind)}.")
        return value

    def obj(self, key: str) -> Body | None:
        value = self.get(key, dict)
        return Body(value, self._at(key)) if value is not None else None

    def ignore(self, *keys: str) -> None:
        self.used.update(keys)

    def refuse_unknown(self) -> None:
        for key, value in self.data.items():
            if key not in self.used and value is not None:  # a null asks for nothing
                raise ServiceError.invalid(
                    self._at(key), f"'{self._at(key)}' is not a property this API accepts here."
                )


def date(value, target: str) -> datetime | None:
    """The one date-time reader (``portal.core.inputs.parse_datetime``): ISO 8601, UTC when no offset."""
    return inputs.parse_datetime(value, target)


def _envelope_in(data, partial: bool) -> tuple[Body, Body, dict]:
    """What every PUT and PATCH body shares: the read-only keys ignored, ``properties``, the location
    (required by a PUT) and the tags."""
    body = Body(data)
    body.ignore("id", "name", "type", "systemData", "etag")
    props = body.obj("properties") or Body({}, "properties")
    out = {}
    if body.has("location") or not partial:
        out["location"] = body.get("location", str)
    if body.has("tags"):
        out["tags"] = body.get("tags", dict)
    return body, props, out


def _envelope_done(body: Body, props: Body, out: dict, *read_only: str) -> dict:
    """The end of every body: the read-only properties ignored, anything else unknown refused."""
    props.ignore(*read_only)
    props.refuse_unknown()
    body.refuse_unknown()
    return out


def _integer_text(value):
    """A whole number sent as JSON text ("64") is the number, as Azure's JSON reader takes it: the
    quickstart ``sig-image-definition-create`` sends ``"recommended": {"vCPUs": {"min": "1"}}`` and
    deploys on Azure. Anything else goes to the service's rule unchanged."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.strip().isascii():
        return int(value)
    return value


def gallery_in(data, partial: bool) -> dict:
    body, props, out = _envelope_in(data, partial)
    if props.has("description"):
        out["description"] = props.get("description", str)
    return _envelope_done(body, props, out, "identifier", "provisioningState", "sharingStatus")


def definition_in(data, partial: bool) -> dict:
    body, props, out = _envelope_in(data, partial)
    identifier = props.obj("identifier")
    if identifier is not None:
        for key in ("publisher", "offer", "sku"):
            if identifier.has(key) or not partial:
                out[key] = identifier.get(key, str)
        identifier.refuse_unknown()
    simple = {
        "osType": "os_type",
        "osState": "os_state",
        "hyperVGeneration": "hyper_v_generation",
        "description": "description",
        "eula": "eula",
        "privacyStatementUri": "privacy_statement_uri",
        "releaseNoteUri": "release_note_uri",
    }
    for key, name in simple.items():
        if props.has(key):
            out[name] = props.get(key, str)
    if props.has("features"):  # [{name, value}]: the elements are read by the service's rules
        out["features"] = props.get("features", list)
    if props.has("endOfLifeDate"):
        out["end_of_life_date"] = date(props.get("endOfLifeDate"), "properties.endOfLifeDate")
    recommended = props.obj("recommended")
    if recommended is not None:
        for key, (low, high) in {
            "vCPUs": ("min_vcpus", "max_vcpus"),
            "memory": ("min_memory_gb", "max_memory_gb"),
        }.items():
            resource_range = recommended.obj(key)
            if resource_range is not None:
                if resource_range.has("min"):
                    out[low] = _integer_text(resource_range.get("min"))
                if resource_range.has("max"):
                    out[high] = _integer_text(resource_range.get("max"))
                resource_range.refuse_unknown()
        recommended.refuse_unknown()
    disallowed = props.obj("disallowed")
    if disallowed is not None:
        if disallowed.has("diskTypes"):
            out["disallowed_disk_types"] = disallowed.get("diskTypes", list)
        disallowed.refuse_unknown()
    plan = props.obj("purchasePlan")
    if plan is not None:
        for key in ("name", "publisher", "product"):
            if plan.has(key):
                out[f"plan_{key}"] = plan.get(key, str)
        plan.refuse_unknown()
    return _envelope_done(body, props, out, "provisioningState")


def _source_id(parent: Body) -> str | None:
    """``parent.source.id``, if given; any other key of ``source`` is refused (a VHD's ``uri`` or
    ``storageAccountId`` is not a source this portal takes)."""
    src = parent.obj("source")
    if src is None:
        return None
    source = src.get("id", str) if src.has("id") else None
    src.refuse_unknown()
    return source


def version_in(data, partial: bool) -> dict:
    body, props, out = _envelope_in(data, partial)
    publishing = props.obj("publishingProfile")
    base = "properties.publishingProfile"
    if publishing is not None:
        if publishing.has("targetRegions"):
            specs = []
            for i, entry in enumerate(publishing.get("targetRegions", list)):
                t = Body(entry, f"{base}.targetRegions[{i}]")
                specs.append(
                    TargetRegionSpec(
                        name=t.get("name", str),
                        regional_replica_count=t.get("regionalReplicaCount"),
                        storage_account_type=t.get("storageAccountType", str),
                        exclude_from_latest=bool(t.get("excludeFromLatest", bool, False)),
                    )
                )
                t.refuse_unknown()
            out["target_regions"] = specs
        if publishing.has("replicaCount"):
            out["replica_count"] = publishing.get("replicaCount")
        if publishing.has("excludeFromLatest"):
            out["exclude_from_latest"] = publishing.get("excludeFromLatest", bool)
        if publishing.has("endOfLifeDate"):
            out["end_of_life_date"] = date(publishing.get("endOfLifeDate"), f"{base}.endOfLifeDate")
        if publishing.has("storageAccountType"):
            out["storage_account_type"] = publishing.get("storageAccountType", str)
        legacy = publishing.obj("source")  # 2018-06-01: {"managedImage": {"id": ...}}
        if legacy is not None:
            image = legacy.obj("managedImage")
            if image is not None and image.has("id"):
                out["source"] = image.get("id", str)
                image.refuse_unknown()
            legacy.refuse_unknown()
        publishing.ignore("publishedDate")
        publishing.refuse_unknown()
    storage = props.obj("storageProfile")
    if storage is not None:
        source = _source_id(storage)
        if source is not None:
            out["source"] = source
        os_disk = storage.obj("osDiskImage")
        if os_disk is not None:
            os_disk.ignore("sizeInGB")
            if os_disk.has("hostCaching"):
                out["os_host_caching"] = os_disk.get("hostCaching")
            src = os_disk.obj("source")
            if src is not None:
                if src.has("id"):
                    os_source = src.get("id", str)
                    if "source" in out and out["source"].lower() != os_source.lower():
                        raise ServiceError.invalid(
                            "properties.storageProfile.osDiskImage.source.id",
                            "The OS disk's source differs from 'properties.storageProfile.source.id'; give the "
                            "source once (or the same id in both).",
                        )
                    out.setdefault("source", os_source)
                src.refuse_unknown()  # a VHD (uri, storageAccountId) is not a source this portal takes
            os_disk.refuse_unknown()
        if storage.has("dataDiskImages"):
            data_disks, cachings = [], []
            for i, entry in enumerate(storage.get("dataDiskImages", list)):
                d = Body(entry, f"properties.storageProfile.dataDiskImages[{i}]")
                d.ignore("sizeInGB")
                lun = d.get("lun")  # as a GET returns it, with or without a source of its own
                cachings.append((lun, d.get("hostCaching")))
                # Without a source of its own: the data disk of the version's source.
                data_disks.append((lun, _source_id(d)))
                d.refuse_unknown()
            if data_disks:
                out["data_disk_snapshots"] = data_disks
            if any(c is not None for _, c in cachings):  # by position, as dataDiskImages[i]
                out["data_host_caching"] = cachings
        storage.refuse_unknown()
    safety = props.obj("safetyProfile")
    if safety is not None:
        safety.ignore("reportedForPolicyViolation", "policyViolations")  # read-only
        for key, name in (
            ("allowDeletionOfReplicatedLocations", "allow_deletion_of_replicated_locations"),
            ("blockDeletionBeforeEndOfLife", "block_deletion_before_end_of_life"),
        ):
            if safety.has(key):
                out[name] = safety.get(key, bool)
        safety.refuse_unknown()
    return _envelope_done(body, props, out, "provisioningState", "replicationStatus")
