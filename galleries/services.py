"""The service layer for images and galleries: every rule of F4–F8 and F15 lives here, once.

Pages, the API and Celery tasks all call these functions. Each refusal is a ``ServiceError`` with
an ARM code, the property path (``target``) and a message a person understands; each write runs in
one transaction through ``accounts.activity.change`` and leaves an activity-log entry.
"""

from __future__ import annotations

import re
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F, Q, QuerySet

from accounts.activity import Caller, Change, change
from accounts.models import ActivityLogEntry, Resource, ResourceGroup, Subscription
from accounts.services import in_future, name_taken, new_resource, require_enabled, touch, validate_tags
from portal.core import inputs, limits
from portal.core.errors import ServiceError

from . import replication, vhd
from .models import (
    Blob,
    DiskType,
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    HyperVGeneration,
    ManagedImage,
    ManagedImageDataDisk,
    OsState,
    OsType,
    Region,
    Replica,
    Snapshot,
    StorageAccountType,
    StoredDisk,
    TargetRegion,
    UsageCounter,
    VersionDisk,
)
from .regions import resolve_region
from .storage import RegionStore

MAX_NAME = limits.NAME
MAX_INT32 = 2**31 - 1
MAX_REPLICAS = 50
MAX_LUN = 63
GALLERY_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?$")
# ARM child names: letters, digits, '-', '_', '.'; start with a letter or digit; end with one or '_'.
CHILD_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$")
CHILD_NAME_RULE = (
    "use letters, digits, hyphens, underscores and periods; start with a letter or digit and "
    "end with a letter, digit or underscore."
)
IDENTIFIER_VALUE = re.compile(r"^[A-Za-z0-9._-]+$")
VERSION_NAME = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
BLOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,250}\.vhd$")
CONTAINER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")

PP = "properties.publishingProfile"


def _op(model, verb: str) -> str:
    return f"{model.ARM_TYPE}/{verb}"


# --- Shared checks ----------------------------------------------------------------------------------


def check_luns(luns, target: str) -> None:
    """Data disks: each LUN a whole number from 0 to 63, none used twice. ``target`` has ``{i}``."""
    seen = set()
    for i, lun in enumerate(luns):
        where = target.format(i=i)
        if isinstance(lun, bool) or not isinstance(lun, int) or not 0 <= lun <= MAX_LUN:
            raise ServiceError.invalid(
                where, f"A data disk LUN must be between 0 and {MAX_LUN}; {lun} was given."
            )
        if lun in seen:
            raise ServiceError.invalid(where, f"LUN {lun} is used by two data disks; each needs its own LUN.")
        seen.add(lun)


def _check_name(name: str, pattern: re.Pattern, what: str, rule: str) -> str:
    if not isinstance(name, str) or not name:
        raise ServiceError.invalid("name", f"The {what} name is required.")
    if len(name) > MAX_NAME:
        raise ServiceError.invalid(
            "name",
            f"The {what} name '{limits.quote(name, 30)}' is {len(name)} characters long; the limit is {MAX_NAME}.",
        )
    if not pattern.fullmatch(name):
        raise ServiceError.invalid("name", f"The {what} name '{limits.quote(name)}' is invalid: {rule}")
    return name


def _choice(value, choices, target: str, what: str):
    allowed = [c.value for c in choices]
    for c in allowed:
        if isinstance(value, str) and value.lower() == c.lower():
            return c
    raise ServiceError.invalid(
        target, f"'{limits.quote(value)}' is not a valid {what}; use one of: {', '.join(allowed)}."
    )


def _url(value: str, target: str, what: str) -> str:
    value = limits.text(value, limits.URI, target, what)
    if not value:
        return ""
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise ServiceError.invalid(
            target, f"The {what} '{limits.quote(value)}' is not a valid http(s) URI."
        ) from None
    return value


