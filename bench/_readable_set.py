"""Candidate representations of "the resources a principal may read" on PostgreSQL (issue 16 groundwork),
measured as the All Resources page's two queries — the first page (50 rows by ``sort_name, id``, as
``portal.views.ordered`` sorts) and the capped count (``portal.views.capped_count``: up to 1,051 rows) —
with PostgreSQL's own ``EXPLAIN (ANALYZE, BUFFERS)`` planning and execution times (median of ``RUNS``),
plus this process's CPU to build and compile the query, at 10, 100 and 1,000 of the principal's
assignments (its grants replayed in a fixed shuffled order, so the smaller sets are subsets).

Candidates (prototyped in the bench database only; the project's code is unchanged):

- ``restrict``: today's ``Grants.q()`` (IN lists of literal ids over the four ancestor columns and id,
  per class of types);
- ``array &&``: a column ``bench_anc bigint[]`` on every resource (its id and its ancestors' ids) with a
  GIN index, tested per class with ``bench_anc && ARRAY[scope ids]``;
- ``array && (one param)``: the same with the scope ids as one bound array parameter (the SQL text, hence
  its planning and the ORM's compiling, constant in the number of assignments);
- ``closure``: a table ``bench_closure (ancestor_id, resource_id)`` (every resource under each of its
  ancestors and itself), primary key ``(ancestor_id, resource_id)``, tested with
  ``id IN (SELECT resource_id FROM bench_closure WHERE ancestor_id = ANY(...))`` per class;
- ``unfiltered``: the tenant's rows, the baseline.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/i16_bench .venv/bin/python bench/_readable_set.py [--resources 100000] [--reuse]

Not part of ``make bench`` (the leading underscore): a diagnosis tool.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common  # noqa: E402

_common.setup_django("readable", smoke=False)

from django.db import connection  # noqa: E402
from django.db.models import BooleanField, F  # noqa: E402
from django.db.models.expressions import RawSQL  # noqa: E402

RUNS = 7
CAP = 1051  # (1 + ALL_RESOURCES_COUNT_AHEAD_PAGES) * PAGE_SIZE + 1


def classes(grants, action="read"):
    """Grants.q()'s classes: [(types, negate, scope ids kept)] — the same split and pruning, as data."""
    from accounts.roles import Action

    groups = grants.scopes.get(Action(action), {})
    if not groups:
        return []
    named = frozenset().union(*(t for t in groups if t is not None))
    by_sig: dict = defaultdict(set)
    for t in named:
        by_sig[frozenset(types for types in groups if types is not None and t in types)].add(t)
    if None in groups:
        by_sig[frozenset()] = set()
    out = []
    for signature, types in by_sig.items():
        ids: set = set()
        for key in (None, *signature):
            if key in groups:
                ids |= groups[key]["pk"]
        kept = sorted(s for s in ids if not any(a in ids for a in grants.scope_info[s][1]))
        if not kept:
            continue
        if types:
            out.append((sorted(types), False, kept))
        else:
            out.append((sorted(named), True, kept))
    return out


def where_sql(kind: str, parts) -> tuple[str, list]:
    sql, params = [], []
    for types, negate, ids in parts:
        type_test = (
            ("NOT " if negate else "")
            + '"accounts_resource"."type" IN ('
            + ", ".join(["%s"] * len(types))
            + ")"
        )
        params += types
        if kind == "array":
            test = f'"accounts_resource"."bench_anc" && ARRAY[{",".join(str(int(i)) for i in ids)}]::bigint[]'
        elif kind == "array-param":
            test = '"accounts_resource"."bench_anc" && %s::bigint[]'
            params.append(list(ids))
        elif kind == "closure":
            test = '"accounts_resource"."id" IN (SELECT "resource_id" FROM "bench_closure" WHERE "ancestor_id" = ANY(%s::bigint[]))'
            params.append(list(ids))
        else:
            raise KeyError(kind)
        sql.append(f"({type_test} AND {test})")
    return "(" + " OR ".join(sql) + ")", params


def queries(tenant, kind: str, grants):
    """(page SQL, count SQL) with the parameters inlined (mogrify), and the Python CPU to build them (µs)."""
    from accounts.models import Resource

    t0 = time.process_time()
    qs = Resource.objects.filter(tenant=tenant)
    if kind == "restrict":
        q = grants.q("read")
        qs = qs.filter(q)
    elif kind != "unfiltered":
        sql, params = where_sql(kind, classes(grants))
        qs = qs.filter(RawSQL(sql, params, output_field=BooleanField()))
    page = qs.order_by(F("sort_name").asc(nulls_last=True), "id").values_list("id")[:50]
    page_sql, page_params = page.query.sql_with_params()
    # The count as Django runs it: SELECT COUNT(*) FROM (SELECT ... LIMIT 1051) subquery.
    inner_sql, inner_params = qs.values_list("id")[:CAP].query.sql_with_params()
    build = (time.process_time() - t0) * 1e6
    with connection.cursor() as c:
        page_text = c.mogrify(page_sql, page_params)
        count_text = c.mogrify(f"SELECT COUNT(*) FROM ({inner_sql}) subquery", inner_params)
    if isinstance(page_text, bytes):
        page_text, count_text = page_text.decode(), count_text.decode()
    return page_text, count_text, build


def explain(sql: str) -> tuple[float, float, str]:
    with connection.cursor() as c:
        c.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        lines = [r[0] for r in c.fetchall()]
    text = "\n".join(lines)
    planning = float(re.search(r"Planning Time: ([\d.]+) ms", text).group(1))
    execution = float(re.search(r"Execution Time: ([\d.]+) ms", text).group(1))
    return planning, execution, text


