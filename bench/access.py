"""The access filter's cost on the All Resources page (F12): filtered listing against the same listing
without the filter, at two sizes, in one run.

Two tenants are built in a database of their own: a large one (100,000 resources by default) and a
small one (1,000), each with 50 subscriptions (resource groups, galleries, image definitions, image
versions, managed images and snapshots) and one principal holding 1,000 role assignments at mixed
scopes (subscriptions, resource groups, galleries, definitions, versions) with mixed roles, spread
evenly over direct assignments and 20 groups the principal is a member of. Resource rows are
bulk-inserted with the ARM ids, ancestor columns, tenant, type and ``hidden`` flag the services would
write (``accounts.services.new_resource``), plus their typed child rows — ``bulk_create`` on SQLite, the
same rows by ``COPY`` on PostgreSQL (``bench/_copy_build.py``; ``bench/_build_time.py --verify`` compares
the two); assignments are bulk-inserted guardian rows on the roles' permissions.

For each size it times the home page's first page (50 rows, hidden types included, ordered by
``Lower("name"), "id"``, with the count for "1–50 of N"), built exactly as ``portal.views.home``
builds it:

- unfiltered: ``Resource.objects.filter(tenant=directory)`` + the Paginator;
- filtered: ``Resource.objects.restrict(user).filter(tenant=directory)`` + the Paginator, with a fresh
  principal object each run, so ``grants_for`` (the assignments read) is paid every time.

It prints the median of ``--runs`` runs after ``--warmup`` runs (variants interleaved), the ratio
filtered / unfiltered, and the query count of each variant at both sizes. Every variant's page and
count are checked against a reference computed in Python from the grants.

The database: the embedded default is ``var/bench/access.sqlite3`` (never the development database);
set ``DATABASE_URL`` for PostgreSQL, to a database of its own whose name contains "bench" (it is
wiped, as the SQLite file is): ``createdb -h 127.0.0.1 -U postgres sig_bench``.

    .venv/bin/python bench/access.py [--resources 100000] [--assignments 1000] [--runs 25] [--reuse] [--explain]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sig_bench .venv/bin/python bench/access.py

``--smoke`` runs the whole path at a tiny size in seconds (2,000 and 500 resources, 100 assignments,
with ``--alternatives`` and ``--indexes``), in a throw-away SQLite database unless ``DATABASE_URL`` is
set; any failure exits non-zero.

``--reuse`` keeps the database and reuses tenants built with the same parameters (building 100,000
resources takes 15–30 s on SQLite, a few seconds on PostgreSQL). ``--explain`` prints the queries and their plans (SQLite ``EXPLAIN QUERY
PLAN``, PostgreSQL ``EXPLAIN (ANALYZE, BUFFERS)``). Experiments (copies, the project's code is not
changed), each checked against the same reference:

- ``--alternatives``: other forms of the filter's WHERE clause (``q_by_type``, ``q_union``), and the
  view's count without the annotations' joins;
- ``--indexes``: the large tenant again with an index on ``(tenant, lower(name), id)`` and/or a
  covering index on ``(tenant, subscription, resource_group, gallery, definition, type)``, created in
  the bench database and dropped afterwards;
- ``--analyze``: SQLite with planner statistics (ANALYZE), which the project never gathers.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import setup_django  # noqa: E402

setup_django("access", smoke=__name__ == "__main__" and "--smoke" in sys.argv[1:])

from django.contrib.auth.models import Permission  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.paginator import Paginator  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import F  # noqa: E402
from django.db.models.functions import Lower  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench import _copy_build  # noqa: E402
from bench._access_alternatives import ALTERNATIVES, INDEXES, alternative  # noqa: E402
from bench._copy_build import DEF, GAL, IMG, RG, SNAP, SUB, VER  # noqa: E402  (the resource types, once)

PAGE_SIZE = 50  # portal.views.PAGE_SIZE
#: Where the assignments go: share of all assignments per scope level.
SCOPE_MIX = ((SUB, 0.01), (RG, 0.05), (GAL, 0.14), (DEF, 0.35), (VER, 0.45))
ROLE_KEYS = ("owner", "contributor", "reader", "sharing_admin", "artifacts_publisher", "image_reader")


# --- The database ------------------------------------------------------------------------------------


def prepare_database(reuse: bool) -> None:
    name = str(connection.settings_dict["NAME"])
    if "bench" not in Path(name).name and "bench" not in Path(name).parent.name:
        raise SystemExit(
            f"refusing to use the database '{name}': its name must contain 'bench' (it is wiped). "
            "Create one: createdb -h 127.0.0.1 -U postgres sig_bench"
        )
    if not reuse:
        if connection.vendor == "sqlite":
            connection.close()
            for suffix in ("", "-wal", "-shm"):
                Path(name + suffix).unlink(missing_ok=True)
        else:
            with connection.cursor() as c:
                c.execute("DROP SCHEMA public CASCADE")
                c.execute("CREATE SCHEMA public")
    call_command("migrate", verbosity=0)


def insert_children(model, objs) -> None:
    """Insert the typed child rows of multi-table-inherited resources whose ``Resource`` rows exist
    (``bulk_create`` refuses multi-table inheritance; this is what it does for one table)."""
    fields = list(model._meta.local_concrete_fields)
    batch = max(1, min(1000, connection.ops.bulk_batch_size(fields, objs)))
    for i in range(0, len(objs), batch):
        model._base_manager._insert(objs[i : i + batch], fields=fields, using=connection.alias)


def shape(n: int, subs: int) -> dict:
    """How many of each type make ``n`` resources in ``subs`` subscriptions (for 100,000 in 50:
    500 resource groups, 500 galleries, 5,000 definitions, 75,000 versions, 18,950 images and snapshots)."""
    rg_per_sub = max(1, round(n * 0.005 / subs))
    rgs = subs * rg_per_sub
    defs_per_gallery = max(1, round(n * 0.05 / rgs))
    defs = rgs * defs_per_gallery
    versions_per_def = max(1, (n * 3 // 4) // defs)
    while versions_per_def > 1 and subs + 2 * rgs + defs * (1 + versions_per_def) > n:
        versions_per_def -= 1
    leaves = n - (subs + 2 * rgs + defs * (1 + versions_per_def))
    if leaves < 0:
        raise SystemExit(f"{n} resources are too few for {subs} subscriptions")
    return {
        "rg_per_sub": rg_per_sub,
        "defs_per_gallery": defs_per_gallery,
        "versions_per_def": versions_per_def,
        "leaves": leaves,
    }


def build_orm(label, tenant, owner, region, disk, guids, s) -> dict:
    """The resources of ``build`` by ``bulk_create`` of model objects (the first builder; SQLite's):
    returns the scopes by type (ids), the counts and the leaves."""
    from accounts.models import Resource, ResourceGroup, Subscription, sort_name_for
    from accounts.services import ancestor_ids
    from galleries.models import Gallery, GalleryImage, GalleryImageVersion, ManagedImage, Snapshot

    def rows(objs):
        return Resource.objects.bulk_create(objs, batch_size=1000)

    def resource(parent, arm_type, arm_id, name, hidden=False, location=region, display_name=""):
        ancestors = ancestor_ids(parent)  # what accounts.services.new_resource writes
        return Resource(
            type=arm_type,
            arm_id=arm_id,
            arm_key=arm_id.lower(),
            name=name,
            sort_name=sort_name_for(arm_type, name, arm_id, display_name),
            location=location,
            tags={},
            hidden=hidden,
            tenant=tenant,
            parent=parent,
            created_by=owner,
            modified_by=owner,
            **ancestors,
        )

    sub_rows = rows(
        [
            resource(
                None,
                SUB,
                f"/subscriptions/{g}",
                str(g),
                location=None,
                display_name=f"Bench {label} {i:02d}",
            )
            for i, g in enumerate(guids)
        ]
    )
    insert_children(
        Subscription,
        [
            Subscription(resource_id=r.pk, guid=g, display_name=f"Bench {label} {i:02d}")
            for i, (r, g) in enumerate(zip(sub_rows, guids, strict=True))
        ],
    )
    rg_rows = rows(
        [
            resource(sub, RG, f"{sub.arm_id}/resourceGroups/{name}", name)
            for sub in sub_rows
            for name in (f"RG-Images-{j:03d}" for j in range(s["rg_per_sub"]))
        ]
    )
    insert_children(ResourceGroup, [ResourceGroup(resource_id=r.pk) for r in rg_rows])
    gal_rows = rows(
        [
            resource(rg, GAL, f"{rg.arm_id}/providers/Microsoft.Compute/galleries/{name}", name)
            for k, rg in enumerate(rg_rows)
            for name in [f"Gallery{k:04d}"]
        ]
    )
    guid_of = {r.pk: g for r, g in zip(sub_rows, guids, strict=True)}
    insert_children(
        Gallery,
        [
            Gallery(resource_id=r.pk, unique_name=f"{guid_of[r.subscription_id]}-{r.name.upper()}")
            for r in gal_rows
        ],
    )
    def_rows = rows(
        [
            resource(gal, DEF, f"{gal.arm_id}/images/{name}", name, hidden=True)
            for gal in gal_rows
            for name in (f"Ubuntu-Server-{j:02d}" for j in range(s["defs_per_gallery"]))
        ]
    )
    insert_children(
        GalleryImage,
        [
            GalleryImage(
                resource_id=r.pk,
                publisher="Bench",
                offer="Ubuntu",
                sku=r.name,
                os_type="Linux",
                os_state="Generalized",
                identifier_key=GalleryImage.make_identifier_key(r.gallery_id, "Bench", "Ubuntu", r.name),
            )
            for r in def_rows
        ],
    )
    leaf_rows = rows(
        [
            resource(
                rg_rows[i % len(rg_rows)],
                IMG if i % 2 == 0 else SNAP,
                f"{rg_rows[i % len(rg_rows)].arm_id}/providers/Microsoft.Compute/"
                + (f"images/img-Web-{i:05d}" if i % 2 == 0 else f"snapshots/snap-Db-{i:05d}"),
                f"img-Web-{i:05d}" if i % 2 == 0 else f"snap-Db-{i:05d}",
            )
            for i in range(s["leaves"])
        ]
    )
    insert_children(
        ManagedImage,
        [
            ManagedImage(resource_id=r.pk, os_type="Linux", os_disk=disk, source_uri="")
            for r in leaf_rows
            if r.type == IMG
        ],
    )
    insert_children(
        Snapshot,
        [
            Snapshot(resource_id=r.pk, os_type="Linux", disk=disk, source_uri="")
            for r in leaf_rows
            if r.type == SNAP
        ],
    )
    ver_rows = []
    for start in range(0, len(def_rows), 500):  # keeps the objects in memory bounded
        chunk = rows(
            [
                resource(d, VER, f"{d.arm_id}/versions/1.0.{p}", f"1.0.{p}", hidden=True)
                for d in def_rows[start : start + 500]
                for p in range(s["versions_per_def"])
            ]
        )
        insert_children(
            GalleryImageVersion,
            [
                GalleryImageVersion(
                    resource_id=r.pk,
                    major=1,
                    minor=0,
                    patch=int(r.name.rsplit(".", 1)[1]),
                    provisioning_state="Succeeded",
                    source_arm_id=r.arm_id.split("/providers/")[0]
                    + "/providers/Microsoft.Compute/images/src",
                )
                for r in chunk
            ],
        )
        ver_rows.extend(r.pk for r in chunk)
    return {
        "scopes": {
            SUB: [r.pk for r in sub_rows],
            RG: [r.pk for r in rg_rows],
            GAL: [r.pk for r in gal_rows],
            DEF: [r.pk for r in def_rows],
            VER: ver_rows,
        },
        "counts": {"resource groups": len(rg_rows), "galleries": len(gal_rows), "definitions": len(def_rows)},
        "leaves": len(leaf_rows),
        "seconds": {},
    }


def build(label: str, n: int, subs: int, n_assignments: int, n_groups: int, seed: int, method: str = ""):
    """One tenant with ``n`` resources and a principal with ``n_assignments`` assignments. The resource
    rows are written by ``method``: "orm" (``bulk_create`` of model objects, below) or "copy"
    (``bench/_copy_build.py``: the same rows by PostgreSQL ``COPY``, indexes built after the load); by
    default "copy" on PostgreSQL, "orm" on SQLite."""
    from accounts.models import GroupRoleAssignment, Resource, UserRoleAssignment
    from accounts.roles import ROLE_BY_KEY
    from accounts.services import create_group, create_tenant, create_user
    from galleries.models import Region, StoredDisk

    method = method or ("copy" if connection.vendor == "postgresql" else "orm")

    domain = f"{label}-r{n}-s{subs}-a{n_assignments}-g{n_groups}-x{seed}.bench.test"
    rnd = random.Random(domain)  # the same data for the same parameters
    t0 = time.perf_counter()
    with transaction.atomic():
        tenant = create_tenant(f"Bench {label}", domain)
        principal = create_user(tenant, f"principal@{domain}", None, "Bench principal")
        owner = create_user(tenant, f"owner@{domain}", None, "Subscription owner")
        groups = [create_group(tenant, f"Group {i:02d}", members=[principal]) for i in range(n_groups)]
        region = Region.objects.get(name="westeurope")
        disk = StoredDisk.objects.create(
            region=region, path=f"bench/{domain}/shared.vhd", size_bytes=512, sha256="0" * 64
        )
        s = shape(n, subs)

        guids = [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(subs)]
        if method == "copy":
            built = _copy_build.load(label, tenant, owner, region, disk, guids, s)
        else:
            built = build_orm(label, tenant, owner, region, disk, guids, s)

        # Assignments: the subscriptions' owner (what create_subscription grants), then the principal's.
        perms = {
            key: Permission.objects.get(
                codename=ROLE_BY_KEY[key].codename, content_type__app_label="accounts"
            )
            for key in ROLE_KEYS
        }
        UserRoleAssignment.objects.bulk_create(
            UserRoleAssignment.with_scopes(
                [
                    UserRoleAssignment(user=owner, permission=perms["owner"], content_object_id=pk)
                    for pk in built["scopes"][SUB]
                ]
            )
        )
        scopes = built["scopes"]
        plan = []
        for arm_type, share in SCOPE_MIX:
            plan += [arm_type] * round(n_assignments * share)
        plan = (plan + [VER] * n_assignments)[:n_assignments]
        assignees = [None] + [g.pk for g in groups]  # None: the principal itself (direct)
        seen, users, grps = set(), [], []
        for i, arm_type in enumerate(plan):
            who = assignees[i % len(assignees)]
            while True:
                key = (who, rnd.choice(ROLE_KEYS), rnd.choice(scopes[arm_type]))
                if key not in seen:
                    break
            seen.add(key)
            _, role_key, scope = key
            if who is None:
                users.append(
                    UserRoleAssignment(user=principal, permission=perms[role_key], content_object_id=scope)
                )
            else:
                grps.append(
                    GroupRoleAssignment(group_id=who, permission=perms[role_key], content_object_id=scope)
                )
        UserRoleAssignment.objects.bulk_create(UserRoleAssignment.with_scopes(users))
        GroupRoleAssignment.objects.bulk_create(GroupRoleAssignment.with_scopes(grps))
    total = Resource.objects.filter(tenant=tenant).count()
    assert total == n, (total, n)
    counts = built["counts"]
    phases = "".join(f", {name} {t:.1f} s" for name, t in built["seconds"].items() if isinstance(t, float))
    print(
        f"[{label}] built {total:,} resources ({subs} subscriptions, {counts['resource groups']} resource groups, "
        f"{counts['galleries']} galleries, {counts['definitions']} definitions, {len(scopes[VER])} versions, "
        f"{built['leaves']} images and snapshots), {len(users)} direct + {len(grps)} group assignments "
        f"through {n_groups} groups in {time.perf_counter() - t0:.1f} s ({method}{phases})",
        flush=True,
    )
    return tenant, principal


def find(label: str, n: int, subs: int, n_assignments: int, n_groups: int, seed: int):
    from accounts.models import Tenant, User

    domain = f"{label}-r{n}-s{subs}-a{n_assignments}-g{n_groups}-x{seed}.bench.test"
    tenant = Tenant.objects.filter(primary_domain=domain).first()
    if tenant is None:
        return None
    print(f"[{label}] reusing the tenant {domain}", flush=True)
    return tenant, User.objects.get(username=f"principal@{domain}")


def analyze(sqlite_statistics: bool) -> None:
    """PostgreSQL: what autovacuum would have done by now (statistics, visibility map). SQLite: by
    default no statistics — neither Django nor the project runs ANALYZE, so the planner works without
    them, as in production (leftovers of an earlier ``--analyze`` run are dropped); with
    ``--analyze``, ANALYZE first (an experiment: what planner statistics would change)."""
    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute("VACUUM ANALYZE")
            return
        if sqlite_statistics:
            c.execute("ANALYZE")
        else:
            c.execute("SELECT name FROM sqlite_master WHERE name LIKE 'sqlite_stat%'")
            for (table,) in c.fetchall():
                c.execute(f"DROP TABLE {table}")
    connection.close()  # statements prepared from now on see the (absent) statistics


# --- The listing, as portal.views.home builds it ---------------------------------------------------------


def first_page(qs, count_without_joins=False):
    """What ``home`` does after the access filter, with hidden types shown and no search: the first
    page of 50 and the count for "1–50 of N". ``count_without_joins`` (an experiment on the view, not what it
    does): count the queryset before the annotations, without their LEFT JOINs."""
    from portal.views import TYPE_LABELS, display_name

    base = qs
    qs = qs.select_related("location")
    qs = qs.annotate(
        rg_name=F("resource_group__name"),
        sub_display=F("as_subscription__display_name"),
    ).order_by(Lower("name"), "id")
    paginator = Paginator(qs, PAGE_SIZE)
    if count_without_joins:
        paginator.count = base.count()
    page = paginator.get_page(None)
    ids = []
    for r in page.object_list:
        r.type_label = TYPE_LABELS.get(r.type, r.type)
        r.display_name = display_name(r)
        ids.append(r.pk)
    return page.paginator.count, ids


def fresh(principal):
    """A new principal object, as each request loads it: no grants memo yet (the middleware gives it
    an empty one, so ``directories()`` and ``restrict()`` in the same request share one computation)."""
    from accounts.models import User

    user = User.objects.get(pk=principal.pk)
    user._access_memo = {}
    return user


def reference(principal, tenant):
    """The visible rows computed in Python from the grants (``Grants.allows``), in the database's own
    order of ``Lower(name), id`` (the collation is the database's): (count, first page ids)."""
    from accounts.access import grants_for
    from accounts.models import Resource
    from accounts.roles import Action

    grants = grants_for(fresh(principal))
    rows = (
        Resource.objects.filter(tenant=tenant)
        .order_by(Lower("name"), "id")
        .values_list("pk", "type", "subscription_id", "resource_group_id", "gallery_id", "definition_id")
    )
    visible = [
        pk
        for pk, arm_type, sub, rg, gal, d in rows.iterator(chunk_size=5000)
        if grants.allows(
            Action.READ,
            {
                "pk": pk,
                "subscription_id": sub,
                "resource_group_id": rg,
                "gallery_id": gal,
                "definition_id": d,
            },
            arm_type,
        )
    ]
    return len(visible), visible[:PAGE_SIZE]


def count_queries(fn):
    with CaptureQueriesContext(connection) as q:
        result = fn()
    return result, [x["sql"] for x in q.captured_queries]


def abbreviate(text: str) -> str:
    """Long id lists in SQL and plans, shortened to their length."""
    text = re.sub(r"\((\d+(?:, \d+){8,})\)", lambda m: f"(…{m.group(1).count(',') + 1} ids…)", text)
    return re.sub(r"'\{(\d+(?:,\d+){8,})\}'", lambda m: f"'{{…{m.group(1).count(',') + 1} ids…}}'", text)


def explain(sql: str) -> str:
    with connection.cursor() as c:
        if connection.vendor == "sqlite":
            c.execute("EXPLAIN QUERY PLAN " + sql)
            return "\n".join(f"    {row[-1]}" for row in c.fetchall())
        c.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(f"    {abbreviate(row[0])}" for row in c.fetchall())


def variants(tenant, args) -> dict:
    """name -> function(fresh principal) -> (count, first page ids)."""
    from accounts.models import Resource

    out = {
        "unfiltered": lambda user: first_page(Resource.objects.filter(tenant=tenant)),
        "filtered": lambda user: first_page(Resource.objects.restrict(user).filter(tenant=tenant)),
    }
    if args.alternatives:
        for name in ALTERNATIVES:
            where = alternative(name)
            out[f"filtered, {name}"] = lambda user, where=where: first_page(
                Resource.objects.filter(tenant=tenant).filter(where(user))
            )
        # Not the filter: the view's count without the annotations' joins, both ways.
        out["unfiltered, count without joins"] = lambda user: first_page(
            Resource.objects.filter(tenant=tenant), True
        )
        out["filtered, count without joins"] = lambda user: first_page(
            Resource.objects.restrict(user).filter(tenant=tenant), True
        )
    return out


def baseline(name: str) -> str:
    """What a filtered variant is compared with: the unfiltered listing built the same way."""
    return "unfiltered, count without joins" if name.endswith("count without joins") else "unfiltered"


def measure(label, tenant, principal, args, note="") -> dict:
    from accounts.access import grants_for
    from accounts.models import Resource

    timed = variants(tenant, args)
    timed["grants_for"] = lambda user: grants_for(user)
    # Loading the principal is not timed (every request loads it, filtered or not); each run gets a
    # fresh object, so nothing is memoized between runs.
    pool = [fresh(principal) for _ in range((args.runs + args.warmup + 1) * len(timed))]

    expected = reference(principal, tenant)
    out = {
        "label": label,
        "note": note,
        "resources": Resource.objects.filter(tenant=tenant).count(),
        "visible": expected[0],
        "queries": {},
        "times": {},
    }
    for name, fn in timed.items():
        result, sqls = count_queries(lambda fn=fn: fn(pool.pop()))
        out["queries"][name] = len(sqls)
        if name == "grants_for":
            continue
        if result != (expected if name.startswith("filtered") else (out["resources"], result[1])):
            raise SystemExit(f"[{label}] {name}: wrong rows ({result[0]} rows, expected {expected[0]})")
        if args.explain:
            print(f"\n[{label}{note}] {name}: {len(sqls)} queries")
            for sql in sqls:
                print(f"  - {abbreviate(sql)[:400]}")
                if "accounts_resource" in sql and ("COUNT(" in sql or "ORDER BY" in sql):
                    print(explain(sql))
    samples = {name: [] for name in timed}
    for i in range(args.warmup + args.runs):
        for name, fn in timed.items():
            user = pool.pop()
            t0 = time.perf_counter()
            fn(user)
            elapsed = time.perf_counter() - t0
            if i >= args.warmup:
                samples[name].append(elapsed)
    out["times"] = {name: statistics.median(v) for name, v in samples.items()}
    out["spread"] = {name: (min(v), max(v)) for name, v in samples.items()}
    # Each run's filtered time over the unfiltered time measured right before it: robust to drift.
    out["paired"] = {
        name: statistics.median(f / u for f, u in zip(v, samples[baseline(name)], strict=True))
        for name, v in samples.items()
        if name.startswith("filtered")
    }
    return out


def database_name() -> str:
    if connection.vendor == "postgresql":
        v = connection.pg_version
        return f"PostgreSQL {v // 10000}.{v % 100}"
    return f"SQLite {connection.Database.sqlite_version}"


def report(results, args) -> None:
    if connection.vendor == "postgresql":
        statistics_note = "statistics gathered (VACUUM ANALYZE) after the build"
    else:
        statistics_note = (
            "with planner statistics (ANALYZE)" if args.analyze else "no planner statistics, as in production"
        )
    print(f"\ndatabase: {database_name()} ({connection.settings_dict['NAME']}), {statistics_note}")
    print(
        f"medians of {args.runs} runs after {args.warmup} warm-up runs, variants interleaved; "
        "'paired' = median of each run's filtered/unfiltered"
    )
    for r in results:
        t = r["times"]
        print(
            f"\n[{r['label']}{r['note']}] {r['resources']:,} resources; the principal sees {r['visible']:,} "
            f"({r['visible'] / r['resources']:.0%}) through {args.assignments} assignments"
        )
        for name, value in t.items():
            lo, hi = r["spread"][name]
            ratio = ""
            if name in r["paired"]:
                ratio = f"  ratio {value / t[baseline(name)]:.2f} (paired {r['paired'][name]:.2f})"
            print(
                f"  {name:<40} {value * 1e3:8.2f} ms  (min {lo * 1e3:7.2f}, max {hi * 1e3:7.2f})"
                f"  {r['queries'][name]} queries{ratio}"
            )
    print("\nsummary")
    main_results = [r for r in results if not r["note"]]
    for r in results:
        t, q = r["times"], r["queries"]
        print(
            f"  {r['resources']:>7,} resources{r['note']}: unfiltered {t['unfiltered'] * 1e3:.2f} ms "
            f"({q['unfiltered']} queries), filtered {t['filtered'] * 1e3:.2f} ms ({q['filtered']} queries; "
            f"grants_for alone {t['grants_for'] * 1e3:.2f} ms, {q['grants_for']} queries), "
            f"ratio {t['filtered'] / t['unfiltered']:.2f} (paired {r['paired']['filtered']:.2f})"
        )
    counts = [r["queries"]["filtered"] for r in main_results]
    sizes = " / ".join(f"{c} at {r['resources']:,}" for c, r in zip(counts, main_results, strict=True))
    print(
        f"  query count of the filtered listing the same at every size: {'yes' if len(set(counts)) == 1 else 'NO'} "
        f"({sizes}); target ratio <= 1.5"
    )
    if args.smoke:
        print("  (--smoke: a tiny size that checks the whole path; these figures are not the benchmark's)")


def with_indexes(names):
    """Create the named extra indexes; returns a function dropping them."""

    def drop():
        with connection.cursor() as c:
            for name in names:
                c.execute(f"DROP INDEX IF EXISTS {INDEXES[name].split()[2]}")

    with connection.cursor() as c:
        for name in names:
            c.execute(INDEXES[name])
        if connection.vendor == "postgresql":
            c.execute("ANALYZE accounts_resource")
    return drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=100_000, help="resources in the large tenant")
    parser.add_argument("--small", type=int, default=1_000, help="resources in the small tenant (0: none)")
    parser.add_argument("--subscriptions", type=int, default=50)
    parser.add_argument("--assignments", type=int, default=1_000, help="the principal's assignments")
    parser.add_argument("--groups", type=int, default=20, help="groups the principal is a member of")
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="keep the database and reuse matching tenants")
    parser.add_argument("--explain", action="store_true", help="print the queries and their plans")
    parser.add_argument("--alternatives", action="store_true", help="also time other forms of the filter")
    parser.add_argument(
        "--analyze", action="store_true", help="SQLite: gather planner statistics (ANALYZE) before measuring"
    )
    parser.add_argument(
        "--indexes",
        action="store_true",
        help="also measure the large tenant with extra indexes (then dropped)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run in a throw-away database: 2,000 and 500 resources, 100 assignments, 3 runs, "
        "with --alternatives and --indexes",
    )
    args = parser.parse_args()
    if args.smoke:
        args.resources, args.small, args.subscriptions, args.assignments, args.groups = 2_000, 500, 5, 100, 5
        args.runs, args.warmup = 3, 1
        args.alternatives = args.indexes = True

    prepare_database(args.reuse)
    sizes = [("small", args.small)] if args.small else []
    sizes.append(("large", args.resources))
    built = []
    for label, n in sizes:
        spec = (label, n, args.subscriptions, args.assignments, args.groups, args.seed)
        found = find(*spec) if args.reuse else None
        built.append((label, *(found or build(*spec))))
    analyze(args.analyze)
    results = [measure(label, tenant, principal, args) for label, tenant, principal in built]
    if args.indexes:
        label, tenant, principal = built[-1]
        for names in (["name order"], ["ancestors"], ["name order", "ancestors"]):
            drop = with_indexes(names)
            try:
                results.append(measure(label, tenant, principal, args, note=f" + index {' + '.join(names)}"))
            finally:
                drop()
    report(results, args)


if __name__ == "__main__":
    main()
