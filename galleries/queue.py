"""Queueing a Celery task by its name.

The domain (replication, deployments) queues work but never imports ``galleries.tasks``: the tasks are
the top of the domain and import it. A task is sent by name through the current Celery app, so the
router (``portal.celery.route_task``: a ``region`` keyword goes to ``region.<name>``) and, in a process
that registered the task, its own options apply exactly as ``task.apply_async`` would.
"""

from __future__ import annotations

from celery import current_app

REPLICATE_REGION = "galleries.tasks.replicate_region"
PROVISION_DEPLOYMENT = "galleries.deployments.provision_deployment"


def send(task_name: str, countdown: int | None = None, **kwargs) -> None:
    """Queue ``task_name`` with these keyword arguments (``countdown``: seconds before it may run)."""
    options = {"countdown": countdown} if countdown else {}
    current_app.signature(task_name, kwargs=kwargs).apply_async(**options)
