"""Shared fixtures: a tenant with a publisher, a subscription and resource group in West Europe,
uploaded VHD blobs, and factories for images, galleries, definitions and versions — all built
through the service layer, never by writing rows behind its back."""

from __future__ import annotations

import importlib
import io
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from accounts.activity import Caller
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from galleries import services, vhd
from galleries.models import Region
from portal.core import tls
from portal.core.errors import ServiceError
from portal.management.commands.up import can_bind, web_command

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_region_store(settings, tmp_path):
    """Each test gets its own region stores: the database rolls back between tests, files do not."""
    settings.REGION_STORAGE_ROOT = tmp_path / "regions"
    settings.REGION_STORAGE_ROOTS = {}
    yield
    from galleries import services

    services._hashers.clear()


@pytest.fixture(autouse=True)
def _services_required(request):
    """Tests marked ``postgres`` are concurrency tests whose point is PostgreSQL's behaviour. They
    run on any database (SQLite too, on the embedded default); with REQUIRE_SERVICES=1 (the service
    pass of .ci/run) they fail unless the database really is PostgreSQL."""
    if request.node.get_closest_marker("postgres") and getattr(settings, "REQUIRE_SERVICES", False):
        if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
            pytest.fail("REQUIRE_SERVICES=1 but DATABASE_URL does not point at PostgreSQL")


def ensure_region_catalogue():
    """The catalogue comes from a data migration; transactional tests flush it, so put it back."""
    if not Region.objects.exists():
        from django.apps import apps as global_apps

        seed_regions = importlib.import_module("galleries.migrations.0002_seed_regions").seed
        seed_regions(global_apps, None)


@pytest.fixture
def region(db):
    ensure_region_catalogue()
    return lambda name: Region.objects.select_related("cloud").get(name=name)


@pytest.fixture
def tenant(db):
    ensure_region_catalogue()
    return create_tenant("Contoso", "contoso.test")


@pytest.fixture
def user(tenant):
    return create_user(tenant, "alice@contoso.test", "Alice-Test-Pass-1", "Alice")


@pytest.fixture
def caller(user):
    return Caller(principal=user, source="portal", client_ip="127.0.0.1")


@pytest.fixture
def subscription(user, tenant):
    """Created by the system (set-up), with the test's user as its Owner."""
    return create_subscription(Caller.system(), tenant, "Contoso Test", owner=user)


@pytest.fixture
def rg(caller, subscription):
    return create_resource_group(caller, subscription, "images", "westeurope")


@pytest.fixture
def make_blob(caller, rg):
    """Upload a generated fixed VHD in 1 MiB chunks; returns the available blob."""
    counter = {"n": 0}

    def make(name: str | None = None, virtual_mib: int = 2, seed: int = 0, resource_group=None):
        counter["n"] += 1
        target_rg = resource_group or rg
        buf = io.BytesIO()
        vhd.write_fixed_vhd(buf, virtual_mib * vhd.MIB, seed=seed + counter["n"])
        data = buf.getvalue()
        blob = services.start_upload(caller, target_rg, name or f"disk{counter['n']}.vhd", len(data))
        step = vhd.MIB
        while blob.bytes_received < len(data):
            o = blob.bytes_received
            blob = services.upload_chunk(caller, blob, o, data[o : o + step])
        return blob

    return make


@pytest.fixture
def make_image(caller, rg, make_blob):
    def make(name="base", os_type="Linux", data_luns=(), hyper_v_generation="V1", resource_group=None):
        target_rg = resource_group or rg
        return services.create_managed_image(
            caller,
            target_rg,
            name,
            os_blob=make_blob(resource_group=target_rg),
            os_type=os_type,
            hyper_v_generation=hyper_v_generation,
            data_blobs=[(lun, make_blob(resource_group=target_rg, virtual_mib=1)) for lun in data_luns],
        )

    return make


@pytest.fixture
def image(make_image):
    return make_image()


@pytest.fixture
def gallery(caller, rg):
    return services.create_gallery(caller, rg, "Gallery1", description="test gallery")


