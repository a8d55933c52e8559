"""Which queues need a live consumer, and which have one busy on them (``portal.health`` sends the
heartbeats, inside beat: ``portal.beat``).

A queue needs a consumer when work can arrive on it: ``default`` always, and the queue of every
region that holds target regions (replication, removal, scrub) or deployments. Beat sends each such
queue a heartbeat task every ``HEARTBEAT_SECONDS``, at most one waiting at a time per queue (a queue
nobody consumes never piles them up; one lost with a broker is sent again after
``HEALTH_STALE_SECONDS``). A region whose replication leases are being renewed has a consumer busy
on it, which counts as live too. ``/healthz`` reads the result.
"""

from __future__ import annotations

from django.conf import settings

from accounts.models import Resource
from portal.core.queues import region_queue

from .models import TargetRegion
from .models_deploy import Deployment


def required_queues() -> list[str]:
    regions = set(TargetRegion.objects.values_list("region__name", flat=True).distinct())
    regions |= set(
        Resource.objects.filter(pk__in=Deployment.objects.values("pk"))
        .values_list("location__name", flat=True)
        .distinct()
    )
    regions.discard(None)
    return [settings.CELERY_TASK_DEFAULT_QUEUE, *sorted(region_queue(r) for r in regions)]


def busy_queues(now) -> set[str]:
    """Region queues with a replication lease being renewed: a consumer is busy on them (live)."""
    return {
        region_queue(name)
        for name in TargetRegion.objects.filter(lease_expires_at__gt=now)
        .exclude(lease_owner="")
        .values_list("region__name", flat=True)
        .distinct()
    }