def _count(value, target: str, what: str, low: int = 1, high: int | None = None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ServiceError.invalid(
            target, f"The {what} must be a whole number; '{limits.quote(value)}' was given."
        )
    if value < low or (high is not None and value > high):
        bound = (
            f"at least {low}"
            if high is None
            else f"at least {low} (and at most {high:,})"
            if high == MAX_INT32
            else f"between {low} and {high}"
        )
        raise ServiceError.invalid(target, f"The {what} must be {bound}; {value} was given.")
    return value


def get_resource(
    caller: Caller, arm_id: str, model=None, target: str | None = None, for_type: str | None = None
):
    """Look up a resource by ARM id through the access filter; missing and unreadable look the same.
    ``target`` names the property that referred to it, when it came from a request body; with
    ``for_type``, a container in which the caller may read resources of that type is enough (a
    publisher's resource group, which it may upload into without reading the group itself)."""
    row = (
        Resource.objects.restrict(caller.actor, "read", for_type)
        .filter(arm_key=str(arm_id).rstrip("/").lower())
        .first()
    )
    if row is None or (model is not None and row.type != model.ARM_TYPE):
        what = f"a {model._meta.verbose_name}" if model is not None else "a resource"
        raise ServiceError.not_found(f"The resource '{arm_id}' was not found (expected {what}).", target)
    return row.typed()


# --- Limits (F15) ------------------------------------------------------------------------------------


def _reserve(subscription: Subscription, region: Region, kind: str) -> None:
    """Take one unit of a per-subscription-per-region limit, atomically: one conditional UPDATE that
    only succeeds below the limit. Concurrent callers serialize on the counter row (PostgreSQL row
    lock; SQLite's single writer), so exactly as many succeed as there is room for."""
    UsageCounter.objects.bulk_create(
        [UsageCounter(subscription=subscription, region=region, kind=kind)], ignore_conflicts=True
    )
    limit = Subscription.objects.values_list(f"limit_{kind}", flat=True).get(pk=subscription.pk)
    taken = UsageCounter.objects.filter(
        subscription=subscription, region=region, kind=kind, count__lt=limit
    ).update(count=F("count") + 1)
    if not taken:
        plural = {"galleries": "galleries", "definitions": "image definitions", "versions": "image versions"}[
            kind
        ]
        singular = {"galleries": "gallery", "definitions": "image definition", "versions": "image version"}[
            kind
        ]
        raise ServiceError(
            ServiceError.QUOTA_EXCEEDED,
            f"The subscription '{subscription.display_name}' already has {limit} "
            f"{singular if limit == 1 else plural} in {region.display_name}, its limit there. Delete unused "
            f"{plural} or ask an administrator to raise the limit.",
            "location",
        )


def _release(subscription_id: int, region_id: int, kind: str) -> None:
    UsageCounter.objects.filter(
        subscription_id=subscription_id, region_id=region_id, kind=kind, count__gt=0
    ).update(count=F("count") - 1)


def usage(subscription: Subscription) -> list[dict]:
    """Each count against its limit, per region where the subscription has anything (F15)."""
    rows = (
        UsageCounter.objects.filter(subscription=subscription)
        .select_related("region")
        .order_by("region__name")
    )
    out: dict[str, dict] = {}
    for row in rows:
        entry = out.setdefault(row.region.name, {"region": row.region, "counts": {}})
        entry["counts"][row.kind] = {"current": row.count, "limit": subscription.limit_for(row.kind)}
    for entry in out.values():
        for kind in Subscription.DEFAULT_LIMITS:
            entry["counts"].setdefault(kind, {"current": 0, "limit": subscription.limit_for(kind)})
    return list(out.values())


def reconcile_usage() -> int:
    """Recount every counter from the resources themselves; returns how many were corrected."""
    fixed = 0
    kinds = {"galleries": Gallery, "definitions": GalleryImage, "versions": GalleryImageVersion}
    with transaction.atomic():
        actual: dict[tuple, int] = {}
        for kind, model in kinds.items():
            for sub_id, region_id in model.objects.values_list("subscription_id", "location_id"):
                actual[(sub_id, region_id, kind)] = actual.get((sub_id, region_id, kind), 0) + 1
        seen = set()
        for counter in UsageCounter.objects.select_for_update():
            key = (counter.subscription_id, counter.region_id, counter.kind)
            seen.add(key)
            if counter.count != actual.get(key, 0):
                counter.count = actual.get(key, 0)
                counter.save(update_fields=["count"])
                fixed += 1
        for (sub_id, region_id, kind), n in actual.items():
            if (sub_id, region_id, kind) not in seen:
                UsageCounter.objects.create(subscription_id=sub_id, region_id=region_id, kind=kind, count=n)
                fixed += 1
    return fixed


# --- Galleries (F5) ----------------------------------------------------------------------------------

GALLERY_PATHS = {"description": "properties.description", "tags": "tags", "location": "location"}


def create_gallery(
    caller: Caller,
    resource_group: ResourceGroup,
    name: str,
    *,
    location=None,
    description: str = "",
    tags=None,
) -> Gallery:
    subscription = resource_group.subscription
    arm_id = f"{resource_group.arm_id}/providers/Microsoft.Compute/galleries/{name}"
    with change(caller, _op(Gallery, "write"), scope=resource_group, arm_id=arm_id) as ch:
        _check_name(
            name,
            GALLERY_NAME,
            "gallery",
            "use letters and digits; periods and underscores are allowed only in the middle.",
        )
        description = limits.text(
            description, limits.DESCRIPTION, GALLERY_PATHS["description"], "description"
        )
        region = resolve_region(location, "location") if location else resource_group.location
        tags = validate_tags(tags)
        require_enabled(subscription)
        unique_name = f"{subscription.guid}-{name.upper()}"
        message = (
            f"A gallery named '{name}' already exists in the subscription '{subscription.display_name}'."
        )
        if Gallery.objects.filter(unique_name=unique_name).exists():
            raise ServiceError.conflict(message, "name")
        _reserve(subscription, region, UsageCounter.Kind.GALLERIES)
        gallery = new_resource(
            Gallery,
            caller,
            parent=resource_group,
            arm_id=arm_id,
            name=name,
            location=region,
            tags=tags,
            description=description or "",
            unique_name=unique_name,
        )
        ch.conflict_message = message
        ch.resource = gallery
        gallery.save()
    return gallery


def update_gallery(caller: Caller, gallery: Gallery, **changes) -> Gallery:
    with change(caller, _op(Gallery, "write"), resource=gallery):
        for key, value in changes.items():
            if key == "description":
                gallery.description = limits.text(
                    value, limits.DESCRIPTION, GALLERY_PATHS[key], "description"
                )
            elif key == "tags":
                gallery.tags = validate_tags(value)
            elif key == "location":
                if resolve_region(value, "location").pk != gallery.location_id:
                    raise ServiceError.immutable(
                        "location", "A gallery's location cannot change; only its description and tags can."
                    )
            else:
                raise ServiceError.immutable(
                    GALLERY_PATHS.get(key, key),
                    f"'{key}' cannot change after creation; only the description and tags can.",
                )
        touch(gallery, caller)
        gallery.save()
    return gallery


def delete_gallery(caller: Caller, gallery: Gallery) -> None:
    with change(caller, _op(Gallery, "delete"), resource=gallery) as ch:
        n = GalleryImage.objects.filter(gallery=gallery).count()
        if n:
            raise ServiceError.conflict(
                f"The gallery '{gallery.name}' still has {n} image definition(s); delete them first.", "name"
            )
        ch.resource = None
        ch.arm_id = gallery.arm_id
        ch.scope = Resource.objects.get(pk=gallery.parent_id)
        _release(gallery.subscription_id, gallery.location_id, UsageCounter.Kind.GALLERIES)
        gallery.delete()


# --- Image definitions (F6) --------------------------------------------------------------------------

DEFINITION_PATHS = {
    "publisher": "properties.identifier.publisher",
    "offer": "properties.identifier.offer",
    "sku": "properties.identifier.sku",
    "os_type": "properties.osType",
    "os_state": "properties.osState",
    "hyper_v_generation": "properties.hyperVGeneration",
    "description": "properties.description",
    "eula": "properties.eula",
    "privacy_statement_uri": "properties.privacyStatementUri",
    "release_note_uri": "properties.releaseNoteUri",
    "end_of_life_date": "properties.endOfLifeDate",
    "min_vcpus": "properties.recommended.vCPUs.min",
    "max_vcpus": "properties.recommended.vCPUs.max",
    "min_memory_gb": "properties.recommended.memory.min",
    "max_memory_gb": "properties.recommended.memory.max",
    "disallowed_disk_types": "properties.disallowed.diskTypes",
    "plan_name": "properties.purchasePlan.name",
    "plan_publisher": "properties.purchasePlan.publisher",
    "plan_product": "properties.purchasePlan.product",
    "lifecycle_policy": "properties.lifecyclePolicy",
    "lifecycle_keep_deployed": "properties.lifecycleKeepDeployed",
    "location": "location",
    "tags": "tags",
}
DEFINITION_MUTABLE = {
    "lifecycle_policy",
    "lifecycle_keep_deployed",
    "min_vcpus",
    "max_vcpus",
    "min_memory_gb",
    "max_memory_gb",
    "description",
    "end_of_life_date",
    "release_note_uri",
    "tags",
}


def _clean_definition_fields(values: dict, *, new: bool) -> dict:
    """Validate the definition's properties; ``values`` holds only the keys being set."""
    P = DEFINITION_PATHS
    out = dict(values)
    for key, limit in (("publisher", limits.PUBLISHER), ("offer", limits.OFFER), ("sku", limits.SKU)):
        if key in values:
            v = values[key]
            if not isinstance(v, str) or not v:
                raise ServiceError.invalid(P[key], f"The {key} is required (part of the image identifier).")
            v = limits.text(v, limit, P[key], key)
            if not IDENTIFIER_VALUE.fullmatch(v):
                raise ServiceError.invalid(
                    P[key],
                    f"The {key} '{limits.quote(v)}' is invalid: use letters, digits, hyphens, underscores and "
                    "periods.",
                )
    if "os_type" in values:
        out["os_type"] = _choice(values["os_type"], OsType, P["os_type"], "OS type")
    if "os_state" in values:
        out["os_state"] = _choice(values["os_state"], OsState, P["os_state"], "OS state")
    if "hyper_v_generation" in values:
        out["hyper_v_generation"] = _choice(
            values["hyper_v_generation"], HyperVGeneration, P["hyper_v_generation"], "Hyper-V generation"
        )
    for key, what in (
        ("privacy_statement_uri", "privacy statement URI"),
        ("release_note_uri", "release notes URI"),
    ):
        if key in values:
            out[key] = _url(values[key] or "", P[key], what)
    if "end_of_life_date" in values:
        out["end_of_life_date"] = in_future(values["end_of_life_date"], P["end_of_life_date"])
    for key, what in (
        ("min_vcpus", "minimum recommended vCPUs"),
        ("max_vcpus", "maximum recommended vCPUs"),
        ("min_memory_gb", "minimum recommended memory (GB)"),
        ("max_memory_gb", "maximum recommended memory (GB)"),
    ):
        if key in values:
            out[key] = _count(values[key], P[key], what, 1, MAX_INT32)
    if "disallowed_disk_types" in values:
        types = values["disallowed_disk_types"] or []
        if not isinstance(types, list | tuple):
            raise ServiceError.invalid(P["disallowed_disk_types"], "Disallowed disk types must be a list.")
        cleaned = [_choice(t, DiskType, P["disallowed_disk_types"], "disk type") for t in types]
        if len(set(cleaned)) != len(cleaned):
            raise ServiceError.invalid(
                P["disallowed_disk_types"], "A disk type is listed twice in the disallowed disk types."
            )
        out["disallowed_disk_types"] = cleaned
    for key, limit in (
        ("description", limits.DESCRIPTION),
        ("eula", limits.EULA),
        ("plan_name", limits.PURCHASE_PLAN),
        ("plan_publisher", limits.PURCHASE_PLAN),
        ("plan_product", limits.PURCHASE_PLAN),
    ):
        if key in values:
            what = {"eula": "EULA", "description": "description"}.get(key, key.replace("_", " "))
            out[key] = limits.text(values[key], limit, P[key], what)
    if values.get("lifecycle_policy") is not None:
        out["lifecycle_policy"] = _choice(
            values["lifecycle_policy"],
            GalleryImage.LifecyclePolicy,
            P["lifecycle_policy"],
            "lifecycle policy",
        )
    elif "lifecycle_policy" in values:
        out.pop("lifecycle_policy")
    if values.get("lifecycle_keep_deployed") is not None:
        if not isinstance(values["lifecycle_keep_deployed"], bool):
            raise ServiceError.invalid(
                P["lifecycle_keep_deployed"],
                "Whether the lifecycle keeps versions that deployments came from is true or false.",
            )
    elif "lifecycle_keep_deployed" in values:
        out.pop("lifecycle_keep_deployed")
    if "tags" in values:
        out["tags"] = validate_tags(values["tags"])
    plan = [values.get(k) for k in ("plan_name", "plan_publisher", "plan_product")]
    if new and any(plan) and not all(plan):
        missing = [k for k, v in zip(("name", "publisher", "product"), plan, strict=True) if not v][0]
        raise ServiceError.invalid(
            f"properties.purchasePlan.{missing}",
            "A purchase plan needs its name, publisher and product together.",
        )
    return out


def _same_value(current, new) -> bool:
    """Equal as ARM compares them: strings and lists of strings ignore case."""
    if isinstance(current, str) and isinstance(new, str):
        return current.casefold() == new.casefold()
    if isinstance(current, list | tuple) and isinstance(new, list | tuple):
        return sorted(str(x).casefold() for x in current) == sorted(str(x).casefold() for x in new)
    return current == new


def _check_min_max(obj: GalleryImage) -> None:
    for low, high, what in (
        ("min_vcpus", "max_vcpus", "vCPUs"),
        ("min_memory_gb", "max_memory_gb", "memory"),
    ):
        lo, hi = getattr(obj, low), getattr(obj, high)
        if lo is not None and hi is not None and lo > hi:
            raise ServiceError.invalid(
                DEFINITION_PATHS[low],
                f"The minimum recommended {what} ({lo}) is greater than the maximum ({hi}).",
            )


def create_definition(
    caller: Caller,
    gallery: Gallery,
    name: str,
    *,
    publisher: str,
    offer: str,
    sku: str,
    os_type: str,
    os_state: str,
    location=None,
    tags=None,
    **props,
) -> GalleryImage:
    arm_id = f"{gallery.arm_id}/images/{name}"
    with change(caller, _op(GalleryImage, "write"), scope=gallery, arm_id=arm_id) as ch:
        unknown = set(props) - set(DEFINITION_PATHS)
        if unknown:
            raise ServiceError.invalid(
                sorted(unknown)[0], f"'{sorted(unknown)[0]}' is not a property of an image definition."
            )
        _check_name(
            name,
            CHILD_NAME,
            "image definition",
            "use letters, digits, hyphens, underscores and periods; start with a letter or digit and do not "
            "end with a period or hyphen.",
        )
        values = _clean_definition_fields(
            {
                "publisher": publisher,
                "offer": offer,
                "sku": sku,
                "os_type": os_type,
                "os_state": os_state,
                "tags": tags,
                **props,
            },
            new=True,
        )
        region = resolve_region(location, "location") if location else gallery.location
        subscription = gallery.subscription
        require_enabled(subscription)
        if name_taken(gallery, GalleryImage.ARM_TYPE, name):
            raise ServiceError.conflict(
                f"The gallery '{gallery.name}' already has an image definition named '{name}'.", "name"
            )
        clash = GalleryImage.objects.filter(
            identifier_key=GalleryImage.make_identifier_key(
                gallery.pk, values["publisher"], values["offer"], values["sku"]
            )
        ).first()
        if clash:
            raise ServiceError.conflict(
                f"The image definition '{clash.name}' in this gallery already has publisher '{clash.publisher}', "
                f"offer '{clash.offer}' and SKU '{clash.sku}'; each definition needs its own combination.",
                "properties.identifier",
            )
        _reserve(subscription, region, UsageCounter.Kind.DEFINITIONS)
        tags = values.pop("tags")
        definition = new_resource(
            GalleryImage,
            caller,
            parent=gallery,
            arm_id=arm_id,
            name=name,
            location=region,
            tags=tags,
            hidden=True,
            identifier_key=GalleryImage.make_identifier_key(
                gallery.pk, values["publisher"], values["offer"], values["sku"]
            ),
            **values,
        )
        _check_min_max(definition)
        ch.conflict_message = (
            f"The gallery '{gallery.name}' already has an image definition named '{name}' or with "
            "the same publisher, offer and SKU."
        )
        ch.resource = definition
        definition.save()
    return definition


def update_definition(caller: Caller, definition: GalleryImage, **changes) -> GalleryImage:
    with change(caller, _op(GalleryImage, "write"), resource=definition):
        unknown = set(changes) - set(DEFINITION_PATHS)
        if unknown:
            key = sorted(unknown)[0]
            raise ServiceError.invalid(key, f"'{key}' is not a property of an image definition.")
        for key, value in changes.items():
            if key in DEFINITION_MUTABLE or value is None:  # None: the property was not given
                continue
            if key == "location":
                same = resolve_region(value).pk == definition.location_id
            else:
                cleaned = _clean_definition_fields({key: value}, new=False).get(key, value)
                same = _same_value(getattr(definition, key), cleaned)
            if not same:
                raise ServiceError.immutable(
                    DEFINITION_PATHS[key],
                    f"The property '{DEFINITION_PATHS[key]}' of an image definition cannot change after creation; only "
                    "the recommended vCPUs and memory, description, end-of-life date, release notes URI and tags can.",
                )
        mutable = {k: v for k, v in changes.items() if k in DEFINITION_MUTABLE}
        if "end_of_life_date" in mutable and mutable["end_of_life_date"] == definition.end_of_life_date:
            mutable.pop("end_of_life_date")  # re-sending the current value is not a change
        for key, value in _clean_definition_fields(mutable, new=False).items():
            setattr(definition, key, value)
        _check_min_max(definition)
        touch(definition, caller)
        definition.save()
    return definition


def delete_definition(caller: Caller, definition: GalleryImage) -> None:
    with change(caller, _op(GalleryImage, "delete"), resource=definition) as ch:
        n = GalleryImageVersion.objects.filter(definition=definition).count()
        if n:
            raise ServiceError.conflict(
                f"The image definition '{definition.name}' still has {n} version(s); delete them first.",
                "name",
            )
        ch.resource, ch.arm_id = None, definition.arm_id
        ch.scope = Resource.objects.get(pk=definition.parent_id)
        _release(definition.subscription_id, definition.location_id, UsageCounter.Kind.DEFINITIONS)
        definition.delete()


# --- Image versions (F7) -----------------------------------------------------------------------------


@dataclass
class TargetRegionSpec:
    """One entry of ``publishingProfile.targetRegions``."""

    name: str | Region
    regional_replica_count: int | None = None
    storage_account_type: str | None = None
    exclude_from_latest: bool = False


@dataclass
class _Target:
    region: Region
    replica_count: int
    storage_account_type: str
    exclude_from_latest: bool


VERSION_PATHS = {
    "target_regions": f"{PP}.targetRegions",
    "replica_count": f"{PP}.replicaCount",
    "exclude_from_latest": f"{PP}.excludeFromLatest",
    "end_of_life_date": f"{PP}.endOfLifeDate",
    "storage_account_type": f"{PP}.storageAccountType",
    "source": "properties.storageProfile.source.id",
    "data_disk_snapshots": "properties.storageProfile.dataDiskImages",
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


def _clean_targets(
    subscription: Subscription, location: Region, specs, common_count: int, default_type: str
) -> list[_Target]:
    base = VERSION_PATHS["target_regions"]
    if not isinstance(specs, list | tuple) or not specs:
        raise ServiceError.invalid(
            base, "At least one target region is required, including the source region."
        )
    allowed = None
    out: list[_Target] = []
    seen: dict[int, int] = {}
    for i, spec in enumerate(specs):
        if isinstance(spec, str | Region):
            spec = TargetRegionSpec(name=spec)
        region = resolve_region(spec.name, f"{base}[{i}].name")
        if region.pk in seen:
            raise ServiceError.invalid(
                f"{base}[{i}].name",
                f"The region {region.display_name} is listed twice (entries {seen[region.pk]} and {i}); list each "
                "target region once.",
            )
        seen[region.pk] = i
        if region.cloud_id != location.cloud_id:
            raise ServiceError.invalid(
                f"{base}[{i}].name",
                f"{region.display_name} is in {region.cloud.display_name} but the source region {location.display_name} "
                f"is in {location.cloud.display_name}; replication never crosses clouds.",
            )
        if region.restricted:
            if allowed is None:
                allowed = set(subscription.allowed_restricted_regions.values_list("pk", flat=True))
            if region.pk not in allowed:
                raise ServiceError.invalid(
                    f"{base}[{i}].name",
                    f"{region.display_name} is a restricted region: the subscription '{subscription.display_name}' must "
                    "be allowed to use it before replicating there (ask an administrator).",
                )
        count = _count(
            spec.regional_replica_count,
            f"{base}[{i}].regionalReplicaCount",
            "regional replica count",
            1,
            MAX_REPLICAS,
        )
        stype = default_type
        if spec.storage_account_type:
            stype = _choice(
                spec.storage_account_type,
                StorageAccountType,
                f"{base}[{i}].storageAccountType",
                "storage account type",
            )
        if stype == StorageAccountType.STANDARD_ZRS and not region.has_zones:
            raise ServiceError.invalid(
                f"{base}[{i}].storageAccountType",
                f"Standard_ZRS needs availability zones and {region.display_name} has none; use Standard_LRS or "
                "Premium_LRS there.",
            )
        out.append(_Target(region, count or common_count, stype, bool(spec.exclude_from_latest)))
    if location.pk not in seen:
        raise ServiceError.invalid(
            base, f"The source region {location.display_name} must be one of the target regions."
        )
    return out


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
    tags=None,
    allow_deletion_of_replicated_locations: bool | None = None,
    block_deletion_before_end_of_life: bool | None = None,
) -> GalleryImageVersion:
    """Create a version and its target-region rows (replication starts from them).
    ``data_disk_snapshots``: (lun, snapshot) pairs; a pair with no snapshot names a data disk the
    source already has (as a GET shows it), and that LUN must be one of the source's."""
    arm_id = f"{definition.arm_id}/versions/{name}"
    with change(caller, _op(GalleryImageVersion, "write"), scope=definition, arm_id=arm_id) as ch:
        major, minor, patch = parse_version_name(name)
        region = source_region(location)
        common = _count(replica_count, f"{PP}.replicaCount", "replica count", 1, MAX_REPLICAS) or 1
        stype = _choice(
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
        targets = _clean_targets(subscription, region, specs, common, stype)
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
        if name_taken(definition, GalleryImageVersion.ARM_TYPE, name):
            raise ServiceError.conflict(
                f"The image definition '{definition.name}' already has a version {name}.", "name"
            )
        _reserve(subscription, region, UsageCounter.Kind.VERSIONS)
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
            )
            for d in disks
        )
        total = sum(d["disk"].size_bytes for d in disks)
        TargetRegion.objects.bulk_create(
            TargetRegion(
                version=version,
                region=t.region,
                replica_count=t.replica_count,
                storage_account_type=t.storage_account_type,
                exclude_from_latest=t.exclude_from_latest,
                bytes_total=total * t.replica_count,
            )
            for t in targets
        )
        replication.enqueue_on_commit(version.target_regions.select_related("region"))
    return version


