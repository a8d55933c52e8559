"""A copy-loop template deployment against the same definitions PUT one by one (issue 15).

Done-when of the issue: a template of 200 definitions from one ``copy`` loop deploys in at most 1.2x the
time of the same 200 PUTs through the API. In one run, on one database, each measurement in a fresh
resource group of the same subscription, through the Django test client (in-process WSGI: the whole
middleware, bearer-token sign-in, DRF, the views; no server) as the subscription's Owner with
``Authorization: Bearer``:

* puts: ``PUT …/providers/Microsoft.Compute/galleries/g<n>`` then ``--count`` x ``PUT …/galleries/g<n>/
  images/def<i>`` (newest gallery api-version), one after another, each answered before the next is sent;
* deployment: one ``PUT …/providers/Microsoft.Resources/deployments/bench`` (api-version 2025-04-01) whose
  template has the gallery and one definition resource with ``copy: {name: "defs", count: N}`` (names
  ``[concat(parameters('galleryName'), '/def', copyIndex())]``), then ``GET`` of its
  ``Azure-AsyncOperation`` until ``Succeeded``. Today the PUT creates every resource before it answers
  and the first poll already says Succeeded; the bench polls anyway (without waiting ``Retry-After``:
  each poll advances the deployment) so it stays honest if the work moves out of the PUT.

Both sides create the same resources with the same properties (a gallery and N definitions; each
definition's SKU is ``sku<i>``, since a gallery refuses two definitions with one publisher/offer/SKU, and
each gallery its own name ``g<n>``, since gallery names are unique in a subscription, as in Azure). The
two are interleaved (puts, deployment, puts, …) after an untimed warm-up of both at a small size; each
side's median wall-clock time over ``--repeats`` is reported with the ratio deployment / puts (target
<= 1.20), and its CPU time in this process (``time.process_time``: the difference with the wall clock is
waiting — commits' fsync, the database server, other processes on the machine). Each measurement's result
is checked outside the timing (N definitions with their SKUs in its group; the deployment Succeeded with
N + 1 operations). ``--profile`` runs one more measurement of each side under cProfile and prints where
their time goes (chosen stages side by side, the deployment's hot spots).

The database is created by Django's ``setup_databases`` and dropped at the end (as ``bench/limits.py``):
SQLite in a temporary folder, or on PostgreSQL ``test_<name>_bench_templates`` (never the test suite's
``test_<name>``). The subscription's definition limit is raised to fit every measurement (what an
operator does in the admin).

    .venv/bin/python bench/templates.py [--count 200] [--repeats 5] [--profile]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/templates.py
    .venv/bin/python bench/templates.py --smoke     # 20 definitions, 1 repeat: the same path in seconds
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common  # noqa: E402

_common.setup_django("templates", smoke=True)  # a throw-away state folder; the database: setup_databases

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from galleries.api import arm_versions  # noqa: E402

GALLERY_API = max(arm_versions.GALLERY_API_VERSIONS)
DEPLOYMENTS_API = "2025-04-01"
LOCATION = "westeurope"
BASE = "http://testserver"  # the test client's host: the bearer token's issuer and audience

PROPERTIES = {
    "description": "Bench definition",
    "osType": "Linux",
    "osState": "Generalized",
    "hyperVGeneration": "V2",
    "endOfLifeDate": "2030-01-01T00:00:00Z",
    "recommended": {"vCPUs": {"min": 1, "max": 64}, "memory": {"min": 2048, "max": 307720}},
}


def definition_properties(sku: str) -> dict:
    return {**PROPERTIES, "identifier": {"publisher": "Bench", "offer": "Ubuntu", "sku": sku}}


def template(count: int) -> dict:
    """A gallery and ``count`` definitions from one copy loop, the definitions' properties as the PUTs'."""
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "galleryName": {"type": "string"},
            "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
        },
        "resources": [
            {
                "type": "Microsoft.Compute/galleries",
                "apiVersion": GALLERY_API,
                "name": "[parameters('galleryName')]",
                "location": "[parameters('location')]",
                "properties": {"description": "Bench gallery"},
            },
            {
                "type": "Microsoft.Compute/galleries/images",
                "apiVersion": GALLERY_API,
                "name": "[concat(parameters('galleryName'), '/def', copyIndex())]",
                "location": "[parameters('location')]",
                "dependsOn": [
                    "[resourceId('Microsoft.Compute/galleries', parameters('galleryName'))]",
                ],
                "copy": {"name": "defs", "count": count},
                "properties": {
                    **PROPERTIES,
                    "identifier": {
                        "publisher": "Bench",
                        "offer": "Ubuntu",
                        "sku": "[concat('sku', copyIndex())]",
                    },
                },
            },
        ],
    }


class Bench:
    def __init__(self, count: int):
        from accounts import tokens
        from accounts.activity import Caller
        from accounts.models import Subscription
        from accounts.services import create_subscription, create_tenant, create_user

        self.count = count
        tenant = create_tenant("Bench Templates", "templates.bench.test")
        self.owner = create_user(tenant, "owner@templates.bench.test", None, "Publisher")
        self.caller = Caller(principal=self.owner, source="portal", client_ip="127.0.0.1")
        self.sub = create_subscription(Caller.system(), tenant, "Bench Templates", owner=self.owner)
        Subscription.objects.filter(pk=self.sub.pk).update(limit_definitions=1_000_000)
        self.sub.refresh_from_db()
        token = tokens.issue(self.owner, base=BASE)["access_token"]
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        self.client = Client()
        self.groups = 0

    def group(self, kind: str):
        from accounts.services import create_resource_group

        self.groups += 1
        return create_resource_group(self.caller, self.sub, f"{kind}-{self.groups}", LOCATION)

    def rg_url(self, rg) -> str:
        return f"/subscriptions/{self.sub.guid}/resourceGroups/{rg.name}/providers"

    def put(self, url: str, body: dict, expect=(200, 201)):
        r = self.client.put(url, json.dumps(body), content_type="application/json", **self.headers)
        if r.status_code not in expect:
            raise SystemExit(f"PUT {url} answered {r.status_code}: {r.content[:500]!r}")
        return r

    def puts(self, count: int) -> tuple[float, float]:
        """The gallery and ``count`` definitions PUT one after another: (seconds, this process's CPU seconds)."""
        rg = self.group("puts")
        gallery = f"{self.rg_url(rg)}/Microsoft.Compute/galleries/g{self.groups}"
        q = f"?api-version={GALLERY_API}"
        t0, c0 = time.perf_counter(), time.process_time()
        self.put(gallery + q, {"location": LOCATION, "properties": {"description": "Bench gallery"}})
        for i in range(count):
            self.put(
                f"{gallery}/images/def{i}{q}",
                {"location": LOCATION, "properties": definition_properties(f"sku{i}")},
            )
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        self.check_group(rg, count)
        return elapsed, cpu

    def deployment(self, count: int) -> tuple[float, float, int]:
        """One deployment of the copy-loop template, polled until Succeeded: (seconds, this process's CPU
        seconds, polls)."""
        rg = self.group("deploy")
        url = f"{self.rg_url(rg)}/Microsoft.Resources/deployments/bench?api-version={DEPLOYMENTS_API}"
        body = {
            "properties": {
                "mode": "Incremental",
                "template": template(count),
                "parameters": {"galleryName": {"value": f"g{self.groups}"}},
            }
        }
        t0, c0 = time.perf_counter(), time.process_time()
        r = self.put(url, body, expect=(201,))
        status_url = r.headers["Azure-AsyncOperation"].removeprefix(BASE)
        polls = 0
        while True:
            polls += 1
            s = self.client.get(status_url, **self.headers)
            if s.status_code != 200:
                raise SystemExit(f"GET {status_url} answered {s.status_code}: {s.content[:500]!r}")
            status = json.loads(s.content)["status"]
            if status == "Succeeded":
                break
            if status not in ("Accepted", "Running"):
                raise SystemExit(f"the deployment ended {status}: {s.content[:2000]!r}")
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        self.check_group(rg, count)
        d = json.loads(self.client.get(url, **self.headers).content)
        if d["properties"]["provisioningState"] != "Succeeded":
            raise SystemExit(f"the deployment is {d['properties']['provisioningState']}")
        # DeploymentOperations_ListByResourceGroup: no providers/Microsoft.Resources segment (resources.json)
        ops_url = url.replace("/providers/Microsoft.Resources/", "/").replace("/bench?", "/bench/operations?")
        ops = self.client.get(ops_url, **self.headers)
        if ops.status_code != 200 or len(json.loads(ops.content)["value"]) != count + 1:
            raise SystemExit(f"the deployment's operations: {ops.status_code} {ops.content[:500]!r}")
        return elapsed, cpu, polls

    def check_group(self, rg, count: int) -> None:
        from galleries.models import Gallery, GalleryImage

        galleries = Gallery.objects.filter(resource_group=rg).count()
        definitions = GalleryImage.objects.filter(resource_group=rg)
        skus = set(definitions.values_list("sku", flat=True))
        if galleries != 1 or len(skus) != count or skus != {f"sku{i}" for i in range(count)}:
            raise SystemExit(
                f"{rg.name}: {galleries} galleries, {len(skus)} definitions (expected 1, {count})"
            )


def _stages() -> list:
    """(label, function) whose cumulative time the profile prints; nested rows are part of the row above."""
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.utils import CursorWrapper
    from django.db.models.sql.compiler import SQLCompiler
    from rest_framework.views import APIView

    from accounts import tokens
    from galleries.api import deploying, views
    from galleries.arm import expand
    from galleries.services import definitions

    return [
        ("bearer sign-in (accounts.tokens.authenticate)", tokens.authenticate),
        ("DRF dispatch (every request's view)", APIView.dispatch),
        ("  deploying.start (the deployment's PUT)", deploying.start),
        ("    deploying.Runner.plan (the engine, with the body checks)", deploying.Runner.plan),
        ("      engine: galleries.arm.expand.expand", expand.expand),
        ("    deploying.advance", deploying.advance),
        ("      deploying._Run.resource (each resource)", deploying._Run.resource),
        ("        engine: PlannedResource.resolve (its body)", expand.PlannedResource.resolve),
        ("  views._Item.apply (the PUT's parsing, service call, checks)", views._Item.apply),
        ("    services.create_definition", definitions.create_definition),
        ("all queries: SQL compilation (SQLCompiler.as_sql)", SQLCompiler.as_sql),
        ("all queries: executing in the driver", CursorWrapper._execute),
        ("all commits (BaseDatabaseWrapper.commit)", BaseDatabaseWrapper.commit),
    ]


def profile(bench: Bench, count: int, top: int) -> None:
    """One more measurement of each side under cProfile: chosen stages' cumulative time side by side, and
    the deployment's hot spots by own time."""
    runs = {}
    for name, run in (("puts", bench.puts), ("deployment", bench.deployment)):
        prof = cProfile.Profile()
        prof.enable()
        elapsed = run(count)[0]
        prof.disable()
        runs[name] = (elapsed, prof)
    print(
        f"\nprofile of one more measurement of each side, {count} definitions (under the profiler: puts "
        f"{runs['puts'][0]:.2f} s, deployment {runs['deployment'][0]:.2f} s)"
    )
    print(f"  {'cumulative time of':<66} {'puts':>18} {'deployment':>18}")
    stats = {name: pstats.Stats(prof, stream=io.StringIO()).stats for name, (_, prof) in runs.items()}
    for label, func in _stages():
        code = inspect.unwrap(func).__code__  # commit is wrapped by @async_unsafe
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        cells = []
        for name in runs:
            calls, cum = (stats[name][key][1], stats[name][key][3]) if key in stats[name] else (0, 0.0)
            cells.append(f"{cum:7.3f} s {calls:5}x")
        print(f"    {label:<64} {cells[0]:>18} {cells[1]:>18}")
    out = io.StringIO()
    pstats.Stats(runs["deployment"][1], stream=out).sort_stats("tottime").print_stats(top)
    print(f"  the deployment's top {top} functions by own time:")
    for line in out.getvalue().splitlines():
        if line.strip() and ("ncalls" in line or line.lstrip()[:1].isdigit()):
            line = line.replace(str(_common.ROOT) + "/", "").replace(str(Path(sys.prefix)) + "/", "")
            print("   ", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="definitions per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements of each side (interleaved)")
    parser.add_argument("--warmup-count", type=int, default=10, help="definitions of the untimed warm-up")
    parser.add_argument(
        "--profile", action="store_true", help="profile one more measurement of each side (cProfile)"
    )
    parser.add_argument("--profile-top", type=int, default=30, help="functions listed by the profile")
    parser.add_argument("--smoke", action="store_true", help="a tiny run: 20 definitions, 1 repeat")
    args = parser.parse_args()
    if args.smoke:
        args.count, args.repeats, args.warmup_count = 20, 1, 3
    if args.count < 1 or args.repeats < 1:
        raise SystemExit("--count and --repeats must be at least 1")
    if connection.vendor == "postgresql":  # never the test suite's test_<name>
        connection.settings_dict["TEST"]["NAME"] = f"test_{connection.settings_dict['NAME']}_bench_templates"
    t0 = time.perf_counter()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        bench = Bench(args.count)
        print(
            f"database: {connection.vendor} ({connection.settings_dict['NAME']}), ready in "
            f"{time.perf_counter() - t0:.1f} s; {args.count} definitions, {args.repeats} repeats; gallery "
            f"api-version {GALLERY_API}, deployments {DEPLOYMENTS_API}",
            flush=True,
        )
        bench.puts(args.warmup_count)
        bench.deployment(args.warmup_count)
        puts, deployments, polls = [], [], []  # (seconds, CPU seconds) each
        n = args.count
        for i in range(args.repeats):
            puts.append(bench.puts(n))
            *took, polled = bench.deployment(n)
            deployments.append(tuple(took))
            polls.append(polled)
            (p, pc), (d, dc) = puts[-1], deployments[-1]
            print(
                f"  repeat {i + 1}: puts {p:.3f} s (CPU {pc:.3f} s; {p / (n + 1) * 1e3:.2f} ms per PUT), "
                f"deployment {d:.3f} s (CPU {dc:.3f} s; {polled} poll{'s' if polled > 1 else ''}), "
                f"ratio {d / p:.2f}",
                flush=True,
            )
        if args.profile:
            profile(bench, n, args.profile_top)
        med = statistics.median
        p, pc = med(t for t, _ in puts), med(c for _, c in puts)
        d, dc = med(t for t, _ in deployments), med(c for _, c in deployments)
        print(
            f"\nsummary — {connection.vendor}, 1 gallery + {n} definitions, median of {args.repeats} (interleaved)"
        )
        print(
            f"  {n + 1} PUTs one after another: {p:.3f} s (min {min(t for t, _ in puts):.3f}, max "
            f"{max(t for t, _ in puts):.3f}); CPU {pc:.3f} s; {p / (n + 1) * 1e3:.2f} ms per PUT"
        )
        print(
            f"  one deployment (PUT + {med(polls):g} poll): {d:.3f} s (min {min(t for t, _ in deployments):.3f}, "
            f"max {max(t for t, _ in deployments):.3f}); CPU {dc:.3f} s"
        )
        print(f"  CPU ratio deployment/puts = {dc / pc:.2f}")
        ratio = d / p
        print(
            f"  ratio deployment/puts = {ratio:.2f} (target <= 1.20: {'met' if ratio <= 1.2 else 'NOT met'})"
        )
        if args.smoke:
            print(
                "  (--smoke: a tiny size that checks the whole path; these figures are not the benchmark's)"
            )
    finally:
        connection.close()
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
