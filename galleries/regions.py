"""Region lookup: ARM clients send either the name (``westeurope``) or the display name
(``West Europe``); both resolve to the same region."""

from __future__ import annotations

from portal.core.errors import ServiceError

from .models import Region


def normalize(value: str) -> str:
    return "".join(str(value).split()).lower()


def resolve_region(value, target: str = "location") -> Region:
    if isinstance(value, Region):
        return value
    if not value or not str(value).strip():
        raise ServiceError.invalid(target, "A location is required, e.g. 'westeurope'.")
    key = normalize(value)
    for region in _regions():
        if region.name == key or normalize(region.display_name) == key:
            return region
    raise ServiceError.invalid(
        target, f"'{value}' is not a known region; use a name such as 'westeurope' or 'West Europe'."
    )


def _regions() -> list[Region]:
    return list(Region.objects.select_related("cloud"))
