"""Which queues need a live consumer, and their heartbeats (run inside beat: ``portal.beat``).

A queue needs a consumer when work can arrive on it: ``default`` always, and the queue of every
region that holds target regions (replication, removal, scrub) or deployments. Beat sends each such
queue a heartbeat task every ``HEARTBEAT_SECONDS``, at most one waiting at a time per queue (a queue
nobody consumes never piles them up; one lost with a broker is sent again after
``HEALTH_STALE_SECONDS``). A region whose replication leases are being renewed has a consumer busy
on it, which counts as live too. ``/healthz`` reads the result.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import Resource
from portal.celery import region_queue
from portal.models import QueueHeartbeat
from portal.tasks import heartbeat

from .models import TargetRegion
from .models_deploy import Deployment

log = logging.getLogger(__name__)


def required_queues() -> list[str]:
    regions = set(TargetRegion.objects.values_list("region__name", flat=True).distinct())
    regions |= set(
        Resource.objects.filter(pk__in=Deployment.objects.values("pk"))
        .values_list("location__name", flat=True)
        .distinct()
    )
    regions.discard(None)
    return [settings.CELERY_TASK_DEFAULT_QUEUE, *sorted(region_queue(r) for r in regions)]


def publish_heartbeats(now=None) -> int:
    """Send the heartbeats that are due; returns how many were sent."""
    now = now or timezone.now()
    interval = timedelta(seconds=settings.HEARTBEAT_SECONDS)
    resend = timedelta(seconds=settings.HEALTH_STALE_SECONDS)
    wanted = required_queues()
    QueueHeartbeat.objects.exclude(queue__in=wanted).delete()
    QueueHeartbeat.objects.bulk_create([QueueHeartbeat(queue=q) for q in wanted], ignore_conflicts=True)
    busy = {
        region_queue(name)
        for name in TargetRegion.objects.filter(lease_expires_at__gt=now)
        .exclude(lease_owner="")
        .values_list("region__name", flat=True)
        .distinct()
    }
    if busy:
        QueueHeartbeat.objects.filter(queue__in=busy).update(active_at=now)
    sent = 0
    for row in QueueHeartbeat.objects.filter(queue__in=wanted):
        answered = row.sent_at is None or (row.ran_at is not None and row.ran_at >= row.sent_at)
        if row.sent_at is not None and now - row.sent_at < (interval if answered else resend):
            continue
        heartbeat.apply_async(kwargs={"queue": row.queue}, queue=row.queue, expires=resend.total_seconds())
        QueueHeartbeat.objects.filter(pk=row.pk).update(sent_at=now)
        sent += 1
    return sent
