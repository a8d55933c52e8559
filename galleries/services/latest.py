"""Latest (F8): which version a definition's "latest" means in a region."""

from __future__ import annotations

from django.db.models import QuerySet

from ..models import (
    GalleryImage,
    GalleryImageVersion,
    Region,
    TargetRegion,
)


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
