"""Celery beat's scheduler for the portal: the persistent scheduler, plus two things.

- Entries whose options say ``"in_beat": True`` name a function (``"task": "module.function"``)
  that runs inside beat itself instead of a task sent to a worker: the replication reaper and the queue-heartbeat publisher watch the workers, so they must
  not wait in the queue of a worker that may be the one that stalled.
- Every tick touches the liveness file (``portal.core.liveness``), so a supervisor can tell a beat that
  ticks from one that hangs. Beat ticks at least every ``CELERY_BEAT_MAX_LOOP_INTERVAL`` seconds.
"""

from __future__ import annotations

import logging

from celery.beat import PersistentScheduler
from kombu.utils.imports import symbol_by_name

from .core import liveness

log = logging.getLogger(__name__)


class Scheduler(PersistentScheduler):
    def tick(self, *args, **kwargs):
        liveness.touch(force=True)
        return super().tick(*args, **kwargs)

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        if not entry.options.get("in_beat"):
            return super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        entry = self.reserve(entry) if advance else entry
        try:
            result = symbol_by_name(entry.task)(*entry.args, **entry.kwargs)  # here, not through a queue
        except Exception:  # noqa: BLE001 - one failed run must not stop beat; the next run tries again
            log.exception("beat: %s (run in beat) failed", entry.name)
            return None
        # What they did is logged by them when they did something (the reaper names what it queued).
        log.debug("beat: ran %s in beat: %s", entry.name, result)
        return None
