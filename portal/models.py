"""The runtime's own state (not a resource): when each queue's heartbeat was sent and last ran."""

from django.db import models


class QueueHeartbeat(models.Model):
    """One row per queue that needs a consumer (``galleries.health.required_queues``). Beat sends a
    heartbeat task to the queue (``sent_at``); whichever worker runs it stamps ``ran_at``. Work seen
    progressing on the queue (a live replication lease in its region) stamps ``active_at``, so a
    consumer busy with a long copy still counts as live."""

    queue = models.CharField(max_length=200, unique=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    ran_at = models.DateTimeField(null=True, blank=True)
    active_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="The worker that ran the last heartbeat.")

    class Meta:
        ordering = ["queue"]

    def __str__(self) -> str:
        return self.queue

    def last_seen(self):
        seen = [t for t in (self.ran_at, self.active_at) if t is not None]
        return max(seen) if seen else None
