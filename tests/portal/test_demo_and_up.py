"""N1: the demo data loads idempotently, and `manage.py up` (the README's first command) starts the
web server, a worker and beat in one process group that Ctrl-C stops."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from django.db.models import Count

from accounts.models import ActivityLogEntry, Resource, User
from galleries.demo import DEMO_PASSWORDS, seed
from galleries.models import GalleryImage, TargetRegion

ROOT = Path(__file__).resolve().parents[2]


def _counts():
    return dict(Resource.objects.values_list("type").annotate(n=Count("id")).order_by())


def test_demo_data_has_the_seed_definitions_and_is_idempotent(region, settings, tmp_path):
    settings.REGION_STORAGE_ROOT = tmp_path
    settings.DEMO_OS_DISK_MIB = 4
    seed()
    first = _counts()
    log_entries = ActivityLogEntry.objects.count()
    seed()
    assert _counts() == first
    assert ActivityLogEntry.objects.count() == log_entries  # nothing was written the second time
    triples = set(GalleryImage.objects.values_list("name", "publisher", "offer", "sku"))
    assert {
        ("myImage1", "Contoso", "Finance", "Backend"),
        ("myImage2", "Contoso", "Finance", "Frontend"),
        ("myImage3", "Testing", "Finance", "Frontend"),
    } <= triples
    assert first["Microsoft.Compute/galleries/images/versions"] >= 3
    assert TargetRegion.objects.filter(storage_account_type="Standard_ZRS").exists()
    for username, password in DEMO_PASSWORDS.items():
        assert User.objects.get(username=username).check_password(password)


def test_up_starts_web_worker_and_beat_and_ctrl_c_stops_them(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        PORTAL_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="portal.settings.dev",
        PYTHONUNBUFFERED="1",
        DEMO_OS_DISK_MIB="4",
    )
    port = 18000 + os.getpid() % 1000
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--addr", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: [lines.append(line) for line in proc.stdout], daemon=True).start()

    def wait_for(cond, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            assert proc.poll() is None, f"up exited early:\n{''.join(lines)}"
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{''.join(lines)}")

    def login_page_answers():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(login_page_answers, 120, "the portal to answer")
        wait_for(lambda: any(" ready." in line for line in lines), 60, "the worker")
        wait_for(lambda: any("beat: Starting" in line for line in lines), 60, "beat")
        # The demo versions replicate: every target region of every version reaches Completed.
        db = tmp_path / "portal.sqlite3"

        def demo_replicated():
            with sqlite3.connect(db, timeout=30) as conn:
                states = [row[0] for row in conn.execute("SELECT state FROM galleries_targetregion")]
            return states and set(states) == {"Completed"}

        wait_for(demo_replicated, 120, "the demo versions to replicate")
        out = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in out
        assert "alice@contoso.com" in out and DEMO_PASSWORDS["alice@contoso.com"] in out
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert _processes_with_env(f"PORTAL_VAR_DIR={tmp_path}") == [], "processes left running after Ctrl-C"


def _processes_with_env(marker: str) -> list[int]:
    """Every live process started by this run (they all inherit its PORTAL_VAR_DIR)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().split(") ")[-1][:1]
        except OSError:
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found
