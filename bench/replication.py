"""Replication throughput against a plain file copy of the same bytes (F9, N3).

A version with a 1 GiB OS disk and a 256 MiB data disk is replicated to three regions — West Europe
(the source region, 2 replicas), East US (1) and North Europe (Standard_ZRS, 1 replica, which keeps
a copy in each of its 3 zones) — by a real Celery worker (2 processes, as `make run` starts it),
timed from the moment the work is enqueued to every region Completed with every copy verified.
In the same run, right after, on the same disk, `cp` copies the same files the same number of times.
Disk throughput on a shared machine drifts from minute to minute, so this is done in rounds (ours,
then cp) and the median ratio ours / cp is reported with each round's times.

    .venv/bin/python bench/replication.py [--os-mib 1024] [--data-mib 256] [--rounds 3] [--concurrency 2]
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

REGIONS = ["westeurope", "eastus", "northeurope"]


def database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--os-mib", type=int, default=1024)
    parser.add_argument("--data-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3, help="ours then cp, this many times")
    parser.add_argument("--verbose", action="store_true", help="print the worker's task log lines")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (make run starts 2)")
    args = parser.parse_args()
    settings.REGION_STORAGE_ROOT = VAR / "regions"
    old = setup_databases(verbosity=0, interactive=False)
    worker = None
    try:
        from accounts.activity import Caller
        from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
        from galleries import services, vhd
        from galleries.models import GalleryImageVersion, Region, Replica, TargetRegion
        from galleries.services import TargetRegionSpec as T
        from galleries.storage import RegionStore

        tenant = create_tenant("Bench", "bench.test")
        caller = Caller(principal=create_user(tenant, "bench@bench.test", None), source="system")
        sub = create_subscription(caller, tenant, "Bench")
        rg = create_resource_group(caller, sub, "rg", "westeurope")
        store = RegionStore(Region.objects.get(name="westeurope"))
        blobs = []
        for name, mib, seed in (("os.vhd", args.os_mib, 1), ("data.vhd", args.data_mib, 2)):
            path = store.path(f"blobs/{rg.pk}/vhds/{name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            vhd.write_fixed_vhd(path, mib * vhd.MIB, seed=seed)
            blobs.append(services.register_blob(caller, rg, name))
        image = services.create_managed_image(
            caller, rg, "img", os_blob=blobs[0], os_type="Linux", data_blobs=[(0, blobs[1])]
        )
        gallery = services.create_gallery(caller, rg, "G")
        definition = services.create_definition(
            caller, gallery, "d", publisher="P", offer="O", sku="S", os_type="Linux", os_state="Generalized"
        )
        sources = [RegionStore(image.os_disk.region).path(image.os_disk.path)] + [
            RegionStore(d.disk.region).path(d.disk.path) for d in image.data_disks.all()
        ]
        total = sum(p.stat().st_size for p in sources)

        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REGION_STORAGE_ROOT": str(settings.REGION_STORAGE_ROOT),
        }
        queues = ",".join(["default"] + [f"region.{r}" for r in REGIONS])
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-Q",
                queues,
                "-c",
                str(args.concurrency),
                "-l",
                "INFO",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"bench-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        threading.Thread(target=lambda: [lines.append(line) for line in worker.stdout], daemon=True).start()
        deadline = time.monotonic() + 60
        while not any(" ready." in line for line in lines):  # the worker's start-up is not timed
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit("the worker did not start:\n" + "".join(lines))
            time.sleep(0.05)

        results = []
        for rnd in range(args.rounds):
            # Ours: enqueue -> every region Completed with every copy verified.
            subprocess.run(["sync"], check=True)  # earlier writes are not this round's to pay for
            t0 = time.perf_counter()
            version = services.create_version(
                caller,
                definition,
                f"1.0.{rnd}",
                location="westeurope",
                source=image,
                target_regions=[T("westeurope", 2), T("eastus", 1), T("northeurope", 1, "Standard_ZRS")],
            )
            while not all(
                not t.in_flight and not t.lease_owner for t in TargetRegion.objects.filter(version=version)
            ):
                time.sleep(0.05)
            ours = time.perf_counter() - t0
            states = {
                t.region.name: t.state
                for t in TargetRegion.objects.filter(version=version).select_related("region")
            }
            assert set(states.values()) == {"Completed"}, states
            copies = Replica.objects.filter(target_region__version=version).count() // len(sources)
            copied = copies * total

            # The baseline, right after, on the same disk: cp the same files the same number of times.
            dst = VAR / f"cp{rnd}"
            dst.mkdir()
            subprocess.run(["sync"], check=True)
            t0 = time.perf_counter()
            for i in range(copies):
                for p in sources:
                    subprocess.run(["cp", str(p), str(dst / f"{i}-{p.name}")], check=True)
            subprocess.run(["sync"], check=True)
            plain = time.perf_counter() - t0
            results.append((ours, plain))
            print(
                f"round {rnd + 1}: ours {ours:6.2f} s ({copied / ours / 2**20:4.0f} MiB/s)   "
                f"cp {plain:6.2f} s ({copied / plain / 2**20:4.0f} MiB/s)   ratio {ours / plain:.2f}",
                flush=True,
            )
            # Clean up (not timed): the workers delete the version's replicas, then the version.
            shutil.rmtree(dst)
            services.delete_version(caller, version)
            while GalleryImageVersion.objects.filter(pk=version.pk).exists():
                time.sleep(0.1)

        ratios = sorted(o / p for o, p in results)
        print(f"database: {connection.vendor}; broker: {settings.CELERY_BROKER_URL.split(':')[0]}")
        print(f"version: {args.os_mib} MiB OS disk + {args.data_mib} MiB data disk; regions {states}")
        print(f"worker processes: {args.concurrency}")
        print(
            f"copies per round: {copies} (westeurope 2, eastus 1, northeurope ZRS 3 zones), {copied / 2**30:.2f} GiB"
        )
        print(
            f"ratio ours / cp, median of {len(ratios)} rounds: {statistics.median(ratios):.2f} "
            f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f})"
        )
        if args.verbose:
            print("".join(line for line in lines if "replicate_region" in line))
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        teardown_databases(old, verbosity=0)
        shutil.rmtree(VAR, ignore_errors=True)


if __name__ == "__main__":
    main()
