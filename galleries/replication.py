"""The replication engine (F9): real copies of a version's disks into every target region.

One (version, target region) row is worked on by one worker at a time, under a lease it renews as it
copies (the heartbeat). The work is idempotent: look at which replica files exist and are verified,
copy the missing ones, delete the surplus, and only then mark the region Completed — conditionally on
the row's revision, so a change made meanwhile (more replicas, a removal) is picked up by the same
worker before it lets go. A killed worker's lease expires and the reaper queues the row again.

Where the bytes come from: the first copy into a region is read from the source disk in the source
region (the only cross-region traffic, what is billed as egress); every further replica in that
region is copied from a verified replica already there. Standard_ZRS spreads the region's replicas
over its three zones with at least one per zone. A copy is hashed while it is written, fsynced and
renamed from a temporary name only when its SHA-256 equals the version disk's; a partial copy never
counts, and its temporary file is removed by whoever works on that row next.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.activity import Caller, Change, change
from accounts.models import ActivityLogEntry, Resource
from portal.core.errors import ServiceError
from portal.core.queues import region_queue, waiting

from . import queue
from .models import (
    GalleryImageVersion,
    Region,
    Replica,
    StorageAccountType,
    TargetRegion,
    UsageCounter,
    VersionDisk,
)
from .storage import RegionStore
from .usage import release

log = logging.getLogger(__name__)
State = TargetRegion.State
PS = GalleryImageVersion.ProvisioningState


class LeaseLost(Exception):
    """Another worker owns the row now (ours expired): stop without touching it."""


class CopyFailed(Exception):
    """A copy that cannot count (wrong checksum, missing source): retried with backoff."""


def lease_seconds() -> int:
    return settings.REPLICATION_LEASE_SECONDS


def backoff_seconds(attempt: int) -> int:
    base = settings.REPLICATION_RETRY_BASE_SECONDS
    return int(min(base * 2 ** max(attempt - 1, 0), settings.REPLICATION_RETRY_MAX_SECONDS))


# --- What a region should hold ----------------------------------------------------------------------


def copies_for(target: TargetRegion) -> int:
    """Physical copies of the image in the region: the replica count, and for Standard_ZRS at least
    one per zone so that losing a zone never loses the region."""
    if target.storage_account_type == StorageAccountType.STANDARD_ZRS:
        return max(target.replica_count, 3)
    return target.replica_count


def zone_for(target: TargetRegion, index: int) -> str:
    if target.storage_account_type == StorageAccountType.STANDARD_ZRS:
        return str(index % 3 + 1)
    return ""


def replica_path(version_id: int, index: int, disk: VersionDisk) -> str:
    name = "os" if disk.lun is None else f"lun{disk.lun}"
    return f"versions/{version_id}/{index}/{name}.vhd"


def store_for(region: Region, zone: str) -> RegionStore:
    return RegionStore(region, zone or None)


@dataclass
class Plan:
    wanted: list[tuple[int, str, VersionDisk]]
    present: dict[tuple[int, int], Replica]
    missing: list[tuple[int, str, VersionDisk]] = field(default_factory=list)
    surplus: list[Replica] = field(default_factory=list)
    bytes_total: int = 0
    bytes_present: int = 0


def plan(target: TargetRegion, disks: list[VersionDisk]) -> Plan:
    copies = 0 if target.removing or target.version.provisioning_state == PS.DELETING else copies_for(target)
    wanted = [(i, zone_for(target, i), d) for i in range(copies) for d in disks]
    present = {(r.index, r.disk_id): r for r in target.replicas.all()}
    p = Plan(wanted=wanted, present=present)
    wanted_keys = set()
    for index, zone, disk in wanted:
        wanted_keys.add((index, disk.pk))
        p.bytes_total += disk.size_bytes
        r = present.get((index, disk.pk))
        if r is not None and r.verified_at is not None and r.zone == zone:
            p.bytes_present += disk.size_bytes
        else:
            p.missing.append((index, zone, disk))
    p.surplus = [r for key, r in present.items() if key not in wanted_keys]
    return p


# --- Leases and progress ----------------------------------------------------------------------------


def acquire(target_id: int, owner: str) -> TargetRegion | None:
    """Take the row's lease if it is free, expired, or already ours (a retry keeps its task id)."""
    now = timezone.now()
    taken = (
        TargetRegion.objects.filter(pk=target_id)
        .filter(
            Q(lease_owner="") | Q(lease_owner=owner) | Q(lease_expires_at__lt=now) | Q(lease_expires_at=None)
        )
        .update(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds()), updated_at=now)
    )
    if not taken:
        return None
    return TargetRegion.objects.select_related("version", "region__cloud").filter(pk=target_id).first()


