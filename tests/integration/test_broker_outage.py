"""The broker goes away in the middle of replication (F9, N4): Redis is stopped for a few seconds —
taking the queued messages with it, as a Redis without persistence does — and started again. The
worker reconnects, the reaper (run by beat) re-queues what was lost, and replication completes."""

from __future__ import annotations

import subprocess

import pytest
from conftest import wait_for
from django.conf import settings

from galleries.models import TargetRegion
from galleries.services import TargetRegionSpec as T

pytestmark = pytest.mark.redis

REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
]


def redis_up() -> bool:
    return (
        subprocess.run(["redis-cli", "-p", "6379", "ping"], capture_output=True, text=True).stdout.strip()
        == "PONG"
    )


@pytest.fixture
def redis_broker():
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        if settings.REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but CELERY_BROKER_URL is not Redis")
        pytest.skip("needs the Redis broker: the service pass of .ci/run sets CELERY_BROKER_URL=redis://…")
    assert redis_up(), "Redis is not running"
    yield
    if not redis_up():
        subprocess.run(REDIS_START, check=True)
        wait_for(redis_up, 30, "Redis to come back")


def test_replication_completes_across_a_broker_restart(redis_broker, celery_processes, make_version, image):
    fast = {
        "REPLICATION_LEASE_SECONDS": 2,
        "REPLICATION_REAPER_INTERVAL_SECONDS": 1,
        "REPLICATION_REAPER_GRACE_SECONDS": 2,
    }
    # One solo worker with a bandwidth cap: the first region copies slowly while the others wait in Redis.
    celery_processes.worker(
        regions=["westeurope", "eastus", "northeurope"],
        env={**fast, "REPLICATION_MAX_BYTES_PER_SECOND": 1 << 20},
    )
    celery_processes.beat(env=fast)
    version = make_version("1.0.0", target_regions=[T("westeurope"), T("eastus"), T("northeurope")])
    wait_for(
        lambda: TargetRegion.objects.filter(version=version, state="Replicating").exists(), 60, "replication"
    )

    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], capture_output=True)
    wait_for(lambda: not redis_up(), 10, "Redis to stop")
    wait_for(
        lambda: TargetRegion.objects.filter(version=version, state="Completed").exists(),
        60,
        "the running copy to finish without the broker",
    )
    subprocess.run(REDIS_START, check=True)
    wait_for(redis_up, 30, "Redis to come back")

    wait_for(
        lambda: set(TargetRegion.objects.filter(version=version).values_list("state", flat=True))
        == {"Completed"},
        180,
        "every region to complete after the restart",
    )
    version.refresh_from_db()
    assert version.provisioning_state == "Succeeded"