def run(sql: str) -> list:
    with connection.cursor() as c:
        c.execute(sql)
        return c.fetchall()


def prepare_candidates(reuse: bool) -> None:
    with connection.cursor() as c:
        c.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name='accounts_resource' AND column_name='bench_anc'"
        )
        if c.fetchone() and reuse:
            return
        t0 = time.perf_counter()
        c.execute("DROP INDEX IF EXISTS bench_anc_gin")
        c.execute("ALTER TABLE accounts_resource DROP COLUMN IF EXISTS bench_anc")
        c.execute("ALTER TABLE accounts_resource ADD COLUMN bench_anc bigint[]")
        c.execute(
            "UPDATE accounts_resource SET bench_anc = array_remove(ARRAY[id, subscription_id, resource_group_id, "
            "gallery_id, definition_id]::bigint[], NULL)"
        )
        c.execute("CREATE INDEX bench_anc_gin ON accounts_resource USING gin (bench_anc)")
        t1 = time.perf_counter()
        c.execute("DROP TABLE IF EXISTS bench_closure")
        c.execute(
            "CREATE TABLE bench_closure (ancestor_id bigint NOT NULL, resource_id bigint NOT NULL, "
            "PRIMARY KEY (ancestor_id, resource_id))"
        )
        c.execute(
            "INSERT INTO bench_closure SELECT DISTINCT a, id FROM accounts_resource, unnest(bench_anc) AS a"
        )
        t2 = time.perf_counter()
        c.execute("VACUUM ANALYZE accounts_resource")
        c.execute("VACUUM ANALYZE bench_closure")
        c.execute(
            "SELECT pg_size_pretty(pg_relation_size('bench_anc_gin')), pg_size_pretty(pg_total_relation_size('bench_closure')), "
            "(SELECT count(*) FROM bench_closure)"
        )
        gin, closure, rows = c.fetchone()
    print(
        f"candidates built: array column + GIN {t1 - t0:.1f} s (index {gin}); closure table {t2 - t1:.1f} s "
        f"({rows:,} rows, {closure} with its key)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--show-plans", action="store_true")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("PostgreSQL only (set DATABASE_URL)")
    from accounts.access import Grants, grants_for

    access = _common.load_access_bench()
    access.prepare_database(args.reuse)
    spec = ("large", args.resources, 50, 1000, 20, 1)
    found = access.find(*spec) if args.reuse else None
    t0 = time.perf_counter()
    tenant, principal = found or access.build(*spec)
    if not found:
        print(f"built in {time.perf_counter() - t0:.1f} s", flush=True)
        access.analyze(False)
    prepare_candidates(args.reuse)

    # The principal's grants, replayed: the first k of its assignments in a fixed shuffled order.
    added = []
    original_add = Grants.add

    def recording(self, *a, **kw):
        added.append((a, kw))
        return original_add(self, *a, **kw)

    Grants.add = recording
    try:
        full = grants_for(access.fresh(principal))
    finally:
        Grants.add = original_add
    random.Random(16).shuffle(added)
    sets = {}
    for k in (10, 100, len(added)):
        g = Grants()
        for a, kw in added[:k]:
            g.add(*a, **kw)
        sets[k] = g
    del full

    kinds = ("unfiltered", "restrict", "array", "array-param", "closure")
    results = {}
    for k, grants in sets.items():
        reference = None
        for kind in kinds:
            page_sql, count_sql, _ = queries(tenant, kind, grants)
            page_rows, count_rows = run(page_sql), run(count_sql)
            if kind != "unfiltered":
                if reference is None:
                    reference = (page_rows, count_rows)
                elif (page_rows, count_rows) != reference:
                    raise SystemExit(f"{kind} at {k} assignments: other rows than restrict")
            samples = defaultdict(list)
            builds = []
            for _ in range(RUNS):
                page_sql, count_sql, build = queries(tenant, kind, grants)
                builds.append(build)
                for name, sql in (("page", page_sql), ("count", count_sql)):
                    p, e, plan = explain(sql)
                    samples[f"{name} plan"].append(p)
                    samples[f"{name} exec"].append(e)
            med = {name: statistics.median(v) for name, v in samples.items()}
            med["build"] = statistics.median(builds)
            med["sql KB"] = (len(page_sql) + len(count_sql)) / 1024
            med["count"] = count_rows[0][0]
            results[(k, kind)] = med
            if args.show_plans and k == len(added):
                print(f"\n--- {kind}, {k} assignments, count plan:\n{explain(count_sql)[2]}")
                print(f"--- page plan:\n{explain(page_sql)[2]}")
    print(
        f"\n{args.resources:,} resources; EXPLAIN (ANALYZE, BUFFERS), median of {RUNS}; times in ms; "
        "'build' = Python CPU to build and compile both queries (µs)"
    )
    print(
        f"{'assignments':>11} {'candidate':<12} {'count':>6} {'page plan':>10} {'page exec':>10} {'count plan':>11} "
        f"{'count exec':>11} {'total':>8} {'build µs':>9} {'SQL KB':>7}"
    )
    for (k, kind), m in results.items():
        total = m["page plan"] + m["page exec"] + m["count plan"] + m["count exec"]
        print(
            f"{k:>11} {kind:<12} {m['count']:>6} {m['page plan']:>10.2f} {m['page exec']:>10.2f} {m['count plan']:>11.2f} "
            f"{m['count exec']:>11.2f} {total:>8.2f} {m['build']:>9.0f} {m['sql KB']:>7.1f}"
        )


if __name__ == "__main__":
    main()
