"""``GET /healthz``: is the portal able to do its work right now?

Answers 200 with ``"status": "ok"`` when the database answers, the broker answers, beat is sending
heartbeats and every queue that needs a consumer has a live one; 503 with ``"status": "degraded"``
and the reason otherwise. Each queue says whether a live consumer ran its heartbeat (or progressed
work on it) within ``HEALTH_STALE_SECONDS``, and how many messages wait on it. No sign-in: load
balancers and monitors call it; it names queues, never resources.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from galleries import health

from .core.queues import waiting
from .models import QueueHeartbeat
from .tasks import heartbeat

BROKER_TIMEOUT = 2.0


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def _waiting(queues: list[str]) -> tuple[str, dict[str, int]]:
    try:
        return "ok", waiting(queues, timeout=BROKER_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the broker is the answer itself
        return f"unreachable: {type(exc).__name__}: {exc}"[:300], {}


@never_cache
@require_GET
def healthz(request):
    now = timezone.now()
    stale = timedelta(seconds=settings.HEALTH_STALE_SECONDS)
    problems: list[str] = []
    try:
        rows = list(QueueHeartbeat.objects.all())
        database = "ok"
    except DatabaseError as exc:
        rows, database = [], f"unreachable: {type(exc).__name__}"
        problems.append("the database does not answer")
    broker, waiting = _waiting([r.queue for r in rows])
    if broker != "ok":
        problems.append("the broker does not answer")
    sent = [r.sent_at for r in rows if r.sent_at is not None]
    beat_live = bool(sent) and now - max(sent) <= stale
    if database == "ok" and not beat_live:
        problems.append("beat has not sent heartbeats" + (" yet" if not sent else " recently"))
    queues = []
    for r in rows:
        seen = r.last_seen()
        live = seen is not None and now - seen <= stale
        if not live:
            problems.append(f"no live consumer on {r.queue}")
        queues.append(
            {
                "name": r.queue,
                "live": live,
                "waiting": waiting.get(r.queue),
                "lastHeartbeatSentAt": _iso(r.sent_at),
                "lastHeartbeatRanAt": _iso(r.ran_at),
                "lastHeartbeatWorker": r.worker or None,
                "lastActiveAt": _iso(r.active_at),
            }
        )
    body = {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "database": database,
        "broker": broker,
        "beat": {"live": beat_live, "lastHeartbeatSentAt": _iso(max(sent) if sent else None)},
        "queues": queues,
    }
    return JsonResponse(body, status=503 if problems else 200)


def publish_heartbeats(now=None) -> int:
    """Send the heartbeats that are due; returns how many were sent."""
    now = now or timezone.now()
    interval = timedelta(seconds=settings.HEARTBEAT_SECONDS)
    resend = timedelta(seconds=settings.HEALTH_STALE_SECONDS)
    wanted = health.required_queues()
    QueueHeartbeat.objects.exclude(queue__in=wanted).delete()
    QueueHeartbeat.objects.bulk_create([QueueHeartbeat(queue=q) for q in wanted], ignore_conflicts=True)
    busy = health.busy_queues(now)
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
