"""Start the whole portal: the web server, Celery workers consuming the default queue and every
region queue, and Celery beat — supervised (``portal.supervisor``): a child that exits or stalls is
started again with backoff and a log line while the others go on; Ctrl-C or SIGTERM stops them all.

The web server is gunicorn serving HTTPS with the portal's local CA (``portal.core.tls``) on
``PORTAL_ADDR`` (default ``127.0.0.1:8443``: a port anyone may bind, next to the conventional 8443 of
HTTPS-alt). It also listens on port 443 of the same host when it may bind it (root, or
CAP_NET_BIND_SERVICE; ``PORTAL_ALSO_443=0`` turns that off): MSAL's user-realm discovery for
``az login -u`` asks ``https://<host>/common/userrealm/...`` whatever port the authority has.
``--http`` or ``PORTAL_TLS=0`` serves plain http (default ``127.0.0.1:8000``); so does ``BEHIND_PROXY=1``,
where a TLS-terminating proxy speaks https to the clients and sets ``X-Forwarded-Proto``."""

from __future__ import annotations

import os
import socket
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from galleries.demo import print_logins, seed
from galleries.models import Region
from portal.core import tls
from portal.core.liveness import ENV as LIVENESS_ENV
from portal.core.queues import region_queue, worker_queue
from portal.supervisor import Spec, Supervisor
from portal.tasks import ping

DEMO_BANDWIDTH = 16 * 2**20
BEAT_STALL_SECONDS = 60  # beat ticks at least every CELERY_BEAT_MAX_LOOP_INTERVAL (5 s)
HTTPS_ADDR = "127.0.0.1:8443"
HTTP_ADDR = "127.0.0.1:8000"
WEB_WORKERS, WEB_THREADS = 2, 8