class Progress:
    """Throttled progress and heartbeat: one UPDATE per ``REPLICATION_PROGRESS_BYTES`` copied or per
    ``REPLICATION_PROGRESS_SECONDS``, whichever comes first — never one per chunk."""

    def __init__(self, target_id: int, owner: str, done: int):
        self.target_id, self.owner = target_id, owner
        self.done = done
        self.pending = 0
        self.last = time.monotonic()
        self.writes = 0

    def add(self, n: int) -> None:
        self.pending += n
        if (
            self.pending >= settings.REPLICATION_PROGRESS_BYTES
            or time.monotonic() - self.last >= settings.REPLICATION_PROGRESS_SECONDS
        ):
            self.flush()

    def retract(self, n: int) -> None:
        """Bytes of a copy that did not count are taken back."""
        self.pending -= n

    def flush(self) -> None:
        now = timezone.now()
        self.done += self.pending
        self.pending = 0
        self.last = time.monotonic()
        self.writes += 1
        updated = TargetRegion.objects.filter(pk=self.target_id, lease_owner=self.owner).update(
            bytes_done=max(self.done, 0),
            lease_expires_at=now + timedelta(seconds=lease_seconds()),
            updated_at=now,
        )
        if not updated:
            raise LeaseLost()


class RateLimit:
    """Optional bandwidth cap per worker (``REPLICATION_MAX_BYTES_PER_SECOND``; 0 = none), so
    replication can be kept from saturating a link or a disk."""

    def __init__(self, rate: int):
        self.rate = rate
        self.start = time.monotonic()
        self.sent = 0

    def wait(self, n: int) -> None:
        if not self.rate:
            return
        self.sent += n
        ahead = self.sent / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)


# --- The work ----------------------------------------------------------------------------------------


def run(target_id: int, owner: str) -> str:
    """Bring one target region to what its row asks for. Returns what happened (for logs/tests)."""
    while True:
        target = acquire(target_id, owner)
        if target is None:
            return "busy"  # another worker holds a live lease, or the row is gone
        version = target.version
        disks = list(version.disks.select_related("source_disk__region__cloud"))
        seen_revision = target.revision
        p = plan(target, disks)
        if p.missing:
            TargetRegion.objects.filter(pk=target.pk, lease_owner=owner).update(
                state=State.REPLICATING, bytes_total=p.bytes_total, bytes_done=p.bytes_present
            )
            if target.state != State.REPLICATING:
                _mark_version(version.pk, starting=True)
        try:
            _delete_replicas(target, p.surplus)
            progress = Progress(target.pk, owner, p.bytes_present)
            limiter = RateLimit(settings.REPLICATION_MAX_BYTES_PER_SECOND)
            for index, zone, disk in p.missing:
                _copy_replica(target, index, zone, disk, progress, limiter)
            progress.flush()
        except LeaseLost:
            return "lease-lost"
        except Exception as exc:  # noqa: BLE001 - every failure is recorded on the row and retried
            if _is_database_error(exc):
                raise  # the task retries the whole run with backoff; the lease stays ours
            return _failed(target, owner, exc)
        if target.removing or version.provisioning_state == PS.DELETING:
            return _finish_removal(target, owner)
        if _complete(target, owner, seen_revision, p):
            return "completed"
        # The row changed while we worked (a new replica count, a scrub finding): go round again.


def _is_database_error(exc: Exception) -> bool:
    return isinstance(exc, DatabaseError)


