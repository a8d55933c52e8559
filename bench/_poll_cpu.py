"""The CPU cost per request of the replication poll (full and revalidated 304) and of the trivial view, with
the WSGI application called directly in this process — no server, no load generator, no scheduler between
them — so two versions of the code can be compared without the run-to-run swing of the gunicorn figures.

Used to settle issue 13's question (was the 304 poll slower after the edge rebuild?): run it from a checkout
of each commit against the same database (the first run builds the 30-region version through the services)::

    .venv/bin/python bench/_poll_cpu.py [ROOT] [N]       # ROOT: the checkout whose code runs (default: this one)

Prints, per case, the median over 12 rounds of N requests (default 300) of ``time.process_time`` per request,
and the 304 ÷ trivial cost ratio. Not part of ``make bench`` (the leading underscore): a diagnosis tool.
"""

import importlib.util
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]).resolve()
N = int(sys.argv[2]) if len(sys.argv) > 2 else 300
STATE = Path(os.environ.get("POLL_CPU_DIR", "/tmp/sig-bench-poll-cpu"))


def main() -> None:
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    (STATE / "db").mkdir(parents=True, exist_ok=True)
    (STATE / "var").mkdir(exist_ok=True)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{STATE / 'db' / 'pages.sqlite3'}")
    os.environ["PORTAL_VAR_DIR"] = str(STATE / "var")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.test"
    spec = importlib.util.spec_from_file_location("bench_pages_direct", ROOT / "bench" / "pages.py")
    pages = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = pages  # its URLconf is looked up by module name
    spec.loader.exec_module(pages)

    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client, RequestFactory

    call_command("migrate", verbosity=0)
    owner, version = pages.build_replication()
    client = Client()
    client.force_login(owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    poll = f"/versions/{version.pk}/replication"
    base = RequestFactory()._base_environ()
    answer = {}

    def environ(path: str, **headers) -> dict:
        env = {
            **base,
            "PATH_INFO": path,
            "REQUEST_METHOD": "GET",
            "HTTP_COOKIE": f"sessionid={cookie}",
            **headers,
        }
        env["wsgi.input"] = io.BytesIO(b"")
        return env

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)

    def call(env: dict) -> None:
        body = pages.application(env, start_response)
        b"".join(body)
        body.close()

    call(environ(poll, HTTP_HX_REQUEST="true"))
    etag = answer["headers"]["ETag"]
    cases = {
        "poll, revalidated (304)": (
            lambda: environ(poll, HTTP_HX_REQUEST="true", HTTP_IF_NONE_MATCH=etag),
            "304",
        ),
        "trivial view": (lambda: environ(pages.TRIVIAL_URL), "200"),
        "replication poll": (lambda: environ(poll, HTTP_HX_REQUEST="true"), "200"),
    }
    for name, (make, expect) in cases.items():
        call(make())
        if not answer["status"].startswith(expect):
            raise SystemExit(f"{name}: answered {answer['status']}, expected {expect}")
    costs = {name: [] for name in cases}
    for _ in range(12):
        for name, (make, _expect) in cases.items():
            envs = [make() for _ in range(N)]
            t0 = time.process_time()
            for env in envs:
                call(env)
            costs[name].append((time.process_time() - t0) / N * 1e6)
    print(f"code: {ROOT}; database: {settings.DATABASES['default']['NAME']}")
    for name, values in costs.items():
        print(f"{name:26s} {statistics.median(values):8.1f} µs CPU per request (min {min(values):.1f})")
    ratio = statistics.median(costs["poll, revalidated (304)"]) / statistics.median(costs["trivial view"])
    print(f"304 ÷ trivial, CPU per request: {ratio:.3f}")


if __name__ == "__main__":
    main()
