"""The runtime's own tasks: the supervisor's ping and the per-queue heartbeat behind /healthz."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from .core import liveness
from .models import QueueHeartbeat


@shared_task(name="portal.tasks.ping", ignore_result=True)
def ping(ping_id: str) -> str:
    """Sent by the supervisor to one worker's own queue: proves that this worker receives *and runs*."""
    liveness.pong(ping_id)
    return ping_id


@shared_task(bind=True, name="portal.tasks.heartbeat", ignore_result=True)
def heartbeat(self, queue: str) -> str:
    """Sent by beat to every queue that needs a consumer: proves that someone consumes that queue."""
    QueueHeartbeat.objects.filter(queue=queue).update(
        ran_at=timezone.now(), worker=self.request.hostname or ""
    )
    return queue