def split_addr(addr: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or a bare port (on 127.0.0.1) as (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", addr
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"The address '{addr}' is not host:port (PORTAL_ADDR / --addr).")
    return host, int(port)


def join_addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def can_bind(host: str, port: int) -> bool:
    """Whether this process may listen on ``host:port`` now (a privileged port, or one in use, may not)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def web_command(binds: list[str], certificate: tls.TlsFiles | None) -> list[str]:
    """The web server: gunicorn (``WEB_WORKERS`` processes × ``WEB_THREADS`` threads) on every address of
    ``binds``, over TLS with ``certificate`` when given. WhiteNoise (a middleware) serves the static files.
    The https_portal test fixture starts the same command."""
    argv = [
        sys.executable, "-m", "gunicorn", "portal.wsgi:application",
        "--workers", str(WEB_WORKERS), "--worker-class", "gthread", "--threads", str(WEB_THREADS),
        "--graceful-timeout", "5", "--access-logfile", "-", "--error-logfile", "-",
    ]  # fmt: skip
    for bind in binds:
        argv += ["--bind", bind]
    if certificate is not None:
        argv += ["--certfile", str(certificate.cert), "--keyfile", str(certificate.key)]
    return argv


def web_env(serve_tls: bool) -> dict[str, str]:
    """What the processes' settings need beyond the environment's. Plain http with DEBUG off: settings would
    redirect to https and send cookies only over https, so nobody could sign in — those three go off, unless
    a TLS-terminating proxy is in front (BEHIND_PROXY), where the browser does speak https. Over the local
    CA's https they stay on; HSTS goes off unless set, since a browser would pin every port of localhost
    to https for a year."""
    if settings.SECURE_PROXY_SSL_HEADER:
        return {}
    if serve_tls:
        return {} if "SECURE_HSTS_SECONDS" in os.environ else {"SECURE_HSTS_SECONDS": "0"}
    return {
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
    }


def tls_wanted(http_flag: bool) -> bool:
    """HTTPS unless ``--http``, ``PORTAL_TLS=0`` or a TLS-terminating proxy in front (BEHIND_PROXY)."""
    off = os.environ.get("PORTAL_TLS", "1").strip().lower() in ("0", "false", "no", "off")
    return not (http_flag or off or settings.SECURE_PROXY_SSL_HEADER)


def url_host(host: str) -> str:
    """The host to print: loopback and the wildcards as ``localhost`` (a name the certificate carries)."""
    if host in ("127.0.0.1", "0.0.0.0", "::", "::1", "localhost"):
        return "localhost"
    return f"[{host}]" if ":" in host else host


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
        parser.add_argument(
            "--addr",
            default=os.environ.get("PORTAL_ADDR"),
            help=f"host:port (PORTAL_ADDR; default {HTTPS_ADDR}, with --http {HTTP_ADDR}).",
        )
        parser.add_argument(
            "--http",
            action="store_true",
            help="Serve plain http, not https (also PORTAL_TLS=0, BEHIND_PROXY=1).",
        )
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo data.")
        add_workers_argument(parser, "Worker processes, each running one task at a time (default 2).")

    def handle(self, *args, addr: str | None, http: bool, no_demo: bool, workers: int, **options):
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        serve_tls = tls_wanted(http)
        host, port = split_addr(addr or (HTTPS_ADDR if serve_tls else HTTP_ADDR))
        binds = [join_addr(host, port)]
        certificate = None
        if serve_tls:
            certificate = tls.ensure([host])
            also = os.environ.get("PORTAL_ALSO_443", "1").strip().lower() not in ("0", "false", "no", "off")
            if also and port != 443 and can_bind(host, 443):
                binds.append(join_addr(host, 443))
        call_command("migrate", interactive=False, verbosity=0)
        demo = seed(self.stdout) if not no_demo else None
        queues = [settings.CELERY_TASK_DEFAULT_QUEUE] + [
            region_queue(r) for r in Region.objects.values_list("name", flat=True)
        ]
        py = sys.executable
        run_dir = settings.VAR_DIR / "run"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **web_env(serve_tls)}
        if not settings.DEBUG:
            # With DEBUG off WhiteNoise serves the collected, hashed files (the manifest storage).
            call_command("collectstatic", interactive=False, verbosity=0)
        # The demo's disks copy in a second or two at full speed; capping the worker's bandwidth
        # (unless the environment says otherwise) lets a new user watch replication happen.
        env.setdefault("REPLICATION_MAX_BYTES_PER_SECOND", str(DEMO_BANDWIDTH))
        stall = settings.WORKER_STALL_SECONDS
        specs = [Spec("web", web_command(binds, certificate), env)]
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
        base = f"{'https' if serve_tls else 'http'}://{url_host(host)}:{port}/"
        print_logins(self.stdout, base)
        if certificate is not None:
            self.print_tls(certificate, base, port, binds)
        if demo and demo.get("watch"):
            self.stdout.write(f"  Watch a version replicate: {base}versions/{demo['watch'].pk}/\n")
        cap = int(env["REPLICATION_MAX_BYTES_PER_SECOND"])
        if cap:
            self.stdout.write(
                f"  Replication is capped at {cap // 2**20} MiB/s per worker process here, to be watchable "
                "(REPLICATION_MAX_BYTES_PER_SECOND=0 lifts it).\n"
            )
        self.stdout.write(f"  Health of the queues and workers: {base}healthz\n")
        self.stdout.write(
            f"  Press Ctrl-C to stop the web server, {workers} worker(s) and beat; any of them that stops "
            "or stalls is restarted.\n\n"
        )
        self.stdout.flush()
        sys.exit(Supervisor(specs, out=sys.stdout).run())

    def print_tls(self, certificate: tls.TlsFiles, base: str, port: int, binds: list[str]) -> None:
        ca = certificate.ca.resolve()
        self.stdout.write(
            f"  HTTPS with this installation's own CA ({ca}). For the az CLI and Python (requests, azure-identity,\n"
            f"  msal) to trust it:\n    export REQUESTS_CA_BUNDLE={ca} SSL_CERT_FILE={ca}\n"
            f"  Then: az cloud register -n Portal --endpoint-resource-manager {base} && az cloud set -n Portal\n"
        )
        if port != 443 and len(binds) == 1:
            self.stdout.write(
                "  Port 443 is not served (not root, or taken): `az login -u` (MSAL's user-realm discovery) needs it;\n"
                "  PORTAL_ADDR=127.0.0.1:443 as root or with CAP_NET_BIND_SERVICE serves it.\n"
            )