@pytest.fixture
def make_definition(caller, gallery):
    counter = {"n": 0}

    def make(name=None, os_type="Linux", os_state="Generalized", **props):
        counter["n"] += 1
        n = counter["n"]
        props.setdefault("publisher", "Contoso")
        props.setdefault("offer", "Finance")
        props.setdefault("sku", f"Sku{n}")
        return services.create_definition(
            caller, gallery, name or f"def{n}", os_type=os_type, os_state=os_state, **props
        )

    return make


@pytest.fixture
def definition(make_definition):
    return make_definition("myImage1", sku="Backend")


@pytest.fixture
def make_version(caller, definition, image):
    def make(name="1.0.0", target_regions=None, definition_=None, source=None, **kw):
        kw.setdefault("location", "westeurope")
        return services.create_version(
            caller,
            definition_ or definition,
            name,
            source=source or image,
            target_regions=target_regions,
            **kw,
        )

    return make


def refused(fn, code, target, *words):
    """Call ``fn``; it must raise a ServiceError with this code and target whose message contains
    every one of ``words`` (case-insensitive)."""
    with pytest.raises(ServiceError) as info:
        fn()
    err = info.value
    assert err.code == code, repr(err)
    assert err.target == target, repr(err)
    for word in words:
        assert str(word).lower() in err.message.lower(), (word, err.message)
    return err


def assert_error(exc_info, code: str, target: str | None, *words: str) -> ServiceError:
    """The ServiceError caught by ``pytest.raises``: this code and target, a message with these words."""
    err = exc_info.value
    assert err.code == code, err
    assert err.target == target, err
    for w in words:
        assert w in err.message, f"{w!r} not in {err.message!r}"
    return err


# --- Real Celery workers -------------------------------------------------------------------------------


