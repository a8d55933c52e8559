"""N1: the demo data loads idempotently, and `manage.py up` (the README's first command) starts the
web server (HTTPS with the installation's own CA), a worker and beat in one process group that Ctrl-C stops."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import sqlite3
import ssl
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
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
    # As from a fresh clone: no SECRET_KEY, no DEBUG (the default is off), the embedded default.
    unset = ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG")
    env = {k: v for k, v in os.environ.items() if k not in unset and not k.startswith("SECURE_")}
    env.update(
        PORTAL_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="portal.settings.dev",
        PYTHONUNBUFFERED="1",
        DEMO_OS_DISK_MIB="4",
        PORTAL_ALSO_443="0",  # port 443 is the machine's, not this test's
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

    base = f"https://localhost:{port}"
    trust = {}

    def login_page_answers():
        ca = tmp_path / "tls" / "ca.pem"
        if not ca.exists():
            return False
        trust.setdefault("context", ssl.create_default_context(cafile=str(ca)))
        try:
            with urllib.request.urlopen(f"{base}/login/", timeout=2, context=trust["context"]) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(login_page_answers, 120, "the portal to answer over HTTPS")
        _a_person_signs_in_and_browses(base, tmp_path, trust["context"])
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
        assert f"https://localhost:{port}/" in out
        assert f"export REQUESTS_CA_BUNDLE={tmp_path.resolve() / 'tls' / 'ca.pem'}" in out
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


def _a_person_signs_in_and_browses(base: str, var_dir: Path, context: ssl.SSLContext):
    """With DEBUG off over HTTPS, as `make run` serves: the key of this installation and its TLS keys were
    made (0600), a demo user signs in with the form (secure CSRF and session cookies), the hashed static files
    are served, a missing page is the portal's 404 page, and the API takes a bearer token from the token
    endpoint."""
    for private in (
        var_dir / "secret_key",
        var_dir / "tls" / "ca-key.pem",
        var_dir / "tls" / "server-key.pem",
    ):
        assert private.exists() and stat.S_IMODE(private.stat().st_mode) == 0o600, private
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), urllib.request.HTTPSHandler(context=context)
    )
    with opener.open(f"{base}/login/", timeout=10) as r:
        login = r.read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": csrf,
            "username": "alice@contoso.com",
            "password": DEMO_PASSWORDS["alice@contoso.com"],
        }
    ).encode()
    with opener.open(
        urllib.request.Request(f"{base}/login/", data=form, headers={"Referer": f"{base}/login/"})
    ) as r:
        home = r.read().decode()
        assert r.status == 200 and r.url == f"{base}/", r.url
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert "Strict-Transport-Security" not in r.headers  # not for a local CA's localhost
    assert all(c.secure for c in jar if c.name in ("sessionid", "csrftoken")), list(jar)
    assert "All resources" in home and "ContosoGallery" in home
    css = re.search(r'href="(/static/portal/portal\.[0-9a-f]{12}\.css)"', home)
    assert css, "the stylesheet is not the collected, hashed file"
    with opener.open(base + css.group(1), timeout=10) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/css")
    with pytest.raises(urllib.error.HTTPError) as missing:
        opener.open(f"{base}/no-such-page/", timeout=10)
    page = missing.value.read().decode()
    assert missing.value.code == 404 and "There is nothing here" in page
    assert "Using the URLconf" not in page and "DEBUG = True" not in page  # not Django's technical page
    grant = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": "alice@contoso.com",
            "password": DEMO_PASSWORDS["alice@contoso.com"],
        }
    ).encode()
    with urllib.request.urlopen(f"{base}/oauth2/token", data=grant, timeout=10, context=context) as r:
        token = json.loads(r.read())["access_token"]
    api = urllib.request.Request(
        f"{base}/subscriptions?api-version=2022-12-01", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(api, timeout=10, context=context) as r:
        assert r.status == 200 and json.loads(r.read())["value"]
