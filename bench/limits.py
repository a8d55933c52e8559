"""F15 limit enforcement cost as the count grows.

Creates image definitions in one subscription/region until one below the 1,000 limit and times the
creations at the start (counts 0–99) against those at the end (counts 900–999), in the same run,
on the configured database (SQLite by default; set DATABASE_URL for PostgreSQL). Also times a
refused creation at the limit. Prints the ratio end/start: ~1.0 means the check does not slow
down as the count grows.

The database is created by Django's ``setup_databases`` and dropped at the end: SQLite in a temporary
folder, or on PostgreSQL ``test_<name>_bench_limits`` (never the test suite's ``test_<name>``).
The subscription is created by the system (set-up) with the bench's user as its Owner, who then
creates the gallery and the definitions, as a publisher would.

    .venv/bin/python bench/limits.py [--limit 1000] [--window 100]
    .venv/bin/python bench/limits.py --smoke     # a limit of 200, windows of 50: the same path in seconds
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
VAR = None if os.environ.get("PORTAL_VAR_DIR") else tempfile.mkdtemp(prefix="sig-bench-limits-")
if VAR:
    os.environ["PORTAL_VAR_DIR"] = VAR
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="the subscription's definition limit (default: the product's, 1,000)",
    )
    parser.add_argument("--window", type=int, default=100, help="creations timed at the start and at the end")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (limit 200, windows of 50)")
    args = parser.parse_args()
    if args.smoke:
        args.limit, args.window = args.limit or 200, min(args.window, 50)
    if connection.vendor == "postgresql":  # never the test suite's test_<name>
        connection.settings_dict["TEST"]["NAME"] = f"test_{connection.settings_dict['NAME']}_bench_limits"
    old = setup_databases(verbosity=0, interactive=False)
    try:
        from accounts.activity import Caller
        from accounts.models import Subscription
        from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
        from galleries import services
        from portal.core.errors import ServiceError

        tenant = create_tenant("Bench", "bench.test")
        user = create_user(tenant, "bench@bench.test", None)
        caller = Caller(principal=user, source="portal", client_ip="127.0.0.1")
        sub = create_subscription(Caller.system(), tenant, "Bench", owner=user)
        if args.limit is not None:  # what an operator does in the admin
            Subscription.objects.filter(pk=sub.pk).update(limit_definitions=args.limit)
            sub.refresh_from_db()
        rg = create_resource_group(caller, sub, "rg", "westeurope")
        gallery = services.create_gallery(caller, rg, "G")
        limit = sub.limit_definitions
        window = args.window
        if limit < 2 * window:
            raise SystemExit(f"a limit of {limit} is too small for two windows of {window}")

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
        start, end = timings[:window], timings[-window:]
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
        head, tail = f"counts 0-{window - 1}:", f"counts {limit - window}-{limit - 1}:"
        width = max(len(head), len(tail))
        print(
            f"median creation at {head:<{width}} {t_start * 1e3:.2f} ms, {max(q for _, q in start[1:])} queries"
        )
        print(f"median creation at {tail:<{width}} {t_end * 1e3:.2f} ms, {max(q for _, q in end)} queries")
        print(f"ratio end/start: {t_end / t_start:.2f}")
    finally:
        teardown_databases(old, verbosity=0)
        if VAR:
            shutil.rmtree(VAR, ignore_errors=True)


if __name__ == "__main__":
    main()
