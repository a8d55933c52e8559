"""Latest (F8): which version a definition's "latest" means in a region."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from ..models import (
    GalleryImage,
    GalleryImageVersion,
    Region,
    TargetRegion,
)


def latest_version(definition: GalleryImage, region: Region) -> GalleryImageVersion | None:
    """The highest version (numeric order) not excluded from latest, globally or for ``region``,
    whose replication to ``region`` is Completed: ``latest_by_region``'s answer there (the one rule,
    read from the definition's side; asked for one region, SQLite would start from that region's
    Completed replicas across the whole install)."""
    return latest_by_region(definition).get(region.name)


def latest_candidates(definition_id) -> QuerySet:
    """The target regions that may make their version the definition's latest in their region (F8):
    replicated there, neither the version nor the region excluded, not being removed, the version not
    being deleted. The latest in a region is the first of these by ``LATEST_FIRST``.

    On SQLite (run here without planner statistics) written as "version in (the definition's
    versions) and region in (their regions)": joined from the replica to its version's definition,
    SQLite chose the state index and read every Completed replica in the database, joining each one
    to its version to test the definition (a replication poll that grew with the whole install;
    docs/benchmarks.md); this way it looks each (version, region) up by the unique index. PostgreSQL
    keeps the join: on a fresh database, before its first ANALYZE, the IN form was planned as a nested
    loop over every pair (3 ms for 60 rows) while the join took 0.2–0.3 ms (measured, docs)."""
    version_rules = {"definition_id": definition_id, "exclude_from_latest": False}
    deleting = GalleryImageVersion.ProvisioningState.DELETING
    replicated = TargetRegion.objects.filter(
        state=TargetRegion.State.COMPLETED, exclude_from_latest=False, removing=False
    )
    if connection.vendor != "sqlite":
        joined = {f"version__{name}": value for name, value in version_rules.items()}
        return replicated.filter(**joined).exclude(version__provisioning_state=deleting)
    ids = (
        GalleryImageVersion.objects.filter(**version_rules).exclude(provisioning_state=deleting).values("pk")
    )
    return replicated.filter(
        version__in=ids, region__in=TargetRegion.objects.filter(version__in=ids).values("region_id")
    )


LATEST_FIRST = ("-version__major", "-version__minor", "-version__patch")


def latest_by_region(definition: GalleryImage, excluding=()) -> dict[str, GalleryImageVersion]:
    """Latest per region name for a whole definition, in three small queries whatever its history:
    the candidates as plain rows (region id, version id) in ``LATEST_FIRST`` order, then the versions
    latest somewhere and their regions' names (joining the region into the first read would let
    SQLite start from the region again, see ``latest_candidates``). A version deleted between the
    reads is no longer a candidate: the candidates are read again. ``excluding``: version ids not to
    count (the lifecycle plan asks what the latest will be once the versions it deletes are gone)."""
    rows = (
        latest_candidates(definition.pk)
        .exclude(version_id__in=list(excluding))
        .order_by("region_id", *LATEST_FIRST)
        .values_list("region_id", "version_id")
    )
    while True:
        first: dict[int, int] = {}
        for region_id, version_id in rows.all():
            first.setdefault(region_id, version_id)
        if not first:
            return {}
        versions = GalleryImageVersion.objects.in_bulk(set(first.values()))
        if len(versions) == len(set(first.values())):
            break
    names = dict(Region.objects.filter(pk__in=list(first)).values_list("pk", "name"))
    return {names[region_id]: versions[version_id] for region_id, version_id in first.items()}
