"""Two pages of the portal under load (issue 5): All Resources for a user with mixed-scope access against
the same page unfiltered, and the replication poll of a 30-region version against a trivial view — each
through the Django test client (server time per request) and through a real WSGI server (gunicorn) under
concurrent load on loopback, in one run.

The data, in a database of its own (the embedded default ``var/bench/pages.sqlite3``, or a PostgreSQL
database whose name contains "bench"; either is wiped unless ``--reuse``):

- All Resources: ``bench/access.py``'s large tenant — 100,000 resources in 50 subscriptions, one principal
  holding 1,000 role assignments at mixed scopes (48 direct, 952 through 20 groups), bulk-inserted rows
  as the services write them (on PostgreSQL by ``COPY``, ``bench/_copy_build.py``: 1,000,000 resources in
  about a minute). Pages timed, both requested by that principal:

  * filtered: ``GET /?hidden=1`` — the real ``portal.views.home`` (hidden types on, default sort);
  * unfiltered: ``GET /bench/unfiltered/?hidden=1`` — the same function body (``home``'s code object,
    re-bound) with one global changed: ``readable_here`` answers ``Resource.objects.filter(tenant=...)``
    instead of ``Resource.objects.restrict(user).filter(tenant=...)``. Everything else (the form,
    ``apply_filters``, ``with_columns``, ``ordered``, ``Facets``, the Paginator, the template) is
    ``portal.views``' own, so the two differ only by the access filter. It is mounted by a bench-local
    URLconf (this module: the project's URLs plus this one), set with ``override_settings(ROOT_URLCONF)``;
  * nothing kept (test client only): ``GET /bench/unkept/?hidden=1`` — the real ``home`` after emptying
    the grants the process keeps under the grants stamp (``accounts.access``): the first request after
    any change to access, which reads and hashes the principal's 1,000 assignment rows again.

- The poll: a tenant built through the services — subscription, resource group, a 1 MiB VHD uploaded in
  chunks, a managed image, a gallery, a definition, version 1.0.0 and version 1.0.1, each to the same 30
  public-cloud regions (mixed replica counts and storage types). 1.0.0's regions are then marked
  Completed; 1.0.1's in a mix (Completed, Replicating with progress, Failed after the last attempt,
  waiting for a retry, queued) with the columns the replication worker writes, and the version's
  provisioning state settled by the worker's own ``_mark_version``. Timed, both requested by the
  subscription's Owner: ``GET /versions/<1.0.1>/replication`` with what htmx sends from the version
  page — ``HX-Request: true`` and the page's CSRF token (``X-CSRFToken``, with the CSRF cookie) — (in
  flight, so 200 and polled on), the same with ``If-None-Match`` set to the ETag of its answer (what a browser
  sends on the next poll of an unchanged panel: 304, no body), against ``GET /bench/trivial`` (``trivial``
  below: a constant JSON answer, no view work — what ``/healthz`` was before it checked the database,
  the broker and every queue's consumer; the session and user are still loaded by the middleware, as
  for every request with the cookie; it gets the same cookies). It is mounted by the bench URLconf.

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
import re
import statistics
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common  # noqa: E402

_common.setup_django("pages", smoke=__name__ == "__main__" and "--smoke" in sys.argv[1:])

import django  # noqa: E402
from django.contrib.auth.decorators import login_required  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402

import portal.views as portal_views  # noqa: E402
from accounts import access as access_module  # noqa: E402
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


def home_unkept(request):
    """The real ``home`` with nothing kept by this process (``accounts.access``'s grants kept under the
    grants stamp emptied first): what the first request after any change to access costs, when the stamp
    has moved and the principal's assignment rows are read and hashed again."""
    access_module._KEPT.clear()
    return portal_views.home(request)


def trivial(request):
    """The baseline: no view work, a constant answer (what ``/healthz`` answered before it checked the
    database, the broker and the queues' consumers — it now answers 503 without workers and beat)."""
    return JsonResponse({"status": "ok"})


#: Experiments mounted under /bench/x/<name>/ (filled in below, see EXPERIMENTS).
EXPERIMENT_VIEWS: dict = {}

