"""Soak: the `manage.py up` process tree under a stream of new versions and a SIGKILL of a random
worker process every --kill-every seconds (F9, N4; issue 11).

It starts `manage.py up --no-demo` (web server, --workers worker processes, beat, supervised) on a
state folder of its own, creates a version (an OS disk and a data disk, replicated to West Europe,
East US and North Europe ZRS) every --version-every seconds through the service layer, kills a random
worker process (a worker's main process, or one of its pool children where the pool has any) every
--kill-every seconds, and asks the portal for its sign-in page every second. After --minutes it stops
creating and killing, waits for every version to finish, stops `up` with SIGTERM and looks for any
process left behind. Each version's replica files are read back and checked against their disk's
SHA-256 as it completes; beyond --keep completed versions the oldest are deleted (the workers remove
their replicas), so the disk stays bounded however long the soak runs. It prints:

    versions created / completed / failed, kills, restarts by the supervisor, stalls found,
    tasks recovered by the reaper, the longest time any version stayed unfinished,
    portal probes answered / failed, replicas verified, processes left after the stop

and exits non-zero when a version did not complete, the supervisor exited by itself, the portal
failed to answer, a replica did not verify or a process was left behind.

    .venv/bin/python bench/soak.py --minutes 60                   # the embedded default
    .venv/bin/python bench/soak.py --minutes 60 --stack services  # PostgreSQL + Redis on this machine
    .venv/bin/python bench/soak.py --smoke                        # half a minute, for make bench-smoke

Recovery timings are shortened so that a kill every 30 s is recovered from well before the next
(replication lease 20 s, broker visibility 20 s, reaper every 5 s, stall verdict after 30 s).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--kill-every", type=float, default=30, help="seconds between SIGKILLs (0: none)")
    p.add_argument("--version-every", type=float, default=10, help="seconds between new versions")
    p.add_argument("--disk-mib", type=int, default=16, help="size of the OS disk (the data disk is half)")
    p.add_argument("--keep", type=int, default=10, help="completed versions kept; older ones are deleted")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--stack", choices=["embedded", "services"], default="embedded")
    p.add_argument("--drain-minutes", type=float, default=10, help="how long to wait for the last versions")
    p.add_argument("--json", type=Path, help="also write the summary here")
    p.add_argument("--seed", type=int, default=None, help="random seed for the kills")
    p.add_argument("--smoke", action="store_true", help="half a minute, small disks, a kill every 10 s")
    args = p.parse_args(argv)
    if args.smoke:
        args.minutes, args.kill_every, args.version_every, args.disk_mib, args.keep = 0.5, 10, 5, 4, 2
    return args


ARGS = parse_args()
VAR = Path(tempfile.mkdtemp(prefix="sig-soak-", dir=os.environ.get("BENCH_DIR") or None))
ENV = {
    "PORTAL_VAR_DIR": str(VAR),
    "DJANGO_SETTINGS_MODULE": "portal.settings.dev",
    "PYTHONUNBUFFERED": "1",
    "REPLICATION_LEASE_SECONDS": "20",
    "REPLICATION_REAPER_INTERVAL_SECONDS": "5",
    "REPLICATION_REAPER_GRACE_SECONDS": "10",
    "REPLICATION_RETRY_BASE_SECONDS": "2",
    "REPLICATION_MAX_BYTES_PER_SECOND": str(64 * 2**20),
    "BROKER_VISIBILITY_TIMEOUT": "20",
    "HEARTBEAT_SECONDS": "5",
    "WORKER_STALL_SECONDS": "30",
}
for key in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_WORKER_POOL"):
    os.environ.pop(key, None)
if ARGS.stack == "services":
    DB_NAME = f"sig_soak_{os.getpid()}"
    ENV["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    ENV["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/13"
os.environ.update(ENV)

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from bench._common import build_source, free_port, replicate  # noqa: E402
from portal.celery import die_with_parent  # noqa: E402


def create_database() -> None:
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}"')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def drop_database() -> None:
    import psycopg

    connection.close()
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(ENV["CELERY_BROKER_URL"]).flushdb()


# --- processes ---------------------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def worker_processes(supervisor: int) -> list[tuple[int, str]]:
    """Every worker process under the supervisor: (pid, 'main' or 'pool child')."""
    found = []
    for pid in children_of(supervisor):
        if " worker " in cmdline(pid) and "celery" in cmdline(pid):
            found.append((pid, "main"))
            found += [(child, "pool child") for child in children_of(pid)]
    return found


def processes_left() -> list[str]:
    marker = f"PORTAL_VAR_DIR={VAR}".encode()
    left = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ and state != "Z":
            left.append(f"{entry.name} {cmdline(int(entry.name))[:120]}")
    return left


# --- the run -----------------------------------------------------------------------------------------


def main() -> int:
    from galleries import services
    from galleries.models import GalleryImageVersion, Replica
    from galleries.storage import RegionStore

    if ARGS.stack == "services":
        create_database()
        flush_redis()
    rng = random.Random(ARGS.seed)
    port = free_port()
    log_path = VAR / "up.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed in finally
    up = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "up",
            "--http",  # the soak is about supervision; plain http keeps its probes simple
            "--no-demo",
            "--workers",
            str(ARGS.workers),
            "--addr",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env={**os.environ},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,  # a soak killed by a test's timeout takes its `up` along
    )
    summary: dict = {"stack": ARGS.stack, "minutes": ARGS.minutes, "kill_every_s": ARGS.kill_every}
    probes = {"ok": 0, "failed": 0, "errors": []}
    stop_probing = threading.Event()

    def probe_forever():
        while not stop_probing.wait(1.0):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10) as r:
                    ok = r.status == 200
            except OSError as exc:
                ok = False
                probes["errors"].append(f"{time.strftime('%H:%M:%S')} {exc}")
            probes["ok" if ok else "failed"] += 1

    kills: list[dict] = []
    created: dict[int, float] = {}
    finished: dict[int, tuple[float, str]] = {}
    supervisor_exited_early = None
    try:
        deadline = time.monotonic() + 180
        while "web started" not in log_path.read_text():
            if up.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("manage.py up did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        while True:  # the web server answers before the run starts
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        caller, image, definition = build_source(
            "Soak",
            "soak.test",
            ARGS.disk_mib,
            max(ARGS.disk_mib // 2, 1),
            names=("Soak", "soak"),
            source="system",
        )
        prober = threading.Thread(target=probe_forever, daemon=True)
        prober.start()

        checked = {"ok": 0, "bad": 0}
        deleting: dict[int, float] = {}
        deleted: dict[int, float] = {}

        def verify(version_id: int) -> None:
            """Every replica file of a completed version against its disk's SHA-256, read back."""
            for r in Replica.objects.filter(target_region__version_id=version_id).select_related(
                "disk", "target_region__region__cloud"
            ):
                h = hashlib.sha256()
                try:
                    with open(RegionStore(r.target_region.region, r.zone or None).path(r.path), "rb") as f:
                        for chunk in iter(lambda f=f: f.read(4 * 2**20), b""):
                            h.update(chunk)
                    ok = h.hexdigest() == r.disk.sha256
                except FileNotFoundError:
                    ok = False
                checked["ok" if ok else "bad"] += 1

        def settle():
            pending = [pk for pk in created if pk not in finished]
            for pk, state in GalleryImageVersion.objects.filter(
                pk__in=pending, provisioning_state__in=["Succeeded", "Failed"]
            ).values_list("pk", "provisioning_state"):
                finished[pk] = (time.monotonic(), state)
                if state == "Succeeded":
                    verify(pk)
            # Keep the disk bounded: the oldest completed versions are deleted (work for the workers too).
            done = [pk for pk in created if pk in finished and pk not in deleting]
            for pk in done[: max(len(done) - ARGS.keep, 0)]:
                services.delete_version(caller, GalleryImageVersion.objects.get(pk=pk))
                deleting[pk] = time.monotonic()
            waiting = [pk for pk in deleting if pk not in deleted]
            gone = set(waiting) - set(
                GalleryImageVersion.objects.filter(pk__in=waiting).values_list("pk", flat=True)
            )
            for pk in gone:
                deleted[pk] = time.monotonic()

        start = time.monotonic()
        end = start + ARGS.minutes * 60
        next_version = start
        next_kill = start + ARGS.kill_every if ARGS.kill_every else float("inf")
        n = 0
        while time.monotonic() < end:
            now = time.monotonic()
            if up.poll() is not None:
                supervisor_exited_early = up.returncode
                break
            if now >= next_version:
                version = replicate(caller, definition, image, f"1.0.{n}", west_replicas=1)
                created[version.pk] = time.monotonic()
                n += 1
                next_version += ARGS.version_every
            if now >= next_kill:
                victims = worker_processes(up.pid)
                if victims:  # none while every worker is being restarted: try again at the next turn
                    pid, kind = rng.choice(victims)
                    try:
                        os.kill(pid, signal.SIGKILL)
                        kills.append({"at_s": round(now - start, 1), "pid": pid, "kind": kind})
                        next_kill += ARGS.kill_every
                    except ProcessLookupError:
                        pass
            settle()
            time.sleep(0.2)
        drain_deadline = time.monotonic() + ARGS.drain_minutes * 60
        while True:  # the last versions finish, and the deletions they bring
            settle()
            if up.poll() is not None:
                supervisor_exited_early = up.returncode
            settled = len(finished) == len(created) and len(deleted) == len(deleting)
            if supervisor_exited_early is not None or settled or time.monotonic() > drain_deadline:
                break
            time.sleep(0.5)
        stop_probing.set()
        prober.join(timeout=15)
        now = time.monotonic()
        durations = [(finished.get(pk, (now, ""))[0] - t0) for pk, t0 in created.items()]
        deletions = [deleted.get(pk, now) - t0 for pk, t0 in deleting.items()]
        summary.update(
            versions_created=len(created),
            versions_completed=sum(1 for _, s in finished.values() if s == "Succeeded"),
            versions_failed=sum(1 for _, s in finished.values() if s == "Failed"),
            versions_unfinished=len(created) - len(finished),
            longest_unfinished_s=round(max(durations, default=0.0), 1),
            median_version_s=round(sorted(durations)[len(durations) // 2], 1) if durations else 0.0,
            kills=len(kills),
            kills_of_main=sum(1 for k in kills if k["kind"] == "main"),
            kills_of_pool_children=sum(1 for k in kills if k["kind"] == "pool child"),
            replicas_verified=checked["ok"],
            replicas_bad=checked["bad"],
            versions_deleted=len(deleted),
            deletions_unfinished=len(deleting) - len(deleted),
            longest_deletion_s=round(max(deletions, default=0.0), 1),
            portal_probes_ok=probes["ok"],
            portal_probes_failed=probes["failed"],
            portal_probe_errors=probes["errors"][:10],
            supervisor_exited_early=supervisor_exited_early,
        )
    finally:
        stop_probing.set()
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
        time.sleep(1)  # let the kernel finish killing what the supervisor's exit took down
        left = processes_left()
        log.close()
        text = log_path.read_text()
        summary.update(
            stop_returncode=up.returncode,
            processes_left=left,
            restarts=len(re.findall(r"supervisor \| \S+ exited with", text)),
            restarts_by_process={
                name: len(re.findall(rf"supervisor \| {name} exited with", text))
                for name in ["web", "beat", *(f"worker-{i}" for i in range(1, ARGS.workers + 1))]
            },
            stalls_found=len(re.findall(r"supervisor \| \S+ is stalled", text)),
            reaper_runs_that_requeued=len(re.findall(r"reaper: queued again", text)),
            tasks_recovered_by_reaper=sum(int(m) for m in re.findall(r"reaper: queued again (\d+)", text)),
            tracebacks=text.count("Traceback (most recent call last)"),
            log=str(log_path),
        )
        if ARGS.stack == "services":
            drop_database()
    return report(summary)


def report(s: dict) -> int:
    print(f"soak: {s['stack']} stack, {s['minutes']} min, a SIGKILL every {s['kill_every_s']} s")
    if "versions_created" in s:
        print(
            f"versions: {s['versions_created']} created, {s['versions_completed']} completed, "
            f"{s['versions_failed']} failed, {s['versions_unfinished']} unfinished; longest unfinished "
            f"{s['longest_unfinished_s']} s (median {s['median_version_s']} s)"
        )
        print(
            f"kills: {s['kills']} ({s['kills_of_main']} worker main processes, {s['kills_of_pool_children']} pool "
            f"children); restarts by the supervisor: {s['restarts']} {s['restarts_by_process']}; stalls found: "
            f"{s['stalls_found']}"
        )
        print(
            f"tasks recovered by the reaper: {s['tasks_recovered_by_reaper']} (in {s['reaper_runs_that_requeued']} runs)"
        )
        print(
            f"versions deleted on the way (disk kept bounded): {s['versions_deleted']}, "
            f"{s['deletions_unfinished']} unfinished; longest deletion {s['longest_deletion_s']} s"
        )
        print(
            f"replicas verified against their disk's SHA-256 as each version completed: {s['replicas_verified']} "
            f"ok, {s['replicas_bad']} bad"
        )
        print(
            f"portal probes: {s['portal_probes_ok']} answered, {s['portal_probes_failed']} failed {s['portal_probe_errors']}"
        )
        print(
            f"supervisor exited by itself: {'no' if s['supervisor_exited_early'] is None else s['supervisor_exited_early']}"
        )
    print(
        f"stopped with SIGTERM: exit code {s['stop_returncode']}; processes left: {len(s['processes_left'])} {s['processes_left']}"
    )
    print(f"tracebacks in the log: {s['tracebacks']} ({s['log']})")
    if ARGS.json:
        ARGS.json.write_text(json.dumps(s, indent=2))
    failures = []
    if s.get("versions_completed") != s.get("versions_created") or not s.get("versions_created"):
        failures.append("not every version completed")
    if s.get("supervisor_exited_early") is not None:
        failures.append("the supervisor exited by itself")
    if s.get("portal_probes_failed") or not s.get("portal_probes_ok"):
        failures.append("the portal did not answer throughout")
    if s.get("deletions_unfinished"):
        failures.append("a deletion did not finish")
    if s.get("replicas_bad"):
        failures.append("a replica did not verify")
    if s["processes_left"]:
        failures.append("processes were left after the stop")
    if s.get("kills_of_main", 0) > s["restarts"]:
        failures.append("a killed worker was not replaced")
    print("soak: " + ("OK" if not failures else "FAILED: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    code = main()
    if code == 0 and os.environ.get("SOAK_KEEP") != "1":
        shutil.rmtree(VAR, ignore_errors=True)
    else:
        print(f"state kept in {VAR}")
    sys.exit(code)
