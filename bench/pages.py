"""Two pages of the portal under load (issue 5): All Resources for a user with mixed-scope access against
the same page unfiltered, and the replication poll of a 30-region version against a trivial view — each
through the Django test client (server time per request) and through a real WSGI server (gunicorn) under
concurrent load on loopback, in one run.

The data, in a database of its own (the embedded default ``var/bench/pages.sqlite3``, or a PostgreSQL
database whose name contains "bench"; either is wiped unless ``--reuse``):

- All Resources: ``bench/access.py``'s large tenant — 100,000 resources in 50 subscriptions, one principal
  holding 1,000 role assignments at mixed scopes (48 direct, 952 through 20 groups), bulk-inserted rows
  as the services write them. Pages timed, both requested by that principal:

  * filtered: ``GET /?hidden=1`` — the real ``portal.views.home`` (hidden types on, default sort);
  * unfiltered: ``GET /bench/unfiltered/?hidden=1`` — the same function body (``home``'s code object,
    re-bound) with one global changed: ``readable_here`` answers ``Resource.objects.filter(tenant=...)``
    instead of ``Resource.objects.restrict(user).filter(tenant=...)``. Everything else (the form,
    ``apply_filters``, ``with_columns``, ``ordered``, ``Facets``, the Paginator, the template) is
    ``portal.views``' own, so the two differ only by the access filter. It is mounted by a bench-local
    URLconf (this module: the project's URLs plus this one), set with ``override_settings(ROOT_URLCONF)``.

- The poll: a tenant built through the services — subscription, resource group, a 1 MiB VHD uploaded in
  chunks, a managed image, a gallery, a definition, version 1.0.0 and version 1.0.1, each to the same 30
  public-cloud regions (mixed replica counts and storage types). 1.0.0's regions are then marked
  Completed; 1.0.1's in a mix (Completed, Replicating with progress, Failed after the last attempt,
  waiting for a retry, queued) with the columns the replication worker writes, and the version's
  provisioning state settled by the worker's own ``_mark_version``. Timed, both requested by the
  subscription's Owner: ``GET /versions/<1.0.1>/replication`` with ``HX-Request: true`` (in flight, so
  200 and polled on), the same with ``If-None-Match`` set to the ETag of its answer (what a browser
  sends on the next poll of an unchanged panel: 304, no body), against ``GET /bench/trivial`` (``trivial``
  below: a constant JSON answer, no view work — what ``/healthz`` was before it checked the database,
  the broker and every queue's consumer; the session and user are still loaded by the middleware, as
  for every request with the cookie). It is mounted by the bench URLconf.

Measured:

1. Test client: the median server time per request over ``--runs`` requests after warm-up, pages
   interleaved (no network, no server; the response is built in-process exactly as for a real request).
2. gunicorn (``--workers`` processes, ``gthread`` with ``--server-threads`` threads each, keep-alive),
   started on 127.0.0.1 and a free port with this module as the WSGI app and the same database; a load
   generator of ``--threads`` threads, each on its own keep-alive ``http.client`` connection, sends the
   session cookie (made with ``Client.force_login`` in the bench database). Each URL is loaded for
   ``--seconds`` seconds, URLs in turn, ``--rounds`` rounds; requests per second is completed requests
   over elapsed time (non-200 answers are counted and fail the run).
3. When All Resources is over 50 ms or the poll under half the trivial view's throughput: one request
   of each page with every query captured, each query re-executed and timed alone, the template
   rendering timed, the slowest queries EXPLAINed; then experiments in the bench database only
   (``--no-experiments`` skips them), see ``EXPERIMENTS`` (none at present).

The server and the load generator share this machine's cores: requests per second is a lower bound on
what a separate load generator would see, and equally so for both pages of a pair (the ratio is what
counts).

    .venv/bin/python bench/pages.py [--resources 100000] [--reuse] [--seconds 4] [--threads 8]
    .venv/bin/python bench/pages.py --smoke   # 1,000 resources, short load, in a throw-away database
    createdb -h 127.0.0.1 -U postgres sig_bench_pages
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sig_bench_pages .venv/bin/python bench/pages.py
"""

from __future__ import annotations

import argparse
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
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SMOKE = __name__ == "__main__" and "--smoke" in sys.argv[1:]


