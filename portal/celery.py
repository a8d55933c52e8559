"""The Celery app: JSON only, autodiscovered tasks, work for a region routed to ``region.<name>``.

A task that acts on one region's storage takes a ``region`` keyword argument; the router sends it to
that region's queue so workers can run next to the region's disk (``celery worker -Q region.westeurope``).

The embedded default's broker is ``portal.broker`` (``sqlite://``), registered here before any
connection is made. Every task start and end touches the process's liveness file
(``portal.core.liveness``), which is how the supervisor of ``manage.py up`` tells a working worker from a
stalled one.
"""

import ctypes
import logging
import os
import signal
import sys

from celery import Celery
from celery.signals import (
    after_setup_logger,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_ready,
)

from . import broker
from .core import liveness
from .core.queues import region_queue, waiting, worker_queue  # noqa: F401  (the names the runtime uses)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.dev")
broker.register()

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def route_task(name, args, kwargs, options, task=None, **kw):
    region = (kwargs or {}).get("region")
    if region:
        return {"queue": region_queue(region)}
    return None


#: Routine work that runs every few seconds for ever — the supervisor's pings, the queue heartbeats, the
#: deployment admission — and beat's lines about sending it: they would bury everything else in a log
#: that runs for days. Their failures and warnings are still logged, and so is anything they change.
QUIET_TASKS = (
    "portal.tasks.ping[",
    "portal.tasks.heartbeat[",
    "galleries.deployments.admit_waiting_deployments[",
)
QUIET_BEAT_ENTRIES = ("reap-replication", "queue-heartbeats", "admit-waiting-deployments")


class QuietRuntimeTasks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        message = record.getMessage()
        if message.startswith("Scheduler: Sending due task "):
            return not any(f" {entry} (" in message for entry in QUIET_BEAT_ENTRIES)
        return not any(name in message for name in QUIET_TASKS)


@after_setup_logger.connect
def _quiet_runtime_tasks(logger=None, **kwargs):
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(QuietRuntimeTasks())


@worker_ready.connect
@task_prerun.connect
@task_postrun.connect
def _task_activity(**kwargs):
    liveness.touch(force=True)


@worker_process_init.connect
def _die_with_parent(**kwargs):
    """A prefork pool child dies with its worker (Linux): a SIGKILLed worker leaves no orphan copying on."""
    die_with_parent()


def die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
