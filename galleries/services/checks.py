"""The shared checks of the service layer: names, choices, counts, URLs, LUNs, target regions, and the
lookup of a resource by ARM id through the access filter. Every service module (and ``galleries.costs``,
``galleries.deployments``) uses these, so each rule is written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from accounts.activity import Caller, change
from accounts.models import Resource, Subscription
from portal.core import limits
from portal.core.errors import ServiceError

from ..models import (
    Region,
    StorageAccountType,
)
from ..regions import resolve_region
from ..usage import release

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


@dataclass(slots=True)
class ChainRow:
    """A resource read as a row of values (``values_list``): its id, type and ancestor columns
    (``accounts.access.ANCESTOR_COLUMNS``), all the access check needs, without building the model."""

    pk: int
    type: str
    subscription_id: int | None
    resource_group_id: int | None
    gallery_id: int | None
    definition_id: int | None


def delete_when_empty(caller: Caller, resource, children, label: str, what_children: str, kind) -> None:
    """Delete a gallery or an image definition that holds nothing any more (otherwise a conflict
    naming how many ``what_children`` it still has) and release its ``kind`` of usage in its region."""
    with change(caller, arm_op(type(resource), "delete"), resource=resource) as ch:
        n = children.count()
        if n:
            raise ServiceError.conflict(
                f"The {label} '{resource.name}' still has {n} {what_children}; delete them first.", "name"
            )
        ch.resource, ch.arm_id = None, resource.arm_id
        ch.scope = Resource.objects.get(pk=resource.parent_id)
        release(resource.subscription_id, resource.location_id, kind)
        resource.delete()


def immutable_changes(changes: dict, paths: dict, mutable, what: str) -> list[tuple[str, object]]:
    """The changes an update names that are not ``mutable`` (None: not given, so left out), for the
    service to accept unchanged or refuse; a key that is no property of ``what`` is refused."""
    unknown = set(changes) - set(paths)
    if unknown:
        key = sorted(unknown)[0]
        raise ServiceError.invalid(key, f"'{key}' is not a property of {what}.")
    return [(key, value) for key, value in changes.items() if key not in mutable and value is not None]


def end_of_life_on(day: date) -> datetime:
    """The one reading of an end-of-life *day* (what a page's date input gives), for definitions and
    versions alike: 00:00 UTC of that day, as ARM stores a bare ``endOfLifeDate`` such as
    ``2030-12-31`` (docs/architecture.md, "End-of-life dates")."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def end_of_life_kept(current: datetime | None, new: datetime | None) -> datetime | None:
    """Pages show days only: a day sent unchanged keeps the stored moment (and an expired one is not
    refused for being in the past: it did not change). Otherwise the new value."""
    if (
        new is not None
        and current is not None
        and current.astimezone(UTC).date() == new.astimezone(UTC).date()
    ):
        return current
    return new


def arm_op(model, verb: str) -> str:
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


def check_name(name: str, pattern: re.Pattern, what: str, rule: str) -> str:
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


def check_choice(value, choices, target: str, what: str):
    allowed = [c.value for c in choices]
    for c in allowed:
        if isinstance(value, str) and value.lower() == c.lower():
            return c
    raise ServiceError.invalid(
        target, f"'{limits.quote(value)}' is not a valid {what}; use one of: {', '.join(allowed)}."
    )


def check_url(value: str, target: str, what: str) -> str:
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


def check_count(value, target: str, what: str, low: int = 1, high: int | None = None) -> int | None:
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


@dataclass
class TargetRegionSpec:
    """One entry of ``publishingProfile.targetRegions``."""

    name: str | Region
    regional_replica_count: int | None = None
    storage_account_type: str | None = None
    exclude_from_latest: bool = False


@dataclass
class Target:
    region: Region
    replica_count: int
    storage_account_type: str
    exclude_from_latest: bool


TARGET_REGIONS = f"{PP}.targetRegions"


def clean_targets(
    subscription: Subscription, location: Region, specs, common_count: int, default_type: str
) -> list[Target]:
    base = TARGET_REGIONS
    if not isinstance(specs, list | tuple) or not specs:
        raise ServiceError.invalid(
            base, "At least one target region is required, including the source region."
        )
    allowed = None
    out: list[Target] = []
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
        count = check_count(
            spec.regional_replica_count,
            f"{base}[{i}].regionalReplicaCount",
            "regional replica count",
            1,
            MAX_REPLICAS,
        )
        stype = default_type
        if spec.storage_account_type:
            stype = check_choice(
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
        out.append(Target(region, count or common_count, stype, bool(spec.exclude_from_latest)))
    if location.pk not in seen:
        raise ServiceError.invalid(
            base, f"The source region {location.display_name} must be one of the target regions."
        )
    return out
