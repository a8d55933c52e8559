"""F15 limit enforcement cost as the count grows.

Creates image definitions in one subscription/region until one below the 1,000 limit and times the
creations at the start (counts 0–99) against those at the end (counts 900–999), in the same run,
on the configured database (SQLite by default; set DATABASE_URL for PostgreSQL). Also times a
refused creation at the limit. Prints the ratio end/start: ~1.0 means the check does not slow
down as the count grows.

    .venv/bin/python bench/limits.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PORTAL_VAR_DIR", tempfile.mkdtemp(prefix="sig-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases  # noqa: E402


def main() -> None:
    old = setup_databases(verbosity=0, interactive=False)
    try:
        call_command("migrate", verbosity=0)
        from accounts.activity import Caller
        from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
        from galleries import services
        from portal.errors import ServiceError

        tenant = create_tenant("Bench", "bench.test")
        caller = Caller(principal=create_user(tenant, "bench@bench.test", None))
        sub = create_subscription(caller, tenant, "Bench")
        rg = create_resource_group(caller, sub, "rg", "westeurope")
        gallery = services.create_gallery(caller, rg, "G")
        limit = sub.limit_definitions

        def create(i):
            connection.queries_log.clear()
            t0 = time.perf_counter()
            with CaptureQueriesContext(connection) as q:
                services.create_definition(
                    caller,
                    gallery,
                    f"d{i}",
                    publisher="P",
                    offer="O",
                    sku=f"S{i}",
                    os_type="Linux",
                    os_state="Generalized",
                )
            return time.perf_counter() - t0, len(q.captured_queries)

        timings = [create(i) for i in range(limit)]
        start, end = timings[:100], timings[-100:]
        t_start = statistics.median(t for t, _ in start)
        t_end = statistics.median(t for t, _ in end)
        t0 = time.perf_counter()
        try:
            services.create_definition(
                caller,
                gallery,
                "over",
                publisher="P",
                offer="O",
                sku="over",
                os_type="Linux",
                os_state="Generalized",
            )
            raise SystemExit("the limit was not enforced")
        except ServiceError as err:
            assert err.code == "QuotaExceeded"
        refused = time.perf_counter() - t0
        print(f"database: {connection.vendor}")
        print(
            f"definitions created: {limit} (the limit); the next one refused with QuotaExceeded in {refused * 1e3:.2f} ms"
        )
        print(
            f"median creation at counts 0-99:     {t_start * 1e3:.2f} ms, {max(q for _, q in start[1:])} queries"
        )
        print(f"median creation at counts 900-999: {t_end * 1e3:.2f} ms, {max(q for _, q in end)} queries")
        print(f"ratio end/start: {t_end / t_start:.2f}")
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
