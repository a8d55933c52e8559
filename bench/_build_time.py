"""How long ``bench/access.py``'s builder takes for one large tenant (issue 16), and a check that its two
ways of writing the resources make the same data — in a database of its own (name containing "bench";
wiped).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/i16_bench_1m .venv/bin/python bench/_build_time.py 1000000
    ... bench/_build_time.py 1000000 --method orm      # the first builder (bulk_create), timed per phase
    ... bench/_build_time.py --verify [10000]           # PostgreSQL: both builders, every row compared

Not part of ``make bench`` (the leading underscore): a diagnosis tool. The default method is the builder's
own default (``COPY`` on PostgreSQL, which prints its phases; ``bulk_create`` on SQLite). For ``orm`` the
phases are measured by wrapping ``QuerySet.bulk_create`` and ``bench/access.py``'s ``insert_children``
(wall clock and this process's CPU), so the builder itself is unchanged.

``--verify`` builds the same tenant twice in a freshly wiped database each time, once with ``bulk_create``
and once with ``COPY``, and compares: the row count of every table; every row of the tables the builder
writes (the resource rows, their typed child rows, the role assignments), column by column, ids
included (both start from a fresh sequence), timestamps only for being set (the ORM stamps each object,
``COPY`` one instant per build), as the assignments' random ``uuid4`` names (written by the code both share); and the definitions of every index and constraint of the schema (the
``COPY`` builder drops the loaded tables' and creates them again). Any difference exits non-zero.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common  # noqa: E402

_common.setup_django("build", smoke=False)

from django.db import connection  # noqa: E402
from django.db.models.query import QuerySet  # noqa: E402

from accounts.models import GroupRoleAssignment, UserRoleAssignment  # noqa: E402
from bench import _copy_build  # noqa: E402

SPEC = ("large", 50, 1000, 20, 1)  # bench/pages.py's: label, subscriptions, assignments, groups, seed
#: The tables the builder writes row by row: compared in full.
WRITTEN = [m._meta.db_table for m in (*_copy_build.MODELS, UserRoleAssignment, GroupRoleAssignment)]
#: Columns filled by a random default (``uuid4``) where the shared code writes the assignments (the
#: same code for both builders): compared for being set.
RANDOM = {
    m._meta.db_table: {f.column for f in m._meta.local_concrete_fields if f.default is uuid.uuid4}
    for m in (UserRoleAssignment, GroupRoleAssignment)
}


def build(access, n: int, method: str):
    label, subs, n_assignments, n_groups, seed = SPEC
    return access.build(label, n, subs, n_assignments, n_groups, seed, method=method)


def timed(access, n: int, method: str) -> None:
    t0 = time.perf_counter()
    access.prepare_database(False)
    print(f"database wiped and migrated in {time.perf_counter() - t0:.1f} s", flush=True)
    spent: dict = defaultdict(lambda: [0.0, 0.0, 0])
    original_bulk = QuerySet.bulk_create
    original_children = access.insert_children

    def bulk_create(self, objs, *a, **kw):
        w, c = time.perf_counter(), time.process_time()
        try:
            return original_bulk(self, objs, *a, **kw)
        finally:
            entry = spent[f"bulk_create {self.model.__name__}"]
            entry[0] += time.perf_counter() - w
            entry[1] += time.process_time() - c
            entry[2] += len(objs)

    def insert_children(model, objs):
        w, c = time.perf_counter(), time.process_time()
        try:
            return original_children(model, objs)
        finally:
            entry = spent[f"children {model.__name__}"]
            entry[0] += time.perf_counter() - w
            entry[1] += time.process_time() - c
            entry[2] += len(objs)

    QuerySet.bulk_create = bulk_create
    access.insert_children = insert_children
    w, c = time.perf_counter(), time.process_time()
    build(access, n, method)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    QuerySet.bulk_create = original_bulk
    access.insert_children = original_children
    print(f"\nbuild of {n:,} resources: {wall:.1f} s wall, {cpu:.1f} s CPU in this process")
    for name, (pw, pc, rows) in sorted(spent.items(), key=lambda x: -x[1][0]):
        print(f"  {name:<36} {rows:>9,} rows {pw:8.1f} s wall {pc:8.1f} s CPU")
    inside = sum(v[0] for v in spent.values())
    print(f"  {'outside those (COPY: phases above)':<36} {'':>14} {wall - inside:8.1f} s wall")
    w, c = time.perf_counter(), time.process_time()
    access.analyze(False)
    print(f"VACUUM ANALYZE: {time.perf_counter() - w:.1f} s wall")
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*), pg_size_pretty(pg_total_relation_size('accounts_resource')) FROM accounts_resource"
            )
            print("accounts_resource rows, size with indexes:", cur.fetchone())
            cur.execute(
                "SELECT indexrelid::regclass, pg_size_pretty(pg_relation_size(indexrelid)) FROM pg_index "
                "WHERE indrelid = 'accounts_resource'::regclass"
            )
            for row in cur.fetchall():
                print("  index", *row)


def snapshot() -> dict:
    """Every table's row count, the written tables' rows (timestamps as "set"/None) and the schema's
    index and constraint definitions."""
    state = {"counts": {}, "rows": {}, "columns": {}}
    with connection.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        for (table,) in cur.fetchall():
            cur.execute(f'SELECT count(*) FROM "{table}"')
            state["counts"][table] = cur.fetchone()[0]
        for table in WRITTEN:
            cur.execute(f'SELECT * FROM "{table}" ORDER BY 1')
            columns = [d[0] for d in cur.description]
            state["columns"][table] = columns
            masked = [c in RANDOM.get(table, ()) for c in columns]
            state["rows"][table] = [
                tuple(
                    "set" if v is not None and (m or isinstance(v, datetime.datetime)) else v
                    for v, m in zip(row, masked, strict=True)
                )
                for row in cur.fetchall()
            ]
        cur.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2"
        )
        state["indexes"] = cur.fetchall()
        cur.execute(
            "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
        )
        state["constraints"] = cur.fetchall()
    return state


def verify(access, n: int) -> None:
    if connection.vendor != "postgresql":
        raise SystemExit(
            "--verify compares the PostgreSQL COPY builder with bulk_create: set DATABASE_URL to a PostgreSQL database"
        )
    states = {}
    for method in ("orm", "copy"):
        access.prepare_database(False)
        w = time.perf_counter()
        build(access, n, method)
        print(f"  {method}: {time.perf_counter() - w:.1f} s", flush=True)
        states[method] = snapshot()
    old, new = states["orm"], states["copy"]
    problems = []
    if old["counts"] != new["counts"]:
        problems += [
            f"{t}: {old['counts'].get(t)} rows by bulk_create, {new['counts'].get(t)} by COPY"
            for t in sorted(set(old["counts"]) | set(new["counts"]))
            if old["counts"].get(t) != new["counts"].get(t)
        ]
    print(
        f"\nrow counts: {len(old['counts'])} tables, {'equal' if old['counts'] == new['counts'] else 'DIFFERENT'}"
    )
    for table in WRITTEN:
        a, b = old["rows"][table], new["rows"][table]
        columns = old["columns"][table]
        if columns != new["columns"][table]:
            problems.append(f"{table}: columns {columns} vs {new['columns'][table]}")
            continue
        differing = [(x, y) for x, y in zip(a, b, strict=False) if x != y]
        if len(a) != len(b) or differing:
            problems.append(f"{table}: {len(differing)} rows differ (of {len(a)} and {len(b)})")
            for x, y in differing[:3]:
                diff = {c: (u, v) for c, u, v in zip(columns, x, y, strict=True) if u != v}
                problems.append(f"    id {x[0]}: {diff}")
        print(
            f"  {table:<32} {len(a):>7,} rows x {len(columns):>2} columns: {'equal' if a == b else 'DIFFERENT'}"
        )
    sample = old["rows"]["accounts_resource"]
    for row in (sample[0], sample[len(sample) // 2], sample[-1]):
        print(
            "    sample accounts_resource", dict(zip(old["columns"]["accounts_resource"], row, strict=True))
        )
    for key in ("indexes", "constraints"):
        same = old[key] == new[key]
        print(f"  {key}: {len(old[key])} definitions, {'equal' if same else 'DIFFERENT'}")
        if not same:
            problems += [f"{key}: only after bulk_create: {d}" for d in sorted(set(old[key]) - set(new[key]))]
            problems += [f"{key}: only after COPY: {d}" for d in sorted(set(new[key]) - set(old[key]))]
    if problems:
        raise SystemExit("the builders differ:\n" + "\n".join(problems))
    print(f"\nverified: at {n:,} resources the COPY builder writes the same rows as bulk_create")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("resources", type=int, nargs="?", default=None)
    parser.add_argument(
        "--method", choices=["orm", "copy"], default="", help="the builder's default when absent"
    )
    parser.add_argument("--verify", action="store_true", help="both builders at 10,000 (or N), compared")
    args = parser.parse_args()
    access = _common.load_access_bench()
    if args.verify:
        verify(access, args.resources or 10_000)
    else:
        timed(access, args.resources or 1_000_000, args.method)


if __name__ == "__main__":
    main()
