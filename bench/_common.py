"""What the benches share: the set-up of a bench's own database, data built through the services, and
(for bench/pages.py and bench/api.py) the test-client timing, gunicorn and the load generator.

Import it after putting the project's root first on ``sys.path`` (a bench runs as ``python bench/x.py``,
and its gunicorn workers import it as ``bench.x``)."""

from __future__ import annotations

import atexit
import http.client
import importlib.util
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scratch(prefix: str) -> Path:
    """A temporary folder, removed when this process exits (gunicorn workers inherit it, never own it)."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, True)
    return Path(folder)


def setup_django(name: str, smoke: bool) -> None:
    """Django for the bench ``name`` on a database of its own: ``DATABASE_URL`` when set, else the embedded
    ``var/bench/<name>.sqlite3`` — or, with ``smoke``, a throw-away one, so the full size's file is left as
    it is. The state folder is a temporary one unless ``PORTAL_VAR_DIR`` says otherwise (the gunicorn
    workers inherit the parent's); the settings are the tests' (DEBUG off, no SSL redirect)."""
    if not os.environ.get("PORTAL_VAR_DIR"):
        os.environ["PORTAL_VAR_DIR"] = str(scratch(f"sig-bench-{name}-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")
    # The product's default on PostgreSQL (the tests' settings turn the listener off; see portal/core/notices.py).
    os.environ.setdefault("STAMP_NOTICES", "1")
    if not os.environ.get("DATABASE_URL"):
        if smoke:
            os.environ["DATABASE_URL"] = (
                f"sqlite:///{scratch(f'sig-bench-{name}-smoke-') / f'{name}.sqlite3'}"
            )
        else:
            (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
            os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench' / f'{name}.sqlite3'}"
    import django

    django.setup()


def load_access_bench():
    """bench/access.py as a module (its database preparation, large tenant, reference and EXPLAIN)."""
    spec = importlib.util.spec_from_file_location("bench_access", ROOT / "bench" / "access.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- Data built through the services ---------------------------------------------------------------------


def build_versions(domain: str, label: str, seed: int, n_regions: int, names: list[str]):
    """A tenant ``domain`` with its Owner (``owner@domain``), a subscription, a resource group "images",
    a 1 MiB VHD uploaded in chunks, a managed image, a gallery, a definition and its versions ``names``
    to ``n_regions`` regions (West Europe first, mixed replica counts and storage types) — all through
    the services. Returns (caller, versions, target-region specs). Used by bench/pages.py and
    bench/api.py."""
    import io

    from accounts.activity import Caller
    from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
    from galleries import services, vhd
    from galleries.models import Region
    from galleries.services import TargetRegionSpec

    tenant = create_tenant(label, domain)
    owner = create_user(tenant, f"owner@{domain}", None, "Publisher")
    caller = Caller(principal=owner, source="portal", client_ip="127.0.0.1")
    sub = create_subscription(Caller.system(), tenant, label, owner=owner)
    rg = create_resource_group(caller, sub, "images", "westeurope")
    buf = io.BytesIO()
    vhd.write_fixed_vhd(buf, vhd.MIB, seed=seed)
    data = buf.getvalue()
    blob = services.start_upload(caller, rg, "base.vhd", len(data))
    while blob.bytes_received < len(data):
        o = blob.bytes_received
        blob = services.upload_chunk(caller, blob, o, data[o : o + 256 * 1024])
    image = services.create_managed_image(caller, rg, "base", os_blob=blob, os_type="Linux")
    gallery = services.create_gallery(caller, rg, "BenchGallery")
    definition = services.create_definition(
        caller,
        gallery,
        "ubuntu",
        publisher="Bench",
        offer="Ubuntu",
        sku="22_04",
        os_type="Linux",
        os_state="Generalized",
    )
    others = list(
        Region.objects.filter(cloud__name="public", restricted=False)
        .exclude(name="westeurope")
        .order_by("name")[: n_regions - 1]
    )
    specs = [TargetRegionSpec("westeurope", 2, "Standard_ZRS")]
    for i, r in enumerate(others):
        stype = "Standard_ZRS" if r.has_zones and i % 3 == 0 else ("Premium_LRS" if i % 5 == 0 else None)
        specs.append(TargetRegionSpec(r.name, 1 + i % 3, stype))
    versions = [
        services.create_version(
            caller, definition, name, location="westeurope", source=image, target_regions=specs
        )
        for name in names
    ]
    return caller, versions, specs


def reused_version(domain: str, name: str, tag: str):
    """With ``--reuse``: (owner, version ``name``) of the tenant ``domain`` built by an earlier run, or None."""
    from accounts.models import Tenant, User
    from galleries.models import GalleryImageVersion

    tenant = Tenant.objects.filter(primary_domain=domain).first()
    if tenant is None:
        return None
    owner = User.objects.get(username=f"owner@{domain}")
    version = GalleryImageVersion.objects.get(tenant=tenant, name=name)
    print(f"[{tag}] reusing the version {version.arm_id}", flush=True)
    return owner, version


def write_worker_states(version, state_of, done_of, others=()):
    """Give the target regions of ``version`` (in the order of their names; the ``i``-th is ``t``) what the
    replication worker writes (galleries/replication.py: _complete, progress, _failed): ``state_of(i)`` is
    "Completed", "Replicating" (``done_of(i, t)`` bytes copied, under a worker's lease), "Failed" (after
    the last attempt), "Retrying" (waiting for the next attempt) or "Queued" (nothing written). Then the
    provisioning state of ``others`` and ``version`` is settled by the worker's own ``_mark_version``.
    Returns (the version as it is then, its regions' states counted: "6 Completed, 1 Failed, ...")."""
    from django.db import transaction
    from django.utils import timezone

    from galleries import replication
    from galleries.models import GalleryImageVersion, TargetRegion

    now = timezone.now()
    with transaction.atomic():
        rows = list(TargetRegion.objects.filter(version=version).order_by("region__name"))
        for i, t in enumerate(rows):
            state = state_of(i)
            if state == "Completed":
                fields = dict(state="Completed", bytes_done=t.bytes_total, done_revision=t.revision)
            elif state == "Replicating":
                fields = dict(
                    state="Replicating",
                    bytes_done=done_of(i, t),
                    lease_owner=f"celery@bench:{1000 + i}",
                    lease_expires_at=now + timezone.timedelta(seconds=60),
                )
            elif state == "Failed":
                fields = dict(
                    state="Failed",
                    attempts=5,
                    last_error="CopyFailed: the region store is full (No space left on device)",
                )
            elif state == "Retrying":
                fields = dict(
                    attempts=2,
                    last_error="CopyFailed: connection reset (attempt 2; retrying in 40 s)",
                    lease_expires_at=now + timezone.timedelta(seconds=40),
                )
            else:
                fields = {}
            TargetRegion.objects.filter(pk=t.pk).update(updated_at=now, **fields)
        for v in [*others, version]:
            replication._mark_version(v.pk)
    states = sorted(TargetRegion.objects.filter(version=version).values_list("state", flat=True))
    counted = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
    return GalleryImageVersion.objects.get(pk=version.pk), counted


def build_source(
    label: str,
    domain: str,
    os_mib: int,
    data_mib: int,
    *,
    names: tuple[str, str],
    source: str,
    client_ip: str | None = None,
):
    """What a replication run starts from, built through the services: a tenant ``label`` (``domain``),
    its user ``<label lower-cased>@<domain>`` the Owner of a subscription ``label`` (set up by the
    system), a resource group "rg" in West Europe, an OS disk of ``os_mib`` and a data disk of
    ``data_mib`` MiB written in place and registered, a managed image "img" of them, a gallery and a
    definition (``names``). Returns (caller, image, definition): the user, acting from ``source``.
    Used by bench/replication.py and bench/soak.py."""
    from accounts.activity import Caller
    from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
    from galleries import services, vhd
    from galleries.models import Region
    from galleries.storage import RegionStore

    tenant = create_tenant(label, domain)
    user = create_user(tenant, f"{label.lower()}@{domain}", None)
    caller = Caller(principal=user, source=source, client_ip=client_ip)
    sub = create_subscription(Caller.system(), tenant, label, owner=user)
    rg = create_resource_group(caller, sub, "rg", "westeurope")
    store = RegionStore(Region.objects.get(name="westeurope"))
    blobs = []
    for name, mib, seed in (("os.vhd", os_mib, 1), ("data.vhd", data_mib, 2)):
        path = store.path(f"blobs/{rg.pk}/vhds/{name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        vhd.write_fixed_vhd(path, mib * vhd.MIB, seed=seed)
        blobs.append(services.register_blob(caller, rg, name))
    image = services.create_managed_image(
        caller, rg, "img", os_blob=blobs[0], os_type="Linux", data_blobs=[(0, blobs[1])]
    )
    gallery_name, definition_name = names
    gallery = services.create_gallery(caller, rg, gallery_name)
    definition = services.create_definition(
        caller,
        gallery,
        definition_name,
        publisher="P",
        offer="O",
        sku="S",
        os_type="Linux",
        os_state="Generalized",
    )
    return caller, image, definition


def replicate(caller, definition, image, name: str, west_replicas: int):
    """Version ``name`` of ``image`` (a source of ``build_source``) to West Europe (``west_replicas``
    replicas), East US and North Europe (Standard_ZRS: a copy in each of its 3 zones), through the
    services: the regions of bench/replication.py and bench/soak.py."""
    from galleries import services
    from galleries.services import TargetRegionSpec as T

    regions = [T("westeurope", west_replicas), T("eastus", 1), T("northeurope", 1, "Standard_ZRS")]
    return services.create_version(
        caller, definition, name, location="westeurope", source=image, target_regions=regions
    )


# --- The test client ---------------------------------------------------------------------------------------


def signed_in(user):
    """A test client signed in as ``user``, and its session cookie (for the load generator)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client, client.cookies[settings.SESSION_COOKIE_NAME].value


def page_htmx_headers(client, page: str) -> tuple[dict, str]:
    """What htmx sends with each request from ``page`` (as ``client`` sees it): ``HX-Request`` and the
    page's CSRF token (``base.html``'s ``hx-headers``); and the browser's Cookie header — the session
    and the CSRF cookie — for the load generator."""
    import re

    from django.conf import settings

    answer = client.get(page)
    found = re.search(r"hx-headers='\{\"X-CSRFToken\": \"(\w+)\"\}'", answer.content.decode())
    if answer.status_code != 200 or found is None:
        raise SystemExit(f"{page} answered {answer.status_code} without its htmx CSRF header")
    cookies = "; ".join(
        f"{name}={client.cookies[name].value}"
        for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
    )
    return {"HX-Request": "true", "X-CSRFToken": found.group(1)}, cookies


def time_client(pairs: dict, runs: int, warmup: int) -> dict:
    """{name: (client, url, headers)} -> {name: [seconds]} (requests interleaved)."""
    samples = {name: [] for name in pairs}
    for i in range(warmup + runs):
        for name, (client, url, headers) in pairs.items():
            t0 = time.perf_counter()
            response = client.get(url, headers=headers)
            elapsed = time.perf_counter() - t0
            if response.status_code != (304 if "If-None-Match" in headers else 200):
                raise SystemExit(f"{name}: {url} answered {response.status_code}")
            if i >= warmup:
                samples[name].append(elapsed)
    return samples


def report_client(samples: dict, args, width: int) -> dict:
    """Print the test client's medians (names padded to ``width``); returns {name: median seconds}."""
    tc = {name: statistics.median(v) for name, v in samples.items()}
    print(f"\ntest client, median of {args.runs} requests after {args.warmup} (interleaved):")
    for name, v in samples.items():
        print(f"  {name:<{width}} {ms(tc[name]):>10}  (min {ms(min(v))}, max {ms(max(v))})")
    return tc


def ms(x: float) -> str:
    return f"{x * 1e3:.1f} ms"


def abbreviate_sql(sql: str) -> str:
    """Long lists of ids in a query shortened to their count."""
    return re.sub(r"\((\d+(?:, ?\d+){8,})\)", lambda m: f"(…{m.group(1).count(',') + 1} ids…)", sql)


# --- gunicorn and the load generator -----------------------------------------------------------------------


def add_load_arguments(parser) -> None:
    """The load's options, the same in every bench that runs gunicorn."""
    parser.add_argument("--seconds", type=float, default=4.0, help="load per URL and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of load over the URLs")
    parser.add_argument("--threads", type=int, default=8, help="load-generator threads (connections)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--server-threads", type=int, default=4, help="gthread threads per worker")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(app: str, args, health_url: str, headers: dict | None = None):
    """gunicorn serving ``app`` (``bench.<x>:application``) on 127.0.0.1 and a free port, ``args.workers``
    gthread processes of ``args.server_threads`` threads, keep-alive; ready when ``health_url`` answers
    200 (any other answer fails). Returns (process, port)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(args.server_threads),
        "--keep-alive",
        "75",
        "--backlog",
        "256",
        "--log-level",
        "warning",
        "--chdir",
        str(ROOT),
        app,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", health_url, headers=headers or {})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                break
            raise SystemExit(f"gunicorn answered {status} to {health_url}")
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read() if proc.poll() is not None else ""
            proc.kill()
            raise SystemExit(f"gunicorn did not start: {out}")
        time.sleep(0.1)
    return proc, port


def stop_gunicorn(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load(port: int, url: str, headers: dict, seconds: float, threads: int, expect: int = 200) -> dict:
    """``threads`` clients, each on one keep-alive connection, for ``seconds``: requests per second."""
    stop = threading.Event()
    start = threading.Barrier(threads + 1)
    results = []
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies, bad, reconnects = [], 0, 0
        start.wait()
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                conn.request("GET", url, headers=headers)
                response = conn.getresponse()
                response.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                reconnects += 1
                continue
            if stop.is_set():
                break  # finished after the window: not counted
            latencies.append(time.perf_counter() - t0)
            if response.status != expect:
                bad += 1
            if response.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                reconnects += 1
        conn.close()
        with lock:
            results.append((latencies, bad, reconnects))

    pool = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - t0
    for t in pool:
        t.join()
    latencies = [x for r in results for x in r[0]]
    return {
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "bad": sum(r[1] for r in results),
        "reconnects": sum(r[2] for r in results),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": sorted(latencies)[int(len(latencies) * 0.95)] if latencies else float("nan"),
    }


def run_load(port, targets: dict, args) -> dict:
    """{name: (url, headers[, expected status])} -> {name: [load results per round]}; URLs in turn,
    ``args.rounds`` rounds, after a warm-up of one second (at most ``args.seconds``) each."""
    for url, headers, *expect in targets.values():
        load(port, url, headers, min(1.0, args.seconds), args.threads, *expect)
    out = {name: [] for name in targets}
    for _ in range(args.rounds):
        for name, (url, headers, *expect) in targets.items():
            r = load(port, url, headers, args.seconds, args.threads, *expect)
            if r["bad"]:
                raise SystemExit(f"{name}: {r['bad']} answers were not {expect or 200} under load")
            out[name].append(r)
    return out


def paired(loaded: dict, name: str, base: str) -> tuple[float, list[float]]:
    """``name``'s req/s over ``base``'s in the same round, per round, and their median: each round runs
    the URLs back to back, so a slower spell of a shared host weighs on both sides of each ratio (the
    ratio of the medians mixes rounds far apart in time)."""
    ratios = [a["rps"] / b["rps"] for a, b in zip(loaded[name], loaded[base], strict=True) if b["rps"]]
    return statistics.median(ratios), ratios


def report_load(loaded: dict, args, width: int) -> dict:
    """Print each URL's requests per second under load (names padded to ``width``); returns {name: the
    median over the rounds}."""
    rps = {name: statistics.median(r["rps"] for r in rounds) for name, rounds in loaded.items()}
    print(
        f"\ngunicorn: {args.workers} workers x {args.server_threads} threads (gthread, keep-alive); "
        f"{args.threads} client threads; {args.rounds} rounds of {args.seconds:g} s per URL (median):"
    )
    for name, rounds in loaded.items():
        per_round = ", ".join(f"{r['rps']:.1f}" for r in rounds)
        last = rounds[-1]
        print(
            f"  {name:<{width}} {rps[name]:8.1f} req/s  (rounds {per_round}; latency p50 {ms(last['p50'])}, "
            f"p95 {ms(last['p95'])}; {sum(r['requests'] for r in rounds)} requests, "
            f"{sum(r['reconnects'] for r in rounds)} reconnects)"
        )
    return rps