def _copy_replica(
    target: TargetRegion, index: int, zone: str, disk: VersionDisk, progress: Progress, limiter: RateLimit
) -> None:
    region = target.region
    dst = store_for(region, zone)
    rel = replica_path(target.version_id, index, disk)
    dst.remove_temporaries(rel)  # a killed worker's partial copy never lingers
    existing = Replica.objects.filter(target_region=target, index=index, disk=disk).first()
    if existing is not None:
        # Unverified, or in the wrong zone after a storage change: start that copy again.
        store_for(region, existing.zone).delete(existing.path)
        existing.delete()
    src_store, src_rel = _source_for(target, disk)
    copied = 0

    def on_chunk(n: int) -> None:
        nonlocal copied
        copied += n
        progress.add(n)
        limiter.wait(n)

    try:
        size, digest = dst.copy_from(src_store, src_rel, rel, on_chunk=on_chunk)
    except FileNotFoundError as exc:
        progress.retract(copied)
        raise CopyFailed(
            f"The source of the {_disk_label(disk)} is missing from {src_store.region.display_name} ({exc.filename})."
        ) from exc
    except BaseException:
        progress.retract(copied)
        raise
    if digest != disk.sha256 or size != disk.size_bytes:
        dst.delete(rel)
        progress.retract(copied)
        raise CopyFailed(
            f"The copy of the {_disk_label(disk)} into {region.display_name} did not verify: SHA-256 {digest[:12]}… "
            f"({size:,} bytes) instead of {disk.sha256[:12]}… ({disk.size_bytes:,} bytes). Its source may be "
            "corrupt; it will be copied again."
        )
    Replica.objects.create(
        target_region=target,
        disk=disk,
        index=index,
        zone=zone,
        path=rel,
        size_bytes=size,
        sha256=digest,
        verified_at=timezone.now(),
    )


def _disk_label(disk: VersionDisk) -> str:
    return "OS disk" if disk.lun is None else f"data disk at LUN {disk.lun}"


def _source_for(target: TargetRegion, disk: VersionDisk) -> tuple[RegionStore, str]:
    """A verified replica already in this region if there is one; else the source region's disk."""
    local = (
        Replica.objects.filter(target_region=target, disk=disk, verified_at__isnull=False)
        .order_by("index")
        .first()
    )
    if local is not None:
        store = store_for(target.region, local.zone)
        if store.exists(local.path):
            return store, local.path
    source = disk.source_disk
    return RegionStore(source.region), source.path


def _delete_replicas(target: TargetRegion, replicas) -> None:
    for r in replicas:
        store_for(target.region, r.zone).delete(r.path)
        r.delete()


def _complete(target: TargetRegion, owner: str, seen_revision: int, p: Plan) -> bool:
    now = timezone.now()
    with transaction.atomic():
        done = TargetRegion.objects.filter(pk=target.pk, lease_owner=owner, revision=seen_revision).update(
            state=State.COMPLETED,
            bytes_total=p.bytes_total,
            bytes_done=p.bytes_total,
            last_error="",
            lease_owner="",
            lease_expires_at=None,
            updated_at=now,
            done_revision=seen_revision,
            attempts=0,
        )
        if not done:
            return False
        if target.state != State.COMPLETED:
            _record(
                target,
                "Succeeded",
                f"Replication to {target.region.display_name} completed "
                f"({copies_for(target)} cop{'y' if copies_for(target) == 1 else 'ies'}).",
            )
        _mark_version(target.version_id)
    return True


def _failed(target: TargetRegion, owner: str, exc: Exception) -> str:
    """Record the error; retry later with exponential backoff, or give up and mark the region Failed."""
    message = str(exc) if isinstance(exc, CopyFailed) else f"{type(exc).__name__}: {exc}"
    row = TargetRegion.objects.filter(pk=target.pk, lease_owner=owner).first()
    if row is None:
        return "lease-lost"
    attempts = row.attempts + 1
    now = timezone.now()
    if attempts >= settings.REPLICATION_MAX_ATTEMPTS:
        with transaction.atomic():
            TargetRegion.objects.filter(pk=row.pk, lease_owner=owner).update(
                state=State.FAILED,
                attempts=attempts,
                last_error=message,
                lease_owner="",
                lease_expires_at=None,
                updated_at=now,
            )
            _record(
                target,
                "Failed",
                f"Replication to {target.region.display_name} failed after {attempts} attempts: {message}",
            )
            _mark_version(target.version_id)
        return "failed"
    delay = backoff_seconds(attempts)
    TargetRegion.objects.filter(pk=row.pk, lease_owner=owner).update(
        attempts=attempts,
        last_error=f"{message} (attempt {attempts}; retrying in {delay} s)",
        lease_owner="",
        lease_expires_at=now + timedelta(seconds=delay),
        updated_at=now,
    )
    region_name = target.region.name
    transaction.on_commit(lambda: enqueue(row.pk, region_name, countdown=delay))
    return "retrying"


