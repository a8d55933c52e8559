"""The Celery app: JSON only, autodiscovered tasks, work for a region routed to ``region.<name>``.

A task that acts on one region's storage takes a ``region`` keyword argument; the router sends it to
that region's queue so workers can run next to the region's disk (``celery worker -Q region.westeurope``).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.dev")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def region_queue(region_name: str) -> str:
    return f"region.{region_name}"


def route_task(name, args, kwargs, options, task=None, **kw):
    region = (kwargs or {}).get("region")
    if region:
        return {"queue": region_queue(region)}
    return None
