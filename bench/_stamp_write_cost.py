"""What the replication stamp's trigger costs the replication path (issue 16): a worker's progress write
(``galleries.replication.Progress.flush``: bytes done, lease expiry, updated_at, one autocommit UPDATE of
one target region, at most once a second per region while copying) timed with the trigger and without
it, in alternating blocks, in one process. Uses the poll's database of ``bench/_request_cpu.py poll``
(run that first; the same ``DATABASE_URL`` / ``REQUEST_CPU_DIR``).

    .venv/bin/python bench/_stamp_write_cost.py [N]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/i16 .venv/bin/python bench/_stamp_write_cost.py

Without the trigger: on PostgreSQL ``ALTER TABLE … DISABLE TRIGGER``; on SQLite the trigger is dropped
and created again from the migration's own definition. Prints wall time per write (median of the
blocks) and the difference.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import timedelta
from importlib import import_module
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
BLOCKS = 8
STATE = Path(os.environ.get("REQUEST_CPU_DIR", "/tmp/sig-bench-request-cpu"))


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{STATE / 'db' / 'poll.sqlite3'}")
    os.environ["PORTAL_VAR_DIR"] = str(STATE / "var-poll")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.test"
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from galleries.models import TargetRegion

    migration = import_module("galleries.migrations.0012_replication_stamp")
    target = TargetRegion.objects.order_by("pk").values_list("pk", flat=True).first()
    if target is None:
        raise SystemExit("no target region: run bench/_request_cpu.py poll first")
    table = "galleries_targetregion"

    def trigger(on: bool) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                verb = "ENABLE" if on else "DISABLE"
                cursor.execute(f"ALTER TABLE {table} {verb} TRIGGER {table}_replication_stamp")
                return
            cursor.execute(f"SELECT 1 FROM sqlite_master WHERE name = '{table}_replication_stamp_update'")
            if (cursor.fetchone() is not None) == on:
                return
            if on:
                stamps = migration.STAMPS[table]["UPDATE"]
                body = " ".join(f"{migration._statement('sqlite', d, c)};" for d, c in stamps)
                cursor.execute(
                    f"CREATE TRIGGER {table}_replication_stamp_update AFTER {migration._event(table, 'UPDATE')} "
                    f"ON {table} FOR EACH ROW BEGIN {body} END"
                )
            else:
                cursor.execute(f"DROP TRIGGER {table}_replication_stamp_update")

    def writes() -> float:
        t0 = time.perf_counter()
        for i in range(N):
            now = timezone.now()
            TargetRegion.objects.filter(pk=target).update(
                bytes_done=i, lease_expires_at=now + timedelta(seconds=60), updated_at=now
            )
        return (time.perf_counter() - t0) / N * 1e6

    spent: dict[bool, list[float]] = {True: [], False: []}
    writes()  # warm
    try:
        for block in range(BLOCKS):
            on = block % 2 == 0
            trigger(on)
            spent[on].append(writes())
    finally:
        trigger(True)  # leave the trigger in place whatever happened
    with_, without = statistics.median(spent[True]), statistics.median(spent[False])
    print(
        f"{connection.vendor}: a progress write (autocommit UPDATE of one target region), {BLOCKS // 2} blocks of "
        f"{N} each way: with the trigger {with_:.1f} µs, without {without:.1f} µs: +{with_ - without:.1f} µs "
        f"({with_ / without:.2f}x)"
    )


if __name__ == "__main__":
    main()