def _finish_removal(target: TargetRegion, owner: str) -> str:
    """A removed region (or a version being deleted): its replicas are gone; now its row, and the
    version once no region is left."""
    with transaction.atomic():
        if Replica.objects.filter(target_region=target).exists():
            return "busy"
        TargetRegion.objects.filter(pk=target.pk, lease_owner=owner).delete()
        # Lock the version before looking at its other regions: two regions finishing at once must
        # not both see the other still there (then nobody would delete the version).
        version = GalleryImageVersion.objects.select_for_update().filter(pk=target.version_id).first()
        if version is None:
            return "removed"
        if version.provisioning_state == PS.DELETING:
            if not TargetRegion.objects.filter(version=version).exists():
                finish_version_deletion(version)
                return "deleted"
        else:
            _mark_version(version.pk)
    return "removed"


def _mark_version(version_id: int, starting: bool = False) -> None:
    """Derive the version's provisioning state from its regions (unless it is being deleted).
    The version row is locked first, so regions finishing at the same moment decide one after the
    other and the last one sees every region final (READ COMMITTED would otherwise let both miss)."""
    with transaction.atomic():
        version = GalleryImageVersion.objects.select_for_update().filter(pk=version_id).first()
        if version is None or version.provisioning_state == PS.DELETING:
            return
        _settle(version, starting)


def _settle(version: GalleryImageVersion, starting: bool = False) -> None:
    version_id = version.pk
    rows = list(TargetRegion.objects.filter(version_id=version_id, removing=False))
    aggregated = version.aggregated_state(rows)
    if aggregated == "Completed":
        new = PS.SUCCEEDED
    elif aggregated == "Failed":
        new = PS.FAILED
    elif version.provisioning_state in (PS.SUCCEEDED, PS.FAILED) and starting:
        new = PS.UPDATING
    else:
        new = version.provisioning_state
    if new != version.provisioning_state:
        GalleryImageVersion.objects.filter(pk=version_id).update(provisioning_state=new)


def _record(target: TargetRegion, status: str, message: str) -> None:
    resource = Resource.objects.filter(pk=target.version_id).first()
    ch = Change(
        caller=Caller.system(),
        operation="Microsoft.Compute/galleries/images/versions/replication/action",
        resource=resource,
    )
    ch.message = message
    ch.details = {"region": target.region.name, "state": status}
    if status == "Failed":
        ch.record(
            ActivityLogEntry.Status.FAILED, ServiceError("ReplicationFailed", message, target.region.name)
        )
    else:
        ch.record(ActivityLogEntry.Status.SUCCEEDED)


def finish_version_deletion(version: GalleryImageVersion) -> None:
    """Called by the last region's worker once every replica is gone."""
    with change(Caller.system(), f"{GalleryImageVersion.ARM_TYPE}/delete", resource=version) as ch:
        ch.message = "All replicas removed; the version is deleted."
        ch.resource, ch.arm_id = None, version.arm_id
        ch.scope = Resource.objects.get(pk=version.parent_id)
        release(version.subscription_id, version.location_id, UsageCounter.Kind.VERSIONS)
        version.delete()


# --- Queueing ----------------------------------------------------------------------------------------


def enqueue(target_id: int, region_name: str | None = None, countdown: int | None = None) -> None:
    if region_name is None:
        region_name = TargetRegion.objects.values_list("region__name", flat=True).get(pk=target_id)
    queue.send(queue.REPLICATE_REGION, countdown=countdown, target_region_id=target_id, region=region_name)


def enqueue_on_commit(targets) -> None:
    """Queue work for these rows once the transaction that changed them commits."""
    items = [(t.pk, t.region.name) for t in targets]
    transaction.on_commit(lambda: [enqueue(pk, name) for pk, name in items])


