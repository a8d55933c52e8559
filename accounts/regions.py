"""Region lookup: ARM clients send either the name (``westeurope``) or the display name
(``West Europe``); both resolve to the same region.

A region is the resource graph's location (``Resource.location``, a foreign key to the galleries'
``Region``). Accounts reaches the model through that field, so resource groups are created here
without accounts importing galleries; ``galleries.regions`` re-exports these functions."""

from __future__ import annotations

from portal.core.errors import ServiceError

from .models import Resource


def region_model():
    """The model of the regions (``galleries.Region``), as the resource graph's location points at it."""
    return Resource._meta.get_field("location").related_model


def normalize(value: str) -> str:
    return "".join(str(value).split()).lower()


def resolve_region(value, target: str = "location"):
    region_class = region_model()
    if isinstance(value, region_class):
        return value
    if not value or not str(value).strip():
        raise ServiceError.invalid(target, "A location is required, e.g. 'westeurope'.")
    key = normalize(value)
    for region in region_class.objects.select_related("cloud"):
        if region.name == key or normalize(region.display_name) == key:
            return region
    raise ServiceError.invalid(
        target, f"'{value}' is not a known region; use a name such as 'westeurope' or 'West Europe'."
    )
