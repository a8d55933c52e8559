"""Galleries (F5): create, update, delete."""

from __future__ import annotations

from accounts.activity import Caller, change
from accounts.models import ResourceGroup
from accounts.services import new_resource, require_enabled, touch, validate_tags
from portal.core import limits
from portal.core.errors import ServiceError

from ..models import (
    Gallery,
    GalleryImage,
    UsageCounter,
)
from ..regions import resolve_region
from ..usage import reserve
from .checks import GALLERY_NAME, arm_op, check_name, delete_when_empty

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
    with change(caller, arm_op(Gallery, "write"), scope=resource_group, arm_id=arm_id) as ch:
        check_name(
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
        reserve(subscription, region, UsageCounter.Kind.GALLERIES)
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
    with change(caller, arm_op(Gallery, "write"), resource=gallery):
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
    definitions = GalleryImage.objects.filter(gallery=gallery)
    delete_when_empty(
        caller, gallery, definitions, "gallery", "image definition(s)", UsageCounter.Kind.GALLERIES
    )