urlpatterns = [
    path("bench/unfiltered/", home_unfiltered, name="bench-home-unfiltered"),
    path("bench/trivial", trivial, name="bench-trivial"),
    path("bench/unkept/", home_unkept, name="bench-home-unkept"),
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


REPLICATION_DOMAIN = "replication.pages.bench.test"
N_REGIONS = 30


def build_replication():
    """A version with 30 target regions, built through the services; returns (owner, version 1.0.1)."""
    from django.db import transaction

    from galleries.models import TargetRegion

    found = _common.reused_version(REPLICATION_DOMAIN, "1.0.1", "poll")
    if found:
        return found
    t0 = time.perf_counter()
    caller, [old, new], specs = _common.build_versions(
        REPLICATION_DOMAIN, "Bench replication", 7, N_REGIONS, ["1.0.0", "1.0.1"]
    )
    with transaction.atomic():
        TargetRegion.objects.filter(version=old).update(
            state=TargetRegion.State.COMPLETED,
            bytes_done=django.db.models.F("bytes_total"),
            last_error="",
            done_revision=django.db.models.F("revision"),
            attempts=0,
            updated_at=django.utils.timezone.now(),
        )
    # 1.0.1: 10 Completed, 10 Replicating, 3 Failed after the last attempt, 2 waiting for a retry, 5 queued.
    kinds = ["Completed", "Completed", "Replicating", "Replicating", "Failed", "Queued"]
    version, counted = _common.write_worker_states(
        new,
        lambda i: "Retrying" if kinds[i % 6] == "Failed" and i >= 20 else kinds[i % 6],
        lambda i, t: t.bytes_total * (i + 1) // (N_REGIONS + 1),
        others=[old],
    )
    print(
        f"[poll] built 2 versions x {len(specs)} regions through the services in {time.perf_counter() - t0:.1f} s; "
        f"1.0.1: {counted}, provisioning state {version.provisioning_state}",
        flush=True,
    )
    return caller.principal, version


# --- Test client --------------------------------------------------------------------------------------------

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
        print(f"  {t * 1e3:7.2f} ms  {_common.abbreviate_sql(sql)[:230]}")
    if explain:
        for t, sql in sorted(timed, key=lambda x: -x[0])[:2]:
            print(f"  plan of the {t * 1e3:.1f} ms query: {_common.abbreviate_sql(sql)[:120]}")
            print(explain(sql))
    return {
        "total": total,
        "queries": len(timed) + prepared,
        "sql": queries_total,
        "render": sum(rendering),
        "slowest": sorted(timed, key=lambda x: -x[0])[:3],
    }


# --- Main ----------------------------------------------------------------------------------------------------


def main() -> None:  # noqa: C901, PLR0915 -- one linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="keep the database and reuse what matches")
    _common.add_load_arguments(parser)
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

    access = _common.load_access_bench()
    t_start = time.perf_counter()
    access.prepare_database(args.reuse)
    spec = ("large", args.resources, 50, 1000, 20, 1)
    found = access.find(*spec) if args.reuse else None
    tenant, principal = found or access.build(*spec)
    owner, version = build_replication()
    access.analyze(False)
    visible, _ = access.reference(principal, tenant)
    total = Resource.objects.filter(tenant=tenant).count()

    home_client, home_cookie = _common.signed_in(principal)
    poll_client, poll_cookie = _common.signed_in(owner)
    hx, poll_cookie = _common.page_htmx_headers(poll_client, f"/versions/{version.pk}/")
    poll_url = f"/versions/{version.pk}/replication"
    check_home(home_client, "/?hidden=1", visible)
    check_home(home_client, "/bench/unfiltered/?hidden=1", total)
    check_home(home_client, "/bench/unkept/?hidden=1", visible)
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
        "All Resources, nothing kept": (home_client, "/bench/unkept/?hidden=1", {}),
        "replication poll": (poll_client, poll_url, hx),
        "poll, revalidated (304)": (poll_client, poll_url, revalidate),
        "trivial view": (poll_client, TRIVIAL_URL, {}),
    }
    tc = _common.report_client(_common.time_client(pairs, args.runs, args.warmup), args, 28)

    # 2. gunicorn under load.
    targets = {
        "All Resources, filtered": ("/?hidden=1", {"Cookie": f"sessionid={home_cookie}"}),
        "All Resources, unfiltered": ("/bench/unfiltered/?hidden=1", {"Cookie": f"sessionid={home_cookie}"}),
        "replication poll": (poll_url, {"Cookie": poll_cookie, **hx}),
        "poll, revalidated (304)": (poll_url, {"Cookie": poll_cookie, **revalidate}, 304),
        "trivial view": (TRIVIAL_URL, {"Cookie": poll_cookie}),
    }
    connection.close()
    proc, port = _common.start_gunicorn("bench.pages:application", args, TRIVIAL_URL)
    try:
        loaded = _common.run_load(port, targets, args)
    finally:
        _common.stop_gunicorn(proc)
    rps = _common.report_load(loaded, args, 28)
    by_round = {
        name: _common.paired(loaded, name, "trivial view")
        for name in ("replication poll", "poll, revalidated (304)")
    }

    # 3. Diagnosis and experiments.
    diagnosis, experiments = {}, {}
    if args.smoke or tc["All Resources, filtered"] > 0.050 or tc["All Resources, unfiltered"] > 0.050:
        explain = None if args.no_explain else access.explain
        diagnosis["filtered"] = diagnose(home_client, "/?hidden=1", "filtered", explain)
        diagnosis["unfiltered"] = diagnose(home_client, "/bench/unfiltered/?hidden=1", "unfiltered", explain)
    if args.smoke or rps["replication poll"] < 0.5 * rps["trivial view"]:
        diagnosis["poll"] = diagnose(poll_client, poll_url, "poll", None, hx)
        diagnosis["trivial"] = diagnose(poll_client, TRIVIAL_URL, "trivial", None)

    summary(args, access, connection, total, visible, tc, rps, diagnosis, experiments, by_round)


