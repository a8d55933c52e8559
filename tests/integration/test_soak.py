"""A short soak (issue 11): `bench/soak.py` runs the `manage.py up` process tree for three minutes
with a new version every 10 s and a SIGKILL of a random worker process every 10 s (about eighteen):
every version completes with no manual step, every replica verifies, the versions deleted on the
way are gone, the portal answers throughout,
every killed worker is replaced, and nothing is left running after the stop. On the service pass of
.ci/run it runs on PostgreSQL and Redis (a database of its own), otherwise on the embedded default."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.timeout(1200)
def test_three_minutes_of_kills_lose_nothing_and_leave_nothing(tmp_path):
    services = os.environ.get("DATABASE_URL", "").startswith("postgres")
    out = tmp_path / "soak.json"
    options = "--minutes 3 --kill-every 10 --version-every 10 --disk-mib 16 --keep 5".split()
    stack = ["--stack", "services" if services else "embedded", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, "bench/soak.py", *options, *stack],
        cwd=ROOT,
        env={**os.environ, "BENCH_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.returncode == 0, report
    s = json.loads(out.read_text())
    assert s["versions_created"] >= 15, report
    assert s["versions_completed"] == s["versions_created"], report
    assert s["kills"] >= 15 and s["restarts"] >= s["kills_of_main"], report
    assert s["replicas_verified"] > 0 and s["replicas_bad"] == 0, report
    assert s["versions_deleted"] >= 10 and s["deletions_unfinished"] == 0, report
    assert s["portal_probes_failed"] == 0 and s["portal_probes_ok"] > 150, report
    assert s["supervisor_exited_early"] is None and s["stop_returncode"] == 0, report
    assert s["processes_left"] == [], report
