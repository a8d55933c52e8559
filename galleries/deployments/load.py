"""Replica load (F10): how many creations each replica of a region serves, and the lock that
serializes the admission of creations from one source in one region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accounts.models import Resource

from .. import replication
from ..models import (
    GalleryImageVersion,
    ManagedImage,
    Region,
    TargetRegion,
)
from ..models_deploy import (
    SCALE_SET_TYPE,
    Deployment,
)
from .rules import SCALE_SET_INSTANCES_PER_REPLICA, VMS_PER_REPLICA, target_row

# --- Replica load (F10) ------------------------------------------------------------------------------


@dataclass
class Load:
    """What the replicas of one (version, region) are creating now."""

    replicas: int
    vms: list[int]  # concurrent VM creations per replica index
    scale_sets: list[int]  # scale-set instances being created per replica index (0 = free)

    def place(self, scale_set: bool, instances: int) -> list[int] | None:
        """The replica indexes that would serve a new creation, or None when it has to wait."""
        if not scale_set:
            free = [i for i in range(self.replicas) if self.vms[i] < VMS_PER_REPLICA]
            return [min(free, key=lambda i: (self.vms[i], i))] if free else None
        need = math.ceil(instances / SCALE_SET_INSTANCES_PER_REPLICA)
        free = [i for i in range(self.replicas) if not self.scale_sets[i]]
        if len(free) < need:
            return None
        return sorted(free, key=lambda i: (self.vms[i], i))[:need]

    def take(self, indexes: list[int], scale_set: bool, instances: int) -> None:
        for i in indexes:
            if scale_set:
                self.scale_sets[i] = instances
            else:
                self.vms[i] += 1

    def why_wait(self, scale_set: bool, instances: int, region: Region, version_name: str) -> str:
        n = self.replicas
        if not scale_set:
            return (
                f"All {n} replica{'s' if n != 1 else ''} of version {version_name} in {region.display_name} are "
                f"serving {VMS_PER_REPLICA} concurrent VM creations each ({sum(self.vms)} in all); this VM starts "
                f"when one of them finishes. {region.display_name} is under-provisioned: keep one replica per "
                f"{VMS_PER_REPLICA} VMs created at the same time."
            )
        need = math.ceil(instances / SCALE_SET_INSTANCES_PER_REPLICA)
        busy = sum(1 for s in self.scale_sets if s)
        return (
            f"This scale set of {instances:,} instances needs {need} replica{'s' if need != 1 else ''} free of other "
            f"scale sets; version {version_name} has {n} in {region.display_name} and {busy} "
            f"{'is' if busy == 1 else 'are'} creating a scale set. It starts when enough are free. "
            f"{region.display_name} is under-provisioned: keep one replica per concurrent scale set of up to "
            f"{SCALE_SET_INSTANCES_PER_REPLICA} instances."
        )


def serving_rows(version: GalleryImageVersion | None, image: ManagedImage | None, region: Region):
    rows = Deployment.objects.filter(location=region)
    if version is not None:
        return rows.filter(source_version=version)
    return rows.filter(source_image=image, source_version__isnull=True)


def load_of(version: GalleryImageVersion | None, region: Region, image: ManagedImage | None = None) -> Load:
    """The current load. A managed image has no replicas: it serves as one."""
    if version is not None:
        row = target_row(version, region)
        replicas = replication.copies_for(row) if row is not None else 0
    else:
        replicas = 1
    load = Load(replicas, [0] * replicas, [0] * replicas)
    creating = serving_rows(version, image, region).filter(state=Deployment.State.CREATING)
    for kind, count, indexes in creating.values_list("type", "instance_count", "replica_indexes"):
        load.take([i for i in indexes if i < replicas], kind == SCALE_SET_TYPE, count)
    return load


def lock_source(version: GalleryImageVersion | None, region: Region, image: ManagedImage | None) -> None:
    """Serialize admissions for one (source, region): PostgreSQL row lock; SQLite's single writer."""
    if version is not None:
        list(
            TargetRegion.objects.select_for_update().filter(version=version, region=region).values_list("pk")
        )
    elif image is not None:
        list(Resource.objects.select_for_update().filter(pk=image.pk).values_list("pk"))


def under_provisioned_regions(version: GalleryImageVersion) -> dict[str, int]:
    """Region name → how many deployments wait for a replica there (the F10 flag; F11 advises)."""
    out: dict[str, int] = {}
    for name in Deployment.objects.filter(source_version=version, state=Deployment.State.WAITING).values_list(
        "location__name", flat=True
    ):
        out[name] = out.get(name, 0) + 1
    return out
