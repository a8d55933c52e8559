"""The Celery wiring, checked with a real worker process on whatever broker the run uses
(the filesystem broker on the embedded default, Redis in the service pass of .ci/run)."""

from __future__ import annotations

from conftest import wait_for
from django.conf import settings

from galleries import services
from galleries.models import UsageCounter
from galleries.tasks import reconcile_usage
from portal.celery import app, route_task


def test_app_accepts_json_only_and_routes_region_work_to_region_queues():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert route_task("galleries.tasks.replicate_region", (), {"region": "westeurope"}, {}) == {
        "queue": "region.westeurope"
    }
    assert route_task("galleries.tasks.reconcile_usage", (), {}, {}) is None  # default queue
    assert {"reconcile-usage", "reap-replication", "scrub-replicas", "lifecycle"} <= set(
        settings.CELERY_BEAT_SCHEDULE
    )
    assert "galleries.tasks.reconcile_usage" in app.tasks  # autodiscovered


def test_a_real_worker_runs_the_usage_reconciliation(celery_processes, caller, subscription, rg):
    worker = celery_processes.worker()
    services.create_gallery(caller, rg, "G1")
    services.create_gallery(caller, rg, "G2")
    UsageCounter.objects.filter(subscription=subscription, kind="galleries").update(count=40)

    reconcile_usage.delay()

    wait_for(
        lambda: UsageCounter.objects.get(subscription=subscription, kind="galleries").count == 2,
        60,
        "the worker to recount galleries",
    )
    wait_for(lambda: "reconcile_usage" in worker.output and "succeeded" in worker.output, 10, "the task log")


def test_the_runtime_tasks_routine_lines_are_kept_out_of_the_log_but_not_their_failures():
    import logging

    from portal.celery import QuietRuntimeTasks

    quiet = QuietRuntimeTasks()

    def record(level, message):
        return logging.LogRecord("celery.app.trace", level, __file__, 1, message, (), None)

    assert not quiet.filter(record(logging.INFO, "Task portal.tasks.ping[1f] succeeded in 0.001s: 'x'"))
    assert not quiet.filter(record(logging.INFO, "Task portal.tasks.heartbeat[2a] received"))
    assert quiet.filter(
        record(logging.ERROR, "Task portal.tasks.heartbeat[2a] raised unexpected: DatabaseError")
    )
    assert quiet.filter(record(logging.INFO, "Task galleries.tasks.replicate_region[3b] received"))
    assert not quiet.filter(
        record(logging.INFO, "Scheduler: Sending due task reap-replication (galleries.replication.reap)")
    )
    assert quiet.filter(
        record(logging.INFO, "Scheduler: Sending due task lifecycle (galleries.tasks.run_lifecycle)")
    )