def summary(args, access, connection, total, visible, tc, rps, diagnosis, experiments, by_round) -> None:
    f, u = tc["All Resources, filtered"], tc["All Resources, unfiltered"]
    p, t = tc["replication poll"], tc["trivial view"]
    rf, ru = rps["All Resources, filtered"], rps["All Resources, unfiltered"]
    rp, rt = rps["replication poll"], rps["trivial view"]
    print(
        f"\nsummary — {access.database_name()}, {total:,} resources ({visible:,} readable by the principal)"
    )
    print(
        f"  All Resources first page: server time filtered {_common.ms(f)}, unfiltered {_common.ms(u)}: ratio {f / u:.2f} "
        f"(target <= 1.2: {'met' if f / u <= 1.2 else 'NOT met'}); under 50 ms: {'yes' if f < 0.05 else 'NO'}"
    )
    k = tc["All Resources, nothing kept"]
    print(
        f"    the first request after a change to access (nothing kept: the principal's rows read again): "
        f"{_common.ms(k)}, ratio {k / u:.2f}"
    )
    print(
        f"    gunicorn: filtered {rf:.1f} req/s, unfiltered {ru:.1f} req/s: throughput ratio "
        f"unfiltered/filtered {ru / rf:.2f}"
    )
    print(
        f"  replication poll (30 regions): server time {_common.ms(p)} vs trivial view {_common.ms(t)}; gunicorn {rp:.1f} vs "
        f"{rt:.1f} req/s: poll/trivial {rp / rt:.2f} (target >= 0.8: {'met' if rp / rt >= 0.8 else 'NOT met'}); "
        f"test client trivial/poll {t / p:.2f}"
    )
    p304, r304 = tc["poll, revalidated (304)"], rps["poll, revalidated (304)"]
    print(
        f"  the same poll revalidated by the browser (If-None-Match, unchanged: 304): server time {_common.ms(p304)}; "
        f"gunicorn {r304:.1f} req/s: poll/trivial {r304 / rt:.2f} (target >= 0.9: {'met' if r304 / rt >= 0.9 else 'NOT met'})"
    )
    print("    each round's ratio to the trivial view's round (median; the rounds):")
    for name, (median, ratios) in by_round.items():
        print(f"      {name}: {median:.2f} ({', '.join(f'{r:.2f}' for r in ratios)})")
    if diagnosis:
        for name, d in diagnosis.items():
            print(
                f"  {name} page: {d['queries']} queries, {_common.ms(d['sql'])} in SQL, template {_common.ms(d['render'])}; "
                f"slowest {_common.ms(d['slowest'][0][0])}, {_common.ms(d['slowest'][1][0])}"
            )
    for name, e in experiments.items():
        extra = f", {e['rps']:.1f} req/s" if "rps" in e else ""
        print(f"  experiment {name}: {_common.ms(e['tc'])}{extra}")
    if args.smoke:
        print("  (--smoke: a tiny size that checks the whole path; these figures are not the benchmark's)")


if __name__ == "__main__":
    main()