def scratch(prefix: str) -> Path:
    """A temporary folder, removed when this process exits (gunicorn workers inherit it, never own it)."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, True)
    return Path(folder)


if not os.environ.get("PORTAL_VAR_DIR"):  # the gunicorn workers inherit the parent's
    os.environ["PORTAL_VAR_DIR"] = str(scratch("sig-bench-pages-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")  # DEBUG off, no SSL redirect
if not os.environ.get("DATABASE_URL"):
    if SMOKE:  # a throw-away database: the full size's var/bench/pages.sqlite3 is left as it is
        os.environ["DATABASE_URL"] = f"sqlite:///{scratch('sig-bench-pages-smoke-') / 'pages.sqlite3'}"
    else:
        (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench' / 'pages.sqlite3'}"

import django  # noqa: E402

django.setup()

from django.contrib.auth.decorators import login_required  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402

import portal.views as portal_views  # noqa: E402
from accounts.models import Resource  # noqa: E402
from accounts.views import current_directory  # noqa: E402

# --- The unfiltered page and the bench URLconf (imported by the gunicorn workers too) ---------------------


def unfiltered_here(request):
    """``portal.views.readable_here`` without the access filter: every resource of the directory."""
    directory = current_directory(request)
    if directory is None:
        return Resource.objects.none()
    return Resource.objects.filter(tenant=directory)


def rebound(view, **globals_):
    """``view`` (a ``login_required`` function of ``portal.views``) with the same code and some of its
    module globals replaced: the page differs from the real one only by what is replaced."""
    fn = view.__wrapped__
    copy = types.FunctionType(
        fn.__code__, {**vars(portal_views), **globals_}, fn.__name__, fn.__defaults__, fn.__closure__
    )
    copy.__kwdefaults__ = fn.__kwdefaults__
    return login_required(copy)


def unfiltered_choices(request, directory) -> dict:
    """The filter choices without access: every subscription and resource group of the directory."""
    from django.db.models.functions import Lower

    from accounts.models import ResourceGroup, Subscription
    from galleries.models import Region

    names = (
        ResourceGroup.objects.filter(tenant=directory).order_by(Lower("name")).values_list("name", flat=True)
    )
    return {
        "subscriptions": list(
            Subscription.objects.filter(tenant=directory)
            .order_by(Lower("display_name"), "pk")
            .values_list("guid", "display_name")
        ),
        "locations": list(Region.objects.order_by("display_name").values_list("name", "display_name")),
        "resource_groups": list(dict.fromkeys(names)),
    }


home_unfiltered = rebound(portal_views.home, readable_here=unfiltered_here, filter_choices=unfiltered_choices)


def trivial(request):
    """The baseline: no view work, a constant answer (what ``/healthz`` answered before it checked the
    database, the broker and the queues' consumers — it now answers 503 without workers and beat)."""
    return JsonResponse({"status": "ok"})


#: Experiments mounted under /bench/x/<name>/ (filled in below, see EXPERIMENTS).
EXPERIMENT_VIEWS: dict = {}

urlpatterns = [
    path("bench/unfiltered/", home_unfiltered, name="bench-home-unfiltered"),
    path("bench/trivial", trivial, name="bench-trivial"),
    path("bench/x/<str:name>/", lambda request, name: EXPERIMENT_VIEWS[name](request), name="bench-x"),
    path("", include("portal.urls")),
]

TRIVIAL_URL = "/bench/trivial"

override_settings(ROOT_URLCONF=__name__).enable()
application = get_wsgi_application()


# --- Experiments: copies of a view with one piece changed (the project's code is not changed) ---------------
# (The experiments of the first version are now the product: for All Resources the indexed sort-key
# column and the capped count — ``Resource.sort_name`` and ``portal.views.capped_count``; for the poll
# the lean panel — ``galleries.panel``.)


# --- Building the data ---------------------------------------------------------------------------------------


def load_access_bench():
    spec = importlib.util.spec_from_file_location("bench_access", ROOT / "bench" / "access.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REPLICATION_DOMAIN = "replication.pages.bench.test"
N_REGIONS = 30


def build_definition(domain: str, label: str, seed: int, n_regions: int):
    """A tenant ``domain`` with its Owner (``owner@domain``), a subscription, a resource group "images",
    a 1 MiB VHD uploaded in chunks, a managed image, a gallery and a definition — all through the
    services — and ``n_regions`` target-region specs (West Europe first, mixed replica counts and storage
    types). Returns (caller, image, definition, specs). Shared with bench/api.py."""
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
    return caller, image, definition, specs


def build_replication():
    """A version with 30 target regions, built through the services; returns (owner, version 1.0.1)."""

    from django.db import transaction

    from accounts.models import Tenant, User
    from galleries import replication, services
    from galleries.models import GalleryImageVersion, TargetRegion

    tenant = Tenant.objects.filter(primary_domain=REPLICATION_DOMAIN).first()
    if tenant is not None:
        owner = User.objects.get(username=f"owner@{REPLICATION_DOMAIN}")
        version = GalleryImageVersion.objects.get(tenant=tenant, name="1.0.1")
        print(f"[poll] reusing the version {version.arm_id}", flush=True)
        return owner, version
    t0 = time.perf_counter()
    caller, image, definition, specs = build_definition(REPLICATION_DOMAIN, "Bench replication", 7, N_REGIONS)
    owner = caller.principal
    versions = [
        services.create_version(
            caller, definition, name, location="westeurope", source=image, target_regions=specs
        )
        for name in ("1.0.0", "1.0.1")
    ]
    now = django.utils.timezone.now()
    with transaction.atomic():
        # What the replication worker writes (galleries/replication.py: _complete, progress, _failed).
        old, new = versions
        rows = list(TargetRegion.objects.filter(version=new).order_by("region__name"))
        TargetRegion.objects.filter(version=old).update(
            state=TargetRegion.State.COMPLETED,
            bytes_done=django.db.models.F("bytes_total"),
            last_error="",
            done_revision=django.db.models.F("revision"),
            attempts=0,
            updated_at=now,
        )
        for i, t in enumerate(rows):
            kind = i % 6
            if kind in (0, 1):  # 10 Completed
                fields = dict(state="Completed", bytes_done=t.bytes_total, done_revision=t.revision)
            elif kind in (2, 3):  # 10 Replicating, under a worker's lease
                fields = dict(
                    state="Replicating",
                    bytes_done=t.bytes_total * (i + 1) // (N_REGIONS + 1),
                    lease_owner=f"celery@bench:{1000 + i}",
                    lease_expires_at=now + django.utils.timezone.timedelta(seconds=60),
                )
            elif kind == 4 and i < 20:  # Failed after the last attempt
                fields = dict(
                    state="Failed",
                    attempts=5,
                    last_error="CopyFailed: the region store is full (No space left on device)",
                )
            elif kind == 4:  # waiting for a retry
                fields = dict(
                    attempts=2,
                    last_error="CopyFailed: connection reset (attempt 2; retrying in 40 s)",
                    lease_expires_at=now + django.utils.timezone.timedelta(seconds=40),
                )
            else:  # queued
                fields = {}
            TargetRegion.objects.filter(pk=t.pk).update(updated_at=now, **fields)
        for v in versions:
            replication._mark_version(v.pk)
    version = GalleryImageVersion.objects.get(pk=new.pk)
    states = sorted(TargetRegion.objects.filter(version=version).values_list("state", flat=True))
    print(
        f"[poll] built 2 versions x {len(specs)} regions through the services in {time.perf_counter() - t0:.1f} s; "
        f"1.0.1: {', '.join(f'{states.count(s)} {s}' for s in sorted(set(states)))}, "
        f"provisioning state {version.provisioning_state}",
        flush=True,
    )
    return owner, version


# --- Test client --------------------------------------------------------------------------------------------


def signed_in(user):
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client, client.cookies[settings.SESSION_COOKIE_NAME].value


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


COUNT_RE = re.compile(r'allres-count">1–(\d+) of ([\d,+]+)<')
ROW_RE = re.compile(r'<td><a href="/resources/(\d+)/"')


def check_home(client, url, expected_count) -> str:
    html = client.get(url).content.decode()
    m = COUNT_RE.search(html)
    if not m:
        raise SystemExit(f"{url}: no '1–50 of N' in the page")
    rows = ROW_RE.findall(html)
    if int(m.group(1)) != 50 or len(rows) != 50:
        raise SystemExit(f"{url}: {len(rows)} rows, expected 50")
    if expected_count is not None:
        # The page counts up to a cap a few pages ahead ("1,050+"); below it, exactly.
        from django.conf import settings

        cap = (1 + settings.ALL_RESOURCES_COUNT_AHEAD_PAGES) * portal_views.PAGE_SIZE
        want = f"{cap:,}+" if expected_count > cap else f"{expected_count:,}"
        if m.group(2) != want:
            raise SystemExit(f"{url}: count {m.group(2)}, expected {want} ({expected_count:,} readable)")
    return m.group(2)


# --- gunicorn and the load generator -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(args):
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
        "bench.pages:application",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", TRIVIAL_URL)
            if conn.getresponse().status == 200:
                conn.close()
                break
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


# --- Diagnosis ------------------------------------------------------------------------------------------------


def diagnose(client, url: str, label: str, explain, headers=None) -> dict:
    """One request with every query captured; each query re-executed and timed alone (median of 5);
    the template rendering timed; the slowest two queries explained."""
    from django.db import connection
    from django.template.backends import django as backend
    from django.template.backends import jinja2 as jinja_backend
    from django.test.utils import CaptureQueriesContext

    rendering = []
    originals = {cls: cls.render for cls in (backend.Template, jinja_backend.Template)}

    def timed(original):
        def timed_render(self, *a, **kw):
            t0 = time.perf_counter()
            try:
                return original(self, *a, **kw)
            finally:
                rendering.append(time.perf_counter() - t0)

        return timed_render

    for cls, original in originals.items():
        cls.render = timed(original)
    try:
        t0 = time.perf_counter()
        with CaptureQueriesContext(connection) as q:
            client.get(url, headers=headers or {})
        total = time.perf_counter() - t0
    finally:
        for cls, original in originals.items():
            cls.render = original
    timed = []
    prepared = 0
    with connection.cursor() as c:
        for query in q.captured_queries:
            sql = query["sql"]
            if "$1" in sql:  # bound on the server (portal.core.prepared): its parameters are not in the text
                prepared += 1
                continue
            runs = []
            for _ in range(5):
                t1 = time.perf_counter()
                c.execute(sql)
                c.fetchall()
                runs.append(time.perf_counter() - t1)
            timed.append((statistics.median(runs), sql))
    queries_total = sum(t for t, _ in timed)
    print(
        f"\n[{label}] {url}: {total * 1e3:.1f} ms in this request; {len(timed)} queries, "
        f"{queries_total * 1e3:.1f} ms re-executed alone"
        + (f" ({prepared} prepared on the server not re-executed)" if prepared else "")
        + f"; template rendering {sum(rendering) * 1e3:.1f} ms "
        f"(of which the queries run lazily inside it are part)"
    )
    for t, sql in sorted(timed, key=lambda x: -x[0]):
        print(f"  {t * 1e3:7.2f} ms  {abbreviate_sql(sql)[:230]}")
    if explain:
        for t, sql in sorted(timed, key=lambda x: -x[0])[:2]:
            print(f"  plan of the {t * 1e3:.1f} ms query: {abbreviate_sql(sql)[:120]}")
            print(explain(sql))
    return {
        "total": total,
        "queries": len(timed) + prepared,
        "sql": queries_total,
        "render": sum(rendering),
        "slowest": sorted(timed, key=lambda x: -x[0])[:3],
    }


def abbreviate_sql(sql: str) -> str:
    return re.sub(r"\((\d+(?:, ?\d+){8,})\)", lambda m: f"(…{m.group(1).count(',') + 1} ids…)", sql)


# --- Main ----------------------------------------------------------------------------------------------------


def ms(x: float) -> str:
    return f"{x * 1e3:.1f} ms"


def main() -> None:  # noqa: C901, PLR0915 -- one linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="keep the database and reuse what matches")
    parser.add_argument("--seconds", type=float, default=4.0, help="load per URL and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of load over the URLs")
    parser.add_argument("--threads", type=int, default=8, help="load-generator threads (connections)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--server-threads", type=int, default=4, help="gthread threads per worker")
    parser.add_argument("--runs", type=int, default=15, help="test-client requests per page")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-experiments", action="store_true", help="skip the diagnosis experiments")
    parser.add_argument("--no-explain", action="store_true", help="do not print query plans")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run in a throw-away database: 1,000 resources, 0.5 s of load per URL, one round, "
        "the diagnosis always",
    )
    args = parser.parse_args()
    if args.smoke:
        args.resources, args.seconds, args.rounds, args.threads = 1_000, 0.5, 1, 2
        args.server_threads, args.runs, args.warmup = 2, 3, 1

    from django.db import connection

    access = load_access_bench()
    t_start = time.perf_counter()
    access.prepare_database(args.reuse)
    spec = ("large", args.resources, 50, 1000, 20, 1)
    found = access.find(*spec) if args.reuse else None
    tenant, principal = found or access.build(*spec)
    owner, version = build_replication()
    access.analyze(False)
    visible, _ = access.reference(principal, tenant)
    total = Resource.objects.filter(tenant=tenant).count()

    home_client, home_cookie = signed_in(principal)
    poll_client, poll_cookie = signed_in(owner)
    hx = {"HX-Request": "true"}
    poll_url = f"/versions/{version.pk}/replication"
    check_home(home_client, "/?hidden=1", visible)
    check_home(home_client, "/bench/unfiltered/?hidden=1", total)
    from accounts.access import grants_for
    from accounts.roles import Action

    grants = grants_for(access.fresh(principal))
    listed = ROW_RE.findall(home_client.get("/?hidden=1").content.decode())
    for r in Resource.objects.filter(pk__in=listed).values(
        "pk", "type", "subscription_id", "resource_group_id", "gallery_id", "definition_id"
    ):
        arm_type = r.pop("type")
        if not grants.allows(Action.READ, r, arm_type):
            raise SystemExit(f"the filtered page lists {r['pk']}, which the principal may not read")
    poll = poll_client.get(poll_url, headers=hx)
    if poll.status_code != 200 or poll.content.decode().count("<tr>") != N_REGIONS + 1:
        raise SystemExit(f"the poll answered {poll.status_code} with the wrong rows")
    # What a browser sends on its next poll: the panel's ETag back (its cache revalidates the answer).
    revalidate = {**hx, "If-None-Match": poll.headers["ETag"]}
    if poll_client.get(poll_url, headers=revalidate).status_code != 304:
        raise SystemExit("the unchanged poll was not answered 304 Not Modified")
    print(
        f"database: {access.database_name()} ({connection.settings_dict['NAME']}); {total:,} resources, "
        f"the principal reads {visible:,}; data ready in {time.perf_counter() - t_start:.1f} s",
        flush=True,
    )

    # 1. Test client.
    pairs = {
        "All Resources, filtered": (home_client, "/?hidden=1", {}),
        "All Resources, unfiltered": (home_client, "/bench/unfiltered/?hidden=1", {}),
        "replication poll": (poll_client, poll_url, hx),
        "poll, revalidated (304)": (poll_client, poll_url, revalidate),
        "trivial view": (poll_client, TRIVIAL_URL, {}),
    }
    samples = time_client(pairs, args.runs, args.warmup)
    tc = {name: statistics.median(v) for name, v in samples.items()}
    print(f"\ntest client, median of {args.runs} requests after {args.warmup} (interleaved):")
    for name, v in samples.items():
        print(f"  {name:<28} {ms(tc[name]):>10}  (min {ms(min(v))}, max {ms(max(v))})")

    # 2. gunicorn under load.
    targets = {
        "All Resources, filtered": ("/?hidden=1", {"Cookie": f"sessionid={home_cookie}"}),
        "All Resources, unfiltered": ("/bench/unfiltered/?hidden=1", {"Cookie": f"sessionid={home_cookie}"}),
        "replication poll": (poll_url, {"Cookie": f"sessionid={poll_cookie}", **hx}),
        "poll, revalidated (304)": (poll_url, {"Cookie": f"sessionid={poll_cookie}", **revalidate}, 304),
        "trivial view": (TRIVIAL_URL, {"Cookie": f"sessionid={poll_cookie}"}),
    }
    connection.close()
    proc, port = start_gunicorn(args)
    try:
        loaded = run_load(port, targets, args)
    finally:
        stop_gunicorn(proc)
    rps = {name: statistics.median(r["rps"] for r in rounds) for name, rounds in loaded.items()}
    print(
        f"\ngunicorn: {args.workers} workers x {args.server_threads} threads (gthread, keep-alive); "
        f"{args.threads} client threads; {args.rounds} rounds of {args.seconds:g} s per URL (median):"
    )
    for name, rounds in loaded.items():
        per_round = ", ".join(f"{r['rps']:.1f}" for r in rounds)
        last = rounds[-1]
        print(
            f"  {name:<28} {rps[name]:8.1f} req/s  (rounds {per_round}; latency p50 {ms(last['p50'])}, "
            f"p95 {ms(last['p95'])}; {sum(r['requests'] for r in rounds)} requests, "
            f"{sum(r['reconnects'] for r in rounds)} reconnects)"
        )

    # 3. Diagnosis and experiments.
    diagnosis, experiments = {}, {}
    if args.smoke or tc["All Resources, filtered"] > 0.050 or tc["All Resources, unfiltered"] > 0.050:
        explain = None if args.no_explain else access.explain
        diagnosis["filtered"] = diagnose(home_client, "/?hidden=1", "filtered", explain)
        diagnosis["unfiltered"] = diagnose(home_client, "/bench/unfiltered/?hidden=1", "unfiltered", explain)
    if args.smoke or rps["replication poll"] < 0.5 * rps["trivial view"]:
        diagnosis["poll"] = diagnose(poll_client, poll_url, "poll", None, hx)
        diagnosis["trivial"] = diagnose(poll_client, TRIVIAL_URL, "trivial", None)

    summary(args, access, connection, total, visible, tc, rps, diagnosis, experiments)


def summary(args, access, connection, total, visible, tc, rps, diagnosis, experiments) -> None:
    f, u = tc["All Resources, filtered"], tc["All Resources, unfiltered"]
    p, t = tc["replication poll"], tc["trivial view"]
    rf, ru = rps["All Resources, filtered"], rps["All Resources, unfiltered"]
    rp, rt = rps["replication poll"], rps["trivial view"]
    print(
        f"\nsummary — {access.database_name()}, {total:,} resources ({visible:,} readable by the principal)"
    )
    print(
        f"  All Resources first page: server time filtered {ms(f)}, unfiltered {ms(u)}: ratio {f / u:.2f} "
        f"(target <= 1.5: {'met' if f / u <= 1.5 else 'NOT met'}); under 50 ms: {'yes' if f < 0.05 else 'NO'}"
    )
    print(
        f"    gunicorn: filtered {rf:.1f} req/s, unfiltered {ru:.1f} req/s: throughput ratio "
        f"unfiltered/filtered {ru / rf:.2f}"
    )
    print(
        f"  replication poll (30 regions): server time {ms(p)} vs trivial view {ms(t)}; gunicorn {rp:.1f} vs "
        f"{rt:.1f} req/s: poll/trivial {rp / rt:.2f} (target >= 0.5: {'met' if rp / rt >= 0.5 else 'NOT met'}); "
        f"test client trivial/poll {t / p:.2f}"
    )
    p304, r304 = tc["poll, revalidated (304)"], rps["poll, revalidated (304)"]
    print(
        f"  the same poll revalidated by the browser (If-None-Match, unchanged: 304): server time {ms(p304)}; "
        f"gunicorn {r304:.1f} req/s: poll/trivial {r304 / rt:.2f}"
    )
    if diagnosis:
        for name, d in diagnosis.items():
            print(
                f"  {name} page: {d['queries']} queries, {ms(d['sql'])} in SQL, template {ms(d['render'])}; "
                f"slowest {ms(d['slowest'][0][0])}, {ms(d['slowest'][1][0])}"
            )
    for name, e in experiments.items():
        extra = f", {e['rps']:.1f} req/s" if "rps" in e else ""
        print(f"  experiment {name}: {ms(e['tc'])}{extra}")
    if args.smoke:
        print("  (--smoke: a tiny size that checks the whole path; these figures are not the benchmark's)")


if __name__ == "__main__":
    main()
