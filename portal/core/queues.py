"""Queue names (work for a region goes to ``region.<name>``, a worker's pings to ``worker.<name>``)
and what waits on them, as the broker counts it."""

from __future__ import annotations

from celery import current_app


def region_queue(region_name: str) -> str:
    return f"region.{region_name}"


def worker_queue(worker_name: str) -> str:
    """A worker's own queue (``up`` gives each worker one), where the supervisor's pings go."""
    return f"worker.{worker_name}"


def waiting(queues: list[str], timeout: float = 2.0) -> dict[str, int]:
    """Messages waiting on each queue, as the broker counts them (one connection, a short timeout).
    Raises the broker's connection error when it cannot be reached."""
    counts: dict[str, int] = {}
    with current_app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        for q in queues:
            channel = conn.channel()  # a failed passive declare closes its channel (AMQP)
            try:
                counts[q] = channel.queue_declare(queue=q, passive=True).message_count
            except conn.channel_errors:
                counts[q] = 0  # the broker does not know the queue: nothing was ever left on it
            finally:
                channel.close()
    return counts
