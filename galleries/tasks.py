"""Celery tasks. Work on one region's storage takes a ``region`` keyword and is routed to that
region's queue (``region.<name>``); tasks are idempotent and bounded, and retry with backoff when
the database is unreachable."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from accounts.activity import Caller

from . import deployments, lifecycle, replication, services
from .api import deploying, operations
from .models import Blob, LifecycleRun, Region, Replica

log = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="galleries.tasks.replicate_region",
    acks_late=True,
    max_retries=None,
    ignore_result=True,
)
def replicate_region(self, target_region_id: int, region: str) -> str:
    """Bring one (version, target region) to what it asks for. The task id is the lease owner, so a
    retry of this task resumes under the same lease."""
    try:
        return replication.run(target_region_id, owner=self.request.id or replication.new_owner())
    except DatabaseError as exc:
        countdown = replication.backoff_seconds(self.request.retries + 1)
        log.warning(
            "replication of target %s: database unavailable (%s); retrying in %s s",
            target_region_id,
            exc,
            countdown,
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="galleries.tasks.reap_replication", ignore_result=True)
def reap_replication() -> int:
    """Re-queue rows whose lease expired or that nobody picked up (every few seconds, by beat)."""
    return replication.reap()


@shared_task(name="galleries.tasks.scrub_region", ignore_result=True)
def scrub_region(region: str) -> dict:
    return replication.scrub_region(Region.objects.select_related("cloud").get(name=region))


@shared_task(name="galleries.tasks.scrub_all_regions", ignore_result=True)
def scrub_all_regions() -> int:
    """Fan out one scrub per region that holds replicas, each on its region's queue."""
    names = list(Replica.objects.values_list("target_region__region__name", flat=True).distinct())
    for name in names:
        scrub_region.apply_async(kwargs={"region": name})
    return len(names)


@shared_task(name="galleries.tasks.reconcile_usage", ignore_result=True)
def reconcile_usage() -> int:
    """Recount the per-subscription-per-region usage from the resources (hourly, by beat)."""
    return services.reconcile_usage()


@shared_task(name="galleries.tasks.expire_stale_uploads", ignore_result=True)
def expire_stale_uploads() -> int:
    """Delete uploads nobody has continued for ``UPLOAD_EXPIRY_HOURS`` (temporary files included)."""
    cutoff = timezone.now() - timedelta(hours=settings.UPLOAD_EXPIRY_HOURS)
    stale = list(
        Blob.objects.filter(state=Blob.State.UPLOADING, updated_at__lt=cutoff).select_related(
            "resource_group", "region__cloud"
        )
    )
    for blob in stale:
        services.discard_upload(
            Caller.system(), blob, reason="Upload abandoned: no chunk received for too long."
        )
    return len(stale)


@shared_task(name="galleries.tasks.run_lifecycle", ignore_result=True)
def run_lifecycle() -> dict:
    """The scheduled lifecycle clean-up (F18, daily by beat): a real run of ``galleries.lifecycle``,
    whose plan is saved (a ``LifecycleRun``) before it acts; returns its counts. Definitions whose
    versions are still being deleted are deleted by the next run."""
    return lifecycle.run(dry_run=False, trigger=LifecycleRun.Trigger.SCHEDULE).summary()


@shared_task(name="galleries.tasks.purge_operations", ignore_result=True)
def purge_operations() -> int:
    """Forget the API's long-running operations that ended more than ``ARM_OPERATION_DAYS`` ago (their
    clients have long stopped polling); returns how many were deleted."""
    return operations.purge()


@shared_task(name="galleries.tasks.advance_group_deletions", ignore_result=True)
def advance_group_deletions() -> int:
    """Carry on the resource group deletions whose replicas the region workers have removed meanwhile."""
    return operations.advance_group_deletions()


@shared_task(name="galleries.tasks.advance_template_deployments", ignore_result=True)
def advance_template_deployments() -> int:
    """Carry on the template deployments nobody is polling (an image version's replication finished
    meanwhile); returns how many still run."""
    return deploying.advance_all()


@shared_task(name="galleries.deployments.admit_waiting_deployments", ignore_result=True)
def admit_waiting_deployments() -> int:
    """Start the waiting deployments that now fit (every few seconds, by beat)."""
    return deployments.admit_all_waiting()


@shared_task(name="galleries.deployments.provision_deployment", acks_late=True, ignore_result=True)
def provision_deployment(deployment_id: int, region: str) -> str:
    """Routed to ``region.<region>`` like the replication tasks: the OS disk is copied there."""
    return deployments.provision(deployment_id)
