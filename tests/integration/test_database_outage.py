"""The database becomes unavailable to the worker in the middle of replication (F9, N4): another
process holds SQLite's write lock longer than the worker's busy timeout, so every write the worker
tries fails with "database is locked". The task retries with backoff under the same lease, and once
the lock is released replication completes."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import wait_for
from django.db import connection

from galleries.models import TargetRegion
from galleries.services import TargetRegionSpec as T


def test_replication_survives_the_database_being_unavailable(celery_processes, make_version, image):
    if connection.vendor != "sqlite":
        pytest.skip("holds SQLite's write lock; the PostgreSQL pass covers broker outages instead")
    version = make_version("1.0.0", target_regions=[T("westeurope"), T("eastus")])  # queued on commit
    blocker = sqlite3.connect(connection.settings_dict["NAME"], timeout=30, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # the outage starts before any worker runs
        worker = celery_processes.worker(
            regions=["westeurope", "eastus"],
            env={
                "SQLITE_BUSY_TIMEOUT": 0.5,
                "REPLICATION_RETRY_BASE_SECONDS": 1,
                "REPLICATION_RETRY_MAX_SECONDS": 2,
            },
        )
        wait_for(lambda: "database unavailable" in worker.output, 60, "the worker to hit the outage")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    wait_for(
        lambda: set(TargetRegion.objects.filter(version=version).values_list("state", flat=True))
        == {"Completed"},
        120,
        "replication to complete after the outage",
    )
    version.refresh_from_db()
    assert version.provisioning_state == "Succeeded"
