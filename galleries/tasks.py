"""Background work of the foundation: keeping usage counters honest and clearing abandoned uploads.
(The replication tasks, routed to ``region.<name>`` queues, arrive with the replication engine.)"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from accounts.activity import Caller

from . import services
from .models import Blob


@shared_task(name="galleries.tasks.reconcile_usage")
def reconcile_usage() -> int:
    """Recount the per-subscription-per-region usage from the resources (hourly, by beat)."""
    return services.reconcile_usage()


@shared_task(name="galleries.tasks.expire_stale_uploads")
def expire_stale_uploads() -> int:
    """Delete uploads nobody has continued for ``UPLOAD_EXPIRY_HOURS`` (temporary files included)."""
    cutoff = timezone.now() - timedelta(hours=getattr(settings, "UPLOAD_EXPIRY_HOURS", 72))
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