def reap(now=None) -> int:
    """Queue again every row that needs work but has nobody on it: a lease that expired (a killed
    worker), or a row never picked up (a message lost with a broker). Marks them reserved for a grace
    period so the next reaper run does not queue them twice. A row nobody has picked up yet is queued
    again only when its region's queue holds no waiting message: under a backlog it is simply still
    waiting its turn, and a copy per reaper run would only lengthen the queue. Returns how many rows
    were queued again."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.REPLICATION_REAPER_GRACE_SECONDS)
    unfinished = (
        Q(state__in=[State.UNKNOWN, State.REPLICATING])
        | Q(removing=True)
        | Q(version__provisioning_state=PS.DELETING)
        | (Q(state=State.COMPLETED) & ~Q(done_revision=F("revision")))
    )
    idle = Q(lease_expires_at__lt=now) | Q(lease_expires_at=None, updated_at__lt=now - grace)
    rows = list(
        TargetRegion.objects.filter(unfinished)
        .filter(idle)
        # A Failed region waits for "retry failed regions" — unless it is being removed or deleted.
        .exclude(Q(state=State.FAILED) & Q(removing=False) & ~Q(version__provisioning_state=PS.DELETING))
        .values_list("pk", "region__name", "lease_owner")
    )
    unowned = {region_queue(name) for _, name, owner in rows if not owner}
    try:
        backlog = waiting(sorted(unowned)) if unowned else {}
    except Exception as exc:  # noqa: BLE001 - the broker is away: queue again (enqueue then retries)
        log.warning("reaper: cannot count the waiting messages (%s); queueing every idle row", exc)
        backlog = {}
    queued = []
    for pk, region_name, owner in rows:
        if not owner and backlog.get(region_queue(region_name)):
            continue  # not lost: waiting behind other work in its queue
        reserved = (
            TargetRegion.objects.filter(pk=pk)
            .filter(idle)
            .update(lease_owner="", lease_expires_at=now + grace)
        )
        if reserved:
            enqueue(pk, region_name)
            queued.append(f"{pk}@{region_name}")
    if queued:
        log.warning(
            "reaper: queued again %d replication row(s) nobody was working on: %s",
            len(queued),
            ", ".join(queued),
        )
    _settle_versions(now - grace)
    return len(queued)


def _settle_versions(before) -> None:
    """Versions whose state fell behind their regions: a deletion whose last region is gone, or a
    version whose regions are all final but that still says Creating/Updating."""
    unfinished = TargetRegion.objects.filter(
        Q(state__in=[State.UNKNOWN, State.REPLICATING]) | Q(removing=True)
    ).values("version_id")
    orphaned = GalleryImageVersion.objects.filter(
        provisioning_state=PS.DELETING, modified_at__lt=before
    ).exclude(pk__in=TargetRegion.objects.values("version_id"))
    for pk in orphaned.values_list("pk", flat=True):
        with transaction.atomic():
            version = GalleryImageVersion.objects.select_for_update().filter(pk=pk).first()
            if version is not None and not TargetRegion.objects.filter(version=version).exists():
                finish_version_deletion(version)
    stale = GalleryImageVersion.objects.filter(
        provisioning_state__in=[PS.CREATING, PS.UPDATING], modified_at__lt=before
    ).exclude(pk__in=unfinished)
    for pk in stale.values_list("pk", flat=True):
        _mark_version(pk)


# --- Scrub -------------------------------------------------------------------------------------------


def scrub_region(region: Region) -> dict:
    """Re-read every verified replica in one region: a missing or corrupt file loses its row and its
    region goes back to work, which copies it again from a healthy replica (or the source). Also
    removes temporary files nobody is writing any more."""
    found = {"checked": 0, "missing": [], "corrupt": []}
    affected: dict[int, TargetRegion] = {}
    replicas = Replica.objects.filter(target_region__region=region, verified_at__isnull=False).select_related(
        "target_region__version", "disk"
    )
    for r in replicas:
        found["checked"] += 1
        store = store_for(region, r.zone)
        if not store.exists(r.path):
            found["missing"].append(r.path)
        elif store.sha256(r.path) != r.disk.sha256:
            found["corrupt"].append(r.path)
            store.delete(r.path)
        else:
            Replica.objects.filter(pk=r.pk).update(verified_at=timezone.now())
            continue
        affected[r.target_region_id] = r.target_region
        r.delete()
    for target in affected.values():
        TargetRegion.objects.filter(pk=target.pk).update(
            revision=F("revision") + 1, state=State.REPLICATING, attempts=0, updated_at=timezone.now()
        )
        _mark_version(target.version_id, starting=True)
        lost = [
            p for p in found["missing"] + found["corrupt"] if p.startswith(f"versions/{target.version_id}/")
        ]
        target.region = region
        _record(
            target,
            "Succeeded",
            f"Scrub of {region.display_name} found {len(lost)} missing or corrupt "
            f"replica file(s); repairing them from healthy copies: {', '.join(lost)}",
        )
        enqueue(target.pk, region.name)
    known = set(Replica.objects.filter(target_region__region=region).values_list("zone", "path"))
    found["orphans"] = []
    for zone in [""] + region.zones:
        store = store_for(region, zone)
        store.sweep_temporaries(older_than=lease_seconds() * 2)
        # Files no replica row accounts for (a copy finished just as its version went away).
        for rel in store.files_under("versions", older_than=lease_seconds() * 2):
            if (zone, rel) not in known:
                store.delete(rel)
                found["orphans"].append(rel)
    return found


def new_owner() -> str:
    return f"manual-{uuid.uuid4().hex}"