def wait_for(condition, timeout: float = 30.0, what: str = "condition", interval: float = 0.05):
    """Poll ``condition`` until it is truthy (never a blind sleep); fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def test_database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


class CeleryProcess:
    """A real ``celery worker`` or ``celery beat`` process on the test database and region stores."""

    def __init__(self, args: list[str], env: dict):
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, marker: str, timeout: float = 60):
        wait_for(lambda: marker in self.output or self.proc.poll() is not None, timeout, f"'{marker}'")
        assert self.proc.poll() is None, f"celery exited:\n{self.output}"

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def celery_processes(transactional_db, settings):
    """Start real workers (and beat) against this test's database and region stores:
    ``worker = celery_processes.worker(regions=["westeurope"], env={...})``. All are stopped after."""
    started: list[CeleryProcess] = []

    class Factory:
        def env(self, extra: dict | None = None) -> dict:
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "portal.settings.test",
                "DATABASE_URL": test_database_url(),
                "REGION_STORAGE_ROOT": str(settings.REGION_STORAGE_ROOT),
                "REPLICATION_PROGRESS_SECONDS": "0.2",
            }
            env.update({k: str(v) for k, v in (extra or {}).items()})
            return env

        def worker(self, regions=(), env=None, name=None) -> CeleryProcess:
            from portal.core.queues import region_queue

            queues = ",".join(["default", *[region_queue(r) for r in regions]])
            w = CeleryProcess(
                [
                    "worker",
                    "-Q",
                    queues,
                    "-P",
                    "solo",
                    "-l",
                    "INFO",
                    "--without-mingle",
                    "--without-gossip",
                    "--without-heartbeat",
                    "-n",
                    f"{name or 'w'}{len(started)}-{os.getpid()}@%h",
                ],
                self.env(env),
            )
            started.append(w)
            w.wait_ready(" ready.")
            return w

        def beat(self, env=None, tmp=None) -> CeleryProcess:
            schedule = Path(settings.REGION_STORAGE_ROOT).parent / f"beat-{len(started)}"
            b = CeleryProcess(["beat", "-l", "INFO", "-s", str(schedule)], self.env(env))
            started.append(b)
            b.wait_ready("beat: Starting")
            return b

    yield Factory()
    for p in started:
        p.stop()


# --- The portal over HTTPS, for real clients (the az CLI, azure-identity, msal) ---------------------------


class HttpsPortal(tuple):
    """``(url, ca_bundle)``: the portal's base URL (``https://localhost:<port>``, no trailing slash) and the
    local CA's PEM that clients must trust. ``.userrealm_443``: whether it also answers on port 443 of
    127.0.0.1, where MSAL's user-realm discovery (``az login -u``) goes whatever port the authority has."""

    def __new__(cls, url: str, ca_bundle: str, userrealm_443: bool):
        portal = super().__new__(cls, (url, ca_bundle))
        portal.userrealm_443 = userrealm_443
        return portal

    @property
    def url(self) -> str:
        return self[0]

    @property
    def ca_bundle(self) -> str:
        return self[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_web(binds: list[str], certificate, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        web_command(binds, certificate),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.fixture
def https_portal(transactional_db, settings):
    """The portal served over HTTPS on loopback by the web server ``manage.py up`` starts (gunicorn with the
    certificate of ``portal.core.tls``, same command), on a free port, against this test's database and
    region stores (as ``celery_processes``). Also on 127.0.0.1:443 when this process may bind it (root in
    CI) and ``PORTAL_ALSO_443`` is not 0. Yields ``HttpsPortal(url, ca_bundle)``; stopped after the test."""
    certificate = tls.ensure()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": test_database_url(),
        "REGION_STORAGE_ROOT": str(settings.REGION_STORAGE_ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    port = _free_port()
    url = f"https://localhost:{port}"
    context = ssl.create_default_context(cafile=str(certificate.ca))
    want_443 = os.environ.get("PORTAL_ALSO_443", "1") != "0" and can_bind("127.0.0.1", 443)
    binds = [f"127.0.0.1:{port}"] + (["127.0.0.1:443"] if want_443 else [])
    proc = _start_web(binds, certificate, env)
    lines: list[str] = []

    def read(p):
        for line in p.stdout:
            lines.append(line)

    threading.Thread(target=read, args=(proc,), daemon=True).start()

    def answers():
        if proc.poll() is not None:
            return True
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2, context=context):
                return True
        except urllib.error.HTTPError:
            return True  # it answered (healthz may be 503 without workers)
        except OSError:
            return False

    try:
        wait_for(answers, 60, "the HTTPS portal to answer")
        if proc.poll() is not None and want_443:  # another process took 443 meanwhile: serve without it
            want_443, proc = False, _start_web(binds[:1], certificate, env)
            threading.Thread(target=read, args=(proc,), daemon=True).start()
            wait_for(answers, 60, "the HTTPS portal to answer")
        assert proc.poll() is None, "the HTTPS portal exited:\n" + "".join(lines)
        yield HttpsPortal(url, str(certificate.ca), want_443)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def tls_live_server(transactional_db, monkeypatch):
    """pytest-django's live server (in this process: the test's settings apply) speaking HTTPS with the
    certificate of ``portal.core.tls``: what azure-identity and the SDKs' bearer policy require (they refuse
    tokens over plain http). Clients in this process trust the local CA through ``REQUESTS_CA_BUNDLE``, as
    ``make run`` tells users to. Yields ``HttpsPortal(url, ca_bundle, False)`` (nothing on port 443)."""
    from django.core.servers.basehttp import ThreadedWSGIServer
    from pytest_django.live_server_helper import LiveServer

    certificate = tls.ensure()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificate.cert), str(certificate.key))

    class TlsServer(ThreadedWSGIServer):
        def server_bind(self):
            super().server_bind()
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

        def setup_environ(self):  # the scheme Django sees: https (wsgiref's guess_scheme reads HTTPS)
            super().setup_environ()
            self.base_environ["HTTPS"] = "on"

        def finish_request(self, request, client_address):  # the handshake in the request's own thread
            request.do_handshake()
            super().finish_request(request, client_address)

        def handle_error(self, request, client_address):
            if not isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError):
                super().handle_error(request, client_address)

    server = LiveServer("127.0.0.1:0", start=False)
    server.thread.server_class = TlsServer
    server.start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.ca))
    try:
        yield HttpsPortal(f"https://localhost:{server.thread.port}", str(certificate.ca), False)
    finally:
        server.stop()
