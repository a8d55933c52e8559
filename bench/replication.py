"""Replication throughput against plain parallel file copies of the same bytes (F9, N3).

A version with a 1 GiB OS disk and a 256 MiB data disk is replicated to three regions — West Europe
(the source region, 2 replicas), East US (1) and North Europe (Standard_ZRS, 1 replica, which keeps
a copy in each of its 3 zones) — by N real Celery worker processes started the way ``manage.py up``
starts them: each ``celery -A portal worker -P <settings.CELERY_WORKER_POOL> -c 1`` (threads on the
embedded broker, prefork on Redis/RabbitMQ) with its own ``-n`` name, consuming the default queue and
the bench's region queues (N = ``--workers``, 2 by default, as ``make run``). Timed from the moment the
work is enqueued to every region Completed with every copy verified.

In the same round, right after, on the same disk, N ``cp`` processes run in parallel over the same
copies — each source file copied as many times as the workers made replicas of it, the copies split
between the N by size (largest first, each to the least loaded), each of the N running its share one
``cp`` after the other — followed by ``sync``. So both sides copy the same bytes with the same number
of processes, and the ratio measures the replication engine's overhead (hashing, verification,
fsync, leases, progress, the broker), not how much a second process gains on this disk. Disk
throughput on a shared machine drifts from minute to minute, so this is done in rounds (ours, then
cp) and the median ratio ours / cp is reported with each round's times.

The database is the configured one (``portal.settings.test``: SQLite in a temporary folder, or
``DATABASE_URL``), created by Django's ``setup_databases`` and dropped at the end — on PostgreSQL as
``test_<name>_bench_replication``, so a test run on the same server (``test_<name>``) is left alone. The
broker is the configured one (the embedded ``portal.broker`` in the same temporary folder, or
``CELERY_BROKER_URL``).

    .venv/bin/python bench/replication.py [--os-mib 1024] [--data-mib 256] [--rounds 3] [--workers 2]
    .venv/bin/python bench/replication.py --smoke     # 8 + 4 MiB, 2 rounds: the whole path in seconds
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VAR = Path(tempfile.mkdtemp(prefix="sig-bench-repl-", dir=os.environ.get("BENCH_DIR") or None))
os.environ.setdefault("PORTAL_VAR_DIR", str(VAR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from bench._common import build_source, replicate  # noqa: E402
from portal.management.commands.up import add_workers_argument, worker_command  # noqa: E402

REGIONS = ["westeurope", "eastus", "northeurope"]


def database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    """One ``celery worker`` process as ``manage.py up`` starts it (its output kept)."""

    def __init__(self, index: int, queues: list[str], env: dict):
        self.name = f"bench-{index}-{os.getpid()}"
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            worker_command(queues, f"{self.name}@%h"),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def ready(self) -> bool:
        return any(" ready." in line for line in self.lines)

    def failed(self) -> str | None:
        if self.proc.poll() is None:
            return None
        return f"the worker {self.name} exited ({self.proc.returncode}):\n" + "".join(self.lines[-40:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # warm shutdown; a no-op when already asked
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def wait(condition, workers: list[Worker], timeout: float, what: str) -> None:
    """Poll ``condition`` every 50 ms; fail loudly when a worker dies or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        for w in workers:
            if problem := w.failed():
                raise SystemExit(f"while waiting for {what}: {problem}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def split(jobs: list[tuple[Path, Path]], lanes: int) -> list[list[tuple[Path, Path]]]:
    """The copies split between ``lanes`` processes by size: largest first, each to the least loaded."""
    out: list[list[tuple[Path, Path]]] = [[] for _ in range(lanes)]
    load = [0] * lanes
    for src, dst in sorted(jobs, key=lambda j: -j[0].stat().st_size):
        i = load.index(min(load))
        out[i].append((src, dst))
        load[i] += src.stat().st_size
    return out


def parallel_cp(jobs: list[tuple[Path, Path]], lanes: int) -> float:
    """``lanes`` cp processes at a time over ``jobs``, then sync: the seconds it took."""
    errors: list[str] = []

    def lane(share):
        for src, dst in share:
            r = subprocess.run(["cp", str(src), str(dst)], capture_output=True, text=True)
            if r.returncode:
                errors.append(f"cp {src} {dst}: {r.stderr.strip()}")
                return

    threads = [threading.Thread(target=lane, args=(share,)) for share in split(jobs, lanes) if share]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    subprocess.run(["sync"], check=True)
    elapsed = time.perf_counter() - t0
    if errors:
        raise SystemExit("\n".join(errors))
    return elapsed


def main() -> None:  # noqa: PLR0915 -- one linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--os-mib", type=int, default=1024)
    parser.add_argument("--data-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3, help="ours then cp, this many times")
    add_workers_argument(parser, "worker processes, and cp processes (make run starts 2 workers)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a round may take before failing")
    parser.add_argument("--verbose", action="store_true", help="print the workers' task log lines")
    parser.add_argument("--smoke", action="store_true", help="a tiny run: 8 + 4 MiB disks, 2 rounds")
    args = parser.parse_args()
    if args.smoke:
        args.os_mib, args.data_mib, args.rounds, args.timeout = 8, 4, 2, 120
    if args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    settings.REGION_STORAGE_ROOT = VAR / "regions"
    if connection.vendor == "postgresql":  # never the test suite's test_<name>
        connection.settings_dict["TEST"]["NAME"] = (
            f"test_{connection.settings_dict['NAME']}_bench_replication"
        )
    old = setup_databases(verbosity=0, interactive=False)
    workers: list[Worker] = []
    try:
        from galleries import services
        from galleries.models import GalleryImageVersion, Replica, TargetRegion
        from galleries.storage import RegionStore
        from portal.core.queues import region_queue

        # Set-up by the system (the subscription, with the bench's user as its Owner); then the
        # Owner publishes, as a person would.
        caller, image, definition = build_source(
            "Bench",
            "bench.test",
            args.os_mib,
            args.data_mib,
            names=("G", "d"),
            source="portal",
            client_ip="127.0.0.1",
        )
        sources = [RegionStore(image.os_disk.region).path(image.os_disk.path)] + [
            RegionStore(d.disk.region).path(d.disk.path) for d in image.data_disks.all()
        ]
        total = sum(p.stat().st_size for p in sources)

        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url(),
            "REGION_STORAGE_ROOT": str(settings.REGION_STORAGE_ROOT),
            "REPLICATION_MAX_BYTES_PER_SECOND": "0",  # full speed, whatever the environment says
        }
        queues = [settings.CELERY_TASK_DEFAULT_QUEUE, *(region_queue(r) for r in REGIONS)]
        workers = [Worker(i, queues, env) for i in range(1, args.workers + 1)]
        # The workers' start-up is not timed.
        wait(lambda: all(w.ready for w in workers), workers, 60, "the workers to start")

        results = []
        for rnd in range(args.rounds):
            # Ours: enqueue -> every region Completed with every copy verified.
            subprocess.run(["sync"], check=True)  # earlier writes are not this round's to pay for
            t0 = time.perf_counter()
            version = replicate(caller, definition, image, f"1.0.{rnd}", west_replicas=2)
            wait(
                lambda version=version: all(
                    not t.in_flight and not t.lease_owner
                    for t in TargetRegion.objects.filter(version=version)
                ),
                workers,
                args.timeout,
                f"version 1.0.{rnd} to replicate",
            )
            ours = time.perf_counter() - t0
            states = {
                t.region.name: t.state
                for t in TargetRegion.objects.filter(version=version).select_related("region")
            }
            if set(states.values()) != {"Completed"}:
                raise SystemExit(f"round {rnd + 1}: not every region Completed: {states}")
            replicas = Replica.objects.filter(
                target_region__version=version, verified_at__isnull=False
            ).count()
            copies, rest = divmod(replicas, len(sources))
            if rest or copies != 6:
                raise SystemExit(f"round {rnd + 1}: {replicas} verified replicas of {len(sources)} disks")
            copied = copies * total

            # The baseline, right after, on the same disk: as many cp processes as worker processes,
            # over the same copies.
            dst = VAR / f"cp{rnd}"
            dst.mkdir()
            jobs = [(p, dst / f"{i}-{p.name}") for i in range(copies) for p in sources]
            subprocess.run(["sync"], check=True)
            plain = parallel_cp(jobs, args.workers)
            results.append((ours, plain))
            print(
                f"round {rnd + 1}: ours {ours:6.2f} s ({copied / ours / 2**20:4.0f} MiB/s)   "
                f"cp x{args.workers} {plain:6.2f} s ({copied / plain / 2**20:4.0f} MiB/s)   "
                f"ratio {ours / plain:.2f}",
                flush=True,
            )
            # Clean up (not timed): the workers delete the version's replicas, then the version.
            shutil.rmtree(dst)
            services.delete_version(caller, version)
            wait(
                lambda version=version: not GalleryImageVersion.objects.filter(pk=version.pk).exists(),
                workers,
                args.timeout,
                f"version 1.0.{rnd} to be deleted",
            )

        ratios = sorted(o / p for o, p in results)
        broker = settings.CELERY_BROKER_URL.split(":")[0]
        print(f"database: {connection.vendor}; broker: {broker}")
        print(f"version: {args.os_mib} MiB OS disk + {args.data_mib} MiB data disk; regions {states}")
        print(
            f"worker processes: {args.workers} (-P {settings.CELERY_WORKER_POOL} -c 1 each); "
            f"cp processes in parallel: {args.workers}"
        )
        print(
            f"copies per round: {copies} (westeurope 2, eastus 1, northeurope ZRS 3 zones), {copied / 2**30:.2f} GiB"
        )
        print(
            f"ratio ours / cp, median of {len(ratios)} rounds: {statistics.median(ratios):.2f} "
            f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f})"
        )
        if args.verbose:
            print("".join(line for w in workers for line in w.lines if "replicate_region" in line))
    finally:
        for w in workers:  # all asked at once, then waited for
            if w.proc.poll() is None:
                w.proc.terminate()
        for w in workers:
            w.stop()
        teardown_databases(old, verbosity=0)
        shutil.rmtree(VAR, ignore_errors=True)


if __name__ == "__main__":
    main()
