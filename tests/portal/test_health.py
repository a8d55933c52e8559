"""Liveness: beat sends a heartbeat to every queue that needs a consumer (at most one waiting per
queue), a real worker runs it, and /healthz says which queues have a live consumer; the reaper runs
inside beat, so expired work is queued again even when no worker is running at all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import wait_for
from django.utils import timezone

from galleries import health, replication
from galleries.models import TargetRegion
from galleries.services import TargetRegionSpec as T
from portal import health as portal_health
from portal.celery import app
from portal.models import QueueHeartbeat


@pytest.fixture
def queue_size():
    used = set()

    def size(queue: str) -> int:
        used.add(queue)
        with app.connection_for_read() as conn:
            return conn.default_channel.queue_declare(queue=queue, passive=False).message_count

    yield size
    with app.connection_for_write() as conn:
        for queue in used:
            conn.default_channel.queue_purge(queue)


def test_healthz_is_degraded_until_beat_has_sent_heartbeats(client, db):
    r = client.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "degraded"
    assert body["database"] == "ok" and body["broker"] == "ok"
    assert "beat has not sent heartbeats yet" in body["problems"]
    assert r["Content-Type"] == "application/json"


def test_the_queues_that_need_a_consumer_are_default_and_the_regions_with_work(make_version):
    assert health.required_queues() == ["default"]
    make_version(target_regions=[T("westeurope"), T("eastus")])
    assert health.required_queues() == ["default", "region.eastus", "region.westeurope"]


def test_a_queue_gets_at_most_one_waiting_heartbeat(make_version, settings, queue_size):
    settings.HEARTBEAT_SECONDS = 30
    settings.HEALTH_STALE_SECONDS = 100
    make_version(target_regions=[T("westeurope")])
    before = queue_size("region.westeurope")
    now = timezone.now()
    assert portal_health.publish_heartbeats(now) == 2  # default and region.westeurope
    assert portal_health.publish_heartbeats(now + timedelta(seconds=40)) == 0  # nobody ran the first: wait
    assert queue_size("region.westeurope") - before == 1
    # A heartbeat lost with a broker is sent again once it is older than the stale window.
    assert portal_health.publish_heartbeats(now + timedelta(seconds=101)) == 2
    assert queue_size("region.westeurope") - before == 2


def test_a_real_worker_runs_the_heartbeats_and_healthz_is_ok(celery_processes, make_version, client):
    make_version(target_regions=[T("westeurope")])
    celery_processes.worker(regions=["westeurope"], name="hb")
    portal_health.publish_heartbeats()
    wait_for(
        lambda: all(r.ran_at for r in QueueHeartbeat.objects.all()), 60, "the worker to run every heartbeat"
    )
    r = client.get("/healthz")
    body = r.json()
    assert r.status_code == 200, body
    assert body["status"] == "ok" and body["beat"]["live"]
    assert {q["name"]: q["live"] for q in body["queues"]} == {"default": True, "region.westeurope": True}
    assert all(q["lastHeartbeatWorker"].startswith("hb") for q in body["queues"])


def test_healthz_names_a_queue_whose_heartbeat_nobody_ran(make_version, client, settings):
    settings.HEALTH_STALE_SECONDS = 60
    make_version(target_regions=[T("westeurope"), T("eastus")])
    long_ago = timezone.now() - timedelta(minutes=5)
    portal_health.publish_heartbeats()
    QueueHeartbeat.objects.exclude(queue="region.eastus").update(ran_at=timezone.now())
    QueueHeartbeat.objects.filter(queue="region.eastus").update(ran_at=long_ago)
    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["problems"] == ["no live consumer on region.eastus"]
    live = {q["name"]: q["live"] for q in body["queues"]}
    assert live == {"default": True, "region.eastus": False, "region.westeurope": True}


def test_a_consumer_busy_renewing_a_replication_lease_counts_as_live(make_version, client, settings):
    settings.HEALTH_STALE_SECONDS = 60
    v = make_version(target_regions=[T("westeurope")])
    long_ago = timezone.now() - timedelta(minutes=5)
    portal_health.publish_heartbeats(long_ago)
    QueueHeartbeat.objects.update(ran_at=long_ago)
    QueueHeartbeat.objects.filter(queue="default").update(ran_at=timezone.now())
    TargetRegion.objects.filter(version=v).update(
        lease_owner="busy-task", lease_expires_at=timezone.now() + timedelta(seconds=30)
    )
    portal_health.publish_heartbeats()  # sees the live lease
    body = client.get("/healthz").json()
    assert body["status"] == "ok", body
    row = next(q for q in body["queues"] if q["name"] == "region.westeurope")
    assert row["live"] and row["lastActiveAt"]


def test_beat_reaps_expired_work_with_no_worker_running(celery_processes, make_version, settings, queue_size):
    """The reaper runs inside beat: a worker that stalled (here: no worker at all) cannot keep the
    reaper from queueing its work again."""
    v = make_version(target_regions=[T("westeurope")])
    row = TargetRegion.objects.get(version=v)
    before = queue_size("region.westeurope")
    TargetRegion.objects.filter(pk=row.pk).update(
        state="Replicating",
        lease_owner="a-killed-worker",
        lease_expires_at=timezone.now() - timedelta(seconds=5),
    )
    beat = celery_processes.beat(env={"REPLICATION_REAPER_INTERVAL_SECONDS": 1})
    wait_for(
        lambda: TargetRegion.objects.filter(pk=row.pk, lease_owner="").exists(),
        60,
        "beat's reaper to take the row",
    )
    wait_for(lambda: queue_size("region.westeurope") > before, 30, "the row's work queued again")
    # the line is written after the publish and reaches us through a pipe: wait for it, do not race it
    wait_for(lambda: "reaper: queued again 1 replication row(s)" in beat.output, 30, "the reaper's log line")
    assert replication.reap() == 0  # reserved for the grace period
