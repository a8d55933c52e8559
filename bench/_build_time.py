"""How long ``bench/access.py``'s builder takes for one large tenant (issue 16 groundwork): the current
builder, timed as a whole and per phase (rows built in Python, ``bulk_create`` of the resource rows, the
typed child rows, the assignments, the commit), in a database of its own (name containing "bench"; wiped).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/i16_bench_1m .venv/bin/python bench/_build_time.py 1000000

Not part of ``make bench`` (the leading underscore): a diagnosis tool. The phases are measured by wrapping
``QuerySet.bulk_create`` and ``bench/access.py``'s ``insert_children`` (wall clock and this process's CPU),
so the builder itself is unchanged.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common  # noqa: E402

_common.setup_django("build", smoke=False)

from django.db import connection  # noqa: E402
from django.db.models.query import QuerySet  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    access = _common.load_access_bench()
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
    access.build("large", n, 50, 1000, 20, 1)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    print(f"\nbuild of {n:,} resources: {wall:.1f} s wall, {cpu:.1f} s CPU in this process")
    for name, (pw, pc, rows) in sorted(spent.items(), key=lambda x: -x[1][0]):
        print(f"  {name:<36} {rows:>9,} rows {pw:8.1f} s wall {pc:8.1f} s CPU")
    inside = sum(v[0] for v in spent.values())
    print(f"  {'the rest (Python objects, commit)':<36} {'':>14} {wall - inside:8.1f} s wall")
    w = time.perf_counter()
    access.analyze(False)
    print(f"VACUUM ANALYZE: {time.perf_counter() - w:.1f} s")
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


if __name__ == "__main__":
    main()