def update_version(caller: Caller, version: GalleryImageVersion, **changes) -> GalleryImageVersion:
    """Change what F7 allows: target regions, replica counts, exclude-from-latest, end-of-life date."""
    with change(caller, _op(GalleryImageVersion, "write"), resource=version) as ch:
        if version.provisioning_state == GalleryImageVersion.ProvisioningState.DELETING:
            raise ServiceError.conflict(
                f"Version {version.name} is being deleted; it cannot change any more."
            )
        unknown = set(changes) - set(VERSION_PATHS)
        if unknown:
            key = sorted(unknown)[0]
            raise ServiceError.invalid(key, f"'{key}' is not a property of an image version.")
        for key, value in changes.items():
            if key in VERSION_MUTABLE or value is None:  # None: the property was not given
                continue
            if key == "location":
                same = resolve_region(value).pk == version.location_id
            elif key == "source":
                same = (
                    value.arm_id if isinstance(value, Resource) else str(value)
                ).lower() == version.source_arm_id.lower()
            elif key == "storage_account_type":
                same = str(value).lower() == version.storage_account_type.lower()
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
                    VERSION_PATHS[key],
                    f"The property '{VERSION_PATHS[key]}' of an image version cannot change after creation; only target "
                    "regions, replica counts, exclude-from-latest and the end-of-life date can.",
                )
        if "replica_count" in changes:
            version.replica_count = (
                _count(changes["replica_count"], f"{PP}.replicaCount", "replica count", 1, MAX_REPLICAS)
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


def plan_targets(version: GalleryImageVersion, specs, common: int | None = None) -> list[_Target]:
    """The target regions ``specs`` would give an existing version, validated: the shared target
    rules, plus "the storage type of an existing region never changes" (a region keeps its type
    unless the caller names a different one, which is refused). Used by updates and cost estimates."""
    base = VERSION_PATHS["target_regions"]
    targets = _clean_targets(
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
            work.append(
                TargetRegion.objects.create(
                    version=version,
                    region=t.region,
                    replica_count=t.replica_count,
                    storage_account_type=t.storage_account_type,
                    exclude_from_latest=t.exclude_from_latest,
                    bytes_total=total * t.replica_count,
                )
            )
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
    with change(caller, _op(GalleryImageVersion, "delete"), resource=version) as ch:
        from django.utils import timezone

        working = TargetRegion.objects.filter(version=version, lease_expires_at__gt=timezone.now()).exclude(
            lease_owner=""
        )
        if not Replica.objects.filter(target_region__version=version).exists() and not working.exists():
            # Nothing was copied and no worker is copying: nothing to remove first.
            ch.resource, ch.arm_id = None, version.arm_id
            ch.scope = Resource.objects.get(pk=version.parent_id)
            _release(version.subscription_id, version.location_id, UsageCounter.Kind.VERSIONS)
            version.delete()
            return
        ch.message = "Deleting: the replicas in every region are removed first, then the version."
        version.provisioning_state = GalleryImageVersion.ProvisioningState.DELETING
        touch(version, caller)
        version.save()
        rows = list(version.target_regions.select_related("region"))
        TargetRegion.objects.filter(version=version).update(revision=F("revision") + 1)
        replication.enqueue_on_commit(rows)


def finish_version_deletion(version: GalleryImageVersion) -> None:
    """Called by the last region's worker once every replica is gone."""
    with change(Caller.system(), _op(GalleryImageVersion, "delete"), resource=version) as ch:
        ch.message = "All replicas removed; the version is deleted."
        ch.resource, ch.arm_id = None, version.arm_id
        ch.scope = Resource.objects.get(pk=version.parent_id)
        _release(version.subscription_id, version.location_id, UsageCounter.Kind.VERSIONS)
        version.delete()


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


# --- Latest (F8) -------------------------------------------------------------------------------------


def latest_version(definition: GalleryImage, region: Region) -> GalleryImageVersion | None:
    """The highest version (numeric order) not excluded from latest, globally or for ``region``,
    whose replication to ``region`` is Completed."""
    return (
        GalleryImageVersion.objects.filter(
            definition=definition,
            exclude_from_latest=False,
            target_regions__region=region,
            target_regions__state=TargetRegion.State.COMPLETED,
            target_regions__exclude_from_latest=False,
            target_regions__removing=False,
        )
        .exclude(provisioning_state=GalleryImageVersion.ProvisioningState.DELETING)
        .numeric_order()
        .first()
    )


def latest_candidates(definition_id) -> QuerySet:
    """The target regions that may make their version the definition's latest in their region (F8):
    replicated there, neither the version nor the region excluded, not being removed, the version not
    being deleted. The latest in a region is the first of these by ``LATEST_FIRST``."""
    return TargetRegion.objects.filter(
        version__definition_id=definition_id,
        version__exclude_from_latest=False,
        state=TargetRegion.State.COMPLETED,
        exclude_from_latest=False,
        removing=False,
    ).exclude(version__provisioning_state=GalleryImageVersion.ProvisioningState.DELETING)


LATEST_FIRST = ("-version__major", "-version__minor", "-version__patch")


def latest_by_region(definition: GalleryImage, excluding=()) -> dict[str, GalleryImageVersion]:
    """Latest per region name for a whole definition, in one query. ``excluding``: version ids not to
    count (the lifecycle plan asks what the latest will be once the versions it deletes are gone)."""
    rows = (
        latest_candidates(definition.pk)
        .exclude(version_id__in=list(excluding))
        .select_related("version", "region")
        .order_by("region__name", *LATEST_FIRST)
    )
    out: dict[str, GalleryImageVersion] = {}
    for row in rows:
        out.setdefault(row.region.name, row.version)
    return out


# --- Sources (F4): uploads, blobs, managed images, snapshots ----------------------------------------

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


def start_upload(
    caller: Caller, resource_group: ResourceGroup, name: str, size_bytes: int, container: str = "vhds"
) -> Blob:
    """Begin (or resume) a chunked upload of a VHD into the resource group's region store.
    Starting again with the same name and size resumes the unfinished upload."""
    with change(
        caller,
        "Microsoft.Storage/blobs/write",
        scope=resource_group,
        arm_id=f"{resource_group.arm_id}/blobs/{container}/{name}",
    ):
        _check_blob_name(container, name)
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
    import hashlib

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
    from accounts.access import require
    from accounts.roles import BLOB_TYPE, Action

    try:
        require(caller.actor, Action.WRITE, blob.resource_group, BLOB_TYPE, "Microsoft.Storage/blobs/write")
    except ServiceError as err:
        _log_refused_upload(caller, blob, err)
        raise


def upload_chunk(caller: Caller, blob: Blob, offset: int, data: bytes) -> Blob:
    """Append one chunk at ``offset`` (which must be where the upload stands). The last chunk
    validates the VHD footer, then renames the file into place; an invalid VHD is discarded whole."""
    from django.conf import settings
    from django.utils import timezone

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
    with change(
        caller,
        "Microsoft.Storage/blobs/write",
        scope=resource_group,
        arm_id=f"{resource_group.arm_id}/blobs/{container}/{name}",
    ):
        _check_blob_name(container, name)
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
    arm_id = f"{resource_group.arm_id}/providers/Microsoft.Compute/images/{name}"
    with (
        _files_removed_on_failure() as written,
        change(caller, _op(ManagedImage, "write"), scope=resource_group, arm_id=arm_id) as ch,
    ):
        _check_name(
            name,
            CHILD_NAME,
            "image",
            CHILD_NAME_RULE,
        )
        os_type = _choice(os_type, OsType, "properties.storageProfile.osDisk.osType", "OS type")
        gen = _choice(
            hyper_v_generation, HyperVGeneration, "properties.hyperVGeneration", "Hyper-V generation"
        )
        tags = validate_tags(tags)
        require_enabled(resource_group.subscription)
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
        if name_taken(resource_group, ManagedImage.ARM_TYPE, name):
            raise ServiceError.conflict(
                f"An image named '{name}' already exists in this resource group.", "name"
            )
        image = new_resource(
            ManagedImage,
            caller,
            parent=resource_group,
            arm_id=arm_id,
            name=name,
            location=os_b.region,
            tags=tags,
            os_type=os_type,
            hyper_v_generation=gen,
            os_disk=_disk_from_blob(os_b, "properties.storageProfile.osDisk.blobUri", written),
            source_uri=os_b.uri,
        )
        ch.conflict_message = f"An image named '{name}' already exists in this resource group."
        ch.resource = image
        image.save()
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
    arm_id = f"{resource_group.arm_id}/providers/Microsoft.Compute/snapshots/{name}"
    with (
        _files_removed_on_failure() as written,
        change(caller, _op(Snapshot, "write"), scope=resource_group, arm_id=arm_id) as ch,
    ):
        _check_name(
            name,
            CHILD_NAME,
            "snapshot",
            CHILD_NAME_RULE,
        )
        os_type = _choice(os_type, OsType, "properties.osType", "OS type") if os_type else ""
        state = _choice(os_state, OsState, "properties.osState", "OS state")
        gen = _choice(
            hyper_v_generation, HyperVGeneration, "properties.hyperVGeneration", "Hyper-V generation"
        )
        tags = validate_tags(tags)
        require_enabled(resource_group.subscription)
        b = _blob_in(resource_group, blob, "properties.creationData.sourceUri")
        if name_taken(resource_group, Snapshot.ARM_TYPE, name):
            raise ServiceError.conflict(
                f"A snapshot named '{name}' already exists in this resource group.", "name"
            )
        snap = new_resource(
            Snapshot,
            caller,
            parent=resource_group,
            arm_id=arm_id,
            name=name,
            location=b.region,
            tags=tags,
            os_type=os_type,
            os_state=state,
            hyper_v_generation=gen,
            disk=_disk_from_blob(b, "properties.creationData.sourceUri", written),
            source_uri=b.uri,
        )
        ch.conflict_message = f"A snapshot named '{name}' already exists in this resource group."
        ch.resource = snap
        snap.save()
    return snap


def _delete_source(caller: Caller, resource: ManagedImage | Snapshot, disks: list[StoredDisk]) -> None:
    with change(caller, _op(type(resource), "delete"), resource=resource) as ch:
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
