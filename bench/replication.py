"""Replication throughput against a plain file copy of the same bytes (F9, N3).

A version with a 1 GiB OS disk and a 256 MiB data disk is replicated to three regions — West Europe
(the source region, 2 replicas), East US (1) and North Europe (Standard_ZRS, 1 replica, which keeps
a copy in each of its 3 zones) — by a real Celery worker (2 processes, as `make run` starts it),
timed from the moment the work is enqueued to every region Completed with every copy verified.
In the same run, on the same disk, `cp` copies the same files the same number of times. Prints both
times and the ratio ours / cp.

    .venv/bin/python bench/replication.py [--os-mib 1024] [--data-mib 256]
"""

from __future__ import annotations

import argparse
import os
import shutil
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
    args = parser.parse_args()
    settings.REGION_STORAGE_ROOT = VAR / "regions"
    old = setup_databases(verbosity=0, interactive=False)
    worker = None
    try:
        from accounts.activity import Caller
        from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
        from galleries import services, vhd
        from galleries.models import Region, Replica, TargetRegion
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
                "2",
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

        t0 = time.perf_counter()
        version = services.create_version(
            caller,
            definition,
            "1.0.0",
            location="westeurope",
            source=image,
            target_regions=[T("westeurope", 2), T("eastus", 1), T("northeurope", 1, "Standard_ZRS")],
        )
        while True:
            rows = list(TargetRegion.objects.filter(version=version))
            if all(not t.in_flight and not t.lease_owner for t in rows):
                break
            time.sleep(0.05)
        ours = time.perf_counter() - t0
        states = {
            t.region.name: t.state
            for t in TargetRegion.objects.filter(version=version).select_related("region")
        }
        assert set(states.values()) == {"Completed"}, states
        copies = Replica.objects.filter(target_region__version=version).count() // len(sources)
        copied = copies * total

        # The baseline: cp the same files the same number of times, on the same disk.
        dst = VAR / "cp"
        dst.mkdir()
        t0 = time.perf_counter()
        for i in range(copies):
            for p in sources:
                subprocess.run(["cp", str(p), str(dst / f"{i}-{p.name}")], check=True)
        subprocess.run(["sync"], check=True)
        plain = time.perf_counter() - t0

        print(f"database: {connection.vendor}; broker: {settings.CELERY_BROKER_URL.split(':')[0]}")
        print(f"version: {args.os_mib} MiB OS disk + {args.data_mib} MiB data disk; regions {states}")
        print(f"copies: {copies} (westeurope 2, eastus 1, northeurope ZRS 3 zones), {copied / 2**30:.2f} GiB")
        print(f"ours (enqueue -> all Completed, verified): {ours:.2f} s  ({copied / ours / 2**20:.0f} MiB/s)")
        print(
            f"cp of the same bytes, + sync:             {plain:.2f} s  ({copied / plain / 2**20:.0f} MiB/s)"
        )
        print(f"ratio ours / cp: {ours / plain:.2f}")
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        teardown_databases(old, verbosity=0)
        shutil.rmtree(VAR, ignore_errors=True)


if __name__ == "__main__":
    main()
