"""Start the whole portal: the web server, Celery workers consuming the default queue and every
region queue, and Celery beat — supervised (``portal.supervisor``): a child that exits or stalls is
started again with backoff and a log line while the others go on; Ctrl-C or SIGTERM stops them all."""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from galleries.demo import print_logins, seed
from galleries.models import Region
from portal.core.liveness import ENV as LIVENESS_ENV
from portal.core.queues import region_queue, worker_queue
from portal.supervisor import Spec, Supervisor
from portal.tasks import ping

DEMO_BANDWIDTH = 16 * 2**20
BEAT_STALL_SECONDS = 60  # beat ticks at least every CELERY_BEAT_MAX_LOOP_INTERVAL (5 s)


def worker_command(queues: list[str], node: str) -> list[str]:
    """The command line of one Celery worker process: consuming ``queues``, one task at a time in the
    configured pool, named ``node`` (bench/replication.py starts its workers with it too)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "-l",
        "INFO",
        "-Q",
        ",".join(queues),
        "-P",
        settings.CELERY_WORKER_POOL,
        "-c",
        "1",
        "-n",
        node,
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]  # fmt: skip


def add_workers_argument(parser, help: str) -> None:
    """``--workers`` (once ``--concurrency``): how many worker processes, 2 by default (bench/replication.py
    starts as many as ``up`` does)."""
    parser.add_argument("--workers", "--concurrency", dest="workers", type=int, default=2, help=help)


def pinger(queue: str, expires: float):
    def send(ping_id: str) -> None:
        ping.apply_async(kwargs={"ping_id": ping_id}, queue=queue, expires=expires, retry=False)

    return send


class Command(BaseCommand):
    help = "Migrate, load the demo data, and run the web server, Celery workers and beat, supervised."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("PORTAL_ADDR", "127.0.0.1:8000"))
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo data.")
        add_workers_argument(parser, "Worker processes, each running one task at a time (default 2).")

    def handle(self, *args, addr: str, no_demo: bool, workers: int, **options):
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        call_command("migrate", interactive=False, verbosity=0)
        demo = seed(self.stdout) if not no_demo else None
        queues = [settings.CELERY_TASK_DEFAULT_QUEUE] + [
            region_queue(r) for r in Region.objects.values_list("name", flat=True)
        ]
        py = sys.executable
        run_dir = settings.VAR_DIR / "run"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.plain_http_env()}
        if not settings.DEBUG:
            # With DEBUG off WhiteNoise serves the collected, hashed files (the manifest storage).
            call_command("collectstatic", interactive=False, verbosity=0)
        # The demo's disks copy in a second or two at full speed; capping the worker's bandwidth
        # (unless the environment says otherwise) lets a new user watch replication happen.
        env.setdefault("REPLICATION_MAX_BYTES_PER_SECOND", str(DEMO_BANDWIDTH))
        stall = settings.WORKER_STALL_SECONDS
        specs = [Spec("web", [py, "manage.py", "runserver", addr, "--noreload"], env)]
        for i in range(1, workers + 1):
            name = f"worker-{i}"
            own = worker_queue(name)
            alive = run_dir / f"{name}.alive"
            specs.append(
                Spec(
                    name,
                    worker_command([*queues, own], f"portal-{i}@%h"),
                    {**env, LIVENESS_ENV: str(alive)},
                    liveness_file=alive,
                    ping=pinger(own, expires=stall * 2),
                    stall_seconds=stall,
                    startup_seconds=settings.WORKER_STARTUP_SECONDS,
                    ping_every=settings.WORKER_PING_SECONDS,
                )
            )
        beat_alive = run_dir / "beat.alive"
        specs.append(
            Spec(
                "beat",
                [
                    py,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "beat",
                    "-l",
                    "INFO",
                    "-s",
                    settings.CELERY_BEAT_SCHEDULE_FILENAME,
                ],
                {**env, LIVENESS_ENV: str(beat_alive)},
                liveness_file=beat_alive,
                stall_seconds=BEAT_STALL_SECONDS,
                startup_seconds=settings.WORKER_STARTUP_SECONDS,
            )
        )
        host = addr if ":" in addr else f"127.0.0.1:{addr}"
        print_logins(self.stdout, f"http://{host}/")
        if demo and demo.get("watch"):
            self.stdout.write(f"  Watch a version replicate: http://{host}/versions/{demo['watch'].pk}/\n")
        cap = int(env["REPLICATION_MAX_BYTES_PER_SECOND"])
        if cap:
            self.stdout.write(
                f"  Replication is capped at {cap // 2**20} MiB/s per worker process here, to be watchable "
                "(REPLICATION_MAX_BYTES_PER_SECOND=0 lifts it).\n"
            )
        self.stdout.write(f"  Health of the queues and workers: http://{host}/healthz\n")
        self.stdout.write(
            f"  Press Ctrl-C to stop the web server, {workers} worker(s) and beat; any of them that stops "
            "or stalls is restarted.\n\n"
        )
        self.stdout.flush()
        sys.exit(Supervisor(specs, out=sys.stdout).run())

    @staticmethod
    def plain_http_env() -> dict[str, str]:
        """The web server here speaks plain http: with DEBUG off, settings would redirect to https and send
        cookies only over https, so nobody could sign in. Its processes get those three off — unless a
        TLS-terminating proxy is in front (BEHIND_PROXY), where the browser does speak https."""
        if settings.SECURE_PROXY_SSL_HEADER:
            return {}
        return {
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
        }
