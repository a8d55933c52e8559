"""Start the whole portal in one process group: the web server, a Celery worker consuming the
default queue and every region queue, and Celery beat. Ctrl-C stops all three."""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from honcho.manager import Manager

from galleries.demo import print_logins, seed
from galleries.models import Region
from portal.celery import region_queue

DEMO_BANDWIDTH = 16 * 2**20


class Command(BaseCommand):
    help = "Migrate, load the demo data, and run web server + Celery worker + beat together."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("PORTAL_ADDR", "127.0.0.1:8000"))
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo data.")
        parser.add_argument("--concurrency", type=int, default=2, help="Worker processes.")

    def handle(self, *args, addr: str, no_demo: bool, concurrency: int, **options):
        call_command("migrate", interactive=False, verbosity=0)
        demo = seed(self.stdout) if not no_demo else None
        queues = ",".join(
            [settings.CELERY_TASK_DEFAULT_QUEUE]
            + [region_queue(r) for r in Region.objects.values_list("name", flat=True)]
        )
        py = sys.executable
        manager = Manager()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # The demo's disks copy in a second or two at full speed; capping the worker's bandwidth
        # (unless the environment says otherwise) lets a new user watch replication happen.
        env.setdefault("REPLICATION_MAX_BYTES_PER_SECOND", str(DEMO_BANDWIDTH))
        manager.add_process("web", f"{py} manage.py runserver {addr} --noreload", env=env)
        manager.add_process(
            "worker",
            f"{py} -m celery -A portal worker -l INFO -Q {queues} -c {concurrency} -n portal@%h",
            env=env,
        )
        manager.add_process(
            "beat",
            f"{py} -m celery -A portal beat -l INFO -s {settings.CELERY_BEAT_SCHEDULE_FILENAME}",
            env=env,
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
        self.stdout.write("  Press Ctrl-C to stop the web server, the worker and beat.\n\n")
        self.stdout.flush()
        manager.loop()
        sys.exit(manager.returncode)
