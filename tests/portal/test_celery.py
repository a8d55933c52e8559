"""The Celery wiring, checked with a real worker process on whatever broker the run uses
(the filesystem broker on the embedded default, Redis in the service pass of .ci/run)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from galleries.models import UsageCounter
from galleries.tasks import reconcile_usage
from portal.celery import app, route_task

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def wait_for(condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def worker(transactional_db):
    """A real `celery worker` process on the test database, consuming the default queue."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.test", "DATABASE_URL": _database_url()}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            "default",
            "-P",
            "solo",
            "-l",
            "INFO",
            "-n",
            f"test-{os.getpid()}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: [lines.append(line) for line in proc.stdout], daemon=True).start()
    try:
        wait_for(
            lambda: any(" ready." in line for line in lines) or proc.poll() is not None, 60, "the worker"
        )
        assert proc.poll() is None, "worker exited:\n" + "".join(lines)
        yield lines
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_app_accepts_json_only_and_routes_region_work_to_region_queues():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert route_task("galleries.tasks.replicate", (), {"region": "westeurope"}, {}) == {
        "queue": "region.westeurope"
    }
    assert route_task("galleries.tasks.reconcile_usage", (), {}, {}) is None  # default queue
    assert "reconcile-usage" in settings.CELERY_BEAT_SCHEDULE
    assert "galleries.tasks.reconcile_usage" in app.tasks  # autodiscovered


def test_a_real_worker_runs_the_usage_reconciliation(worker, caller, subscription, rg):
    from galleries import services

    services.create_gallery(caller, rg, "G1")
    services.create_gallery(caller, rg, "G2")
    UsageCounter.objects.filter(subscription=subscription, kind="galleries").update(count=40)

    reconcile_usage.delay()

    wait_for(
        lambda: UsageCounter.objects.get(subscription=subscription, kind="galleries").count == 2,
        60,
        "the worker to recount galleries",
    )
    assert any("reconcile_usage" in line and "succeeded" in line for line in worker) or wait_for(
        lambda: any("reconcile_usage" in line and "succeeded" in line for line in worker),
        10,
        "the task log line",
    )
