"""Where the ARM GET of a version and the replication poll spend their time (issue 16 groundwork): per
request, the SQL queries (``CaptureQueriesContext``: count and text) and this process's CPU time
(``time.process_time``), split by stage, against the trivial view each bench compares with; then
prototypes of cheaper stages timed the same way (copies here, the project's code is unchanged).

The WSGI application is called directly in this process (no server, no load generator), as
``bench/_poll_cpu.py`` does, so the figures hold on a busy machine: CPU per request is the median over
``ROUNDS`` rounds of ``N`` requests, the cases interleaved.

    .venv/bin/python bench/_request_cpu.py api  [N]   # bench/api.py's version GET vs its trivial ArmView
    .venv/bin/python bench/_request_cpu.py poll [N]   # bench/pages.py's poll (full, 304) vs /bench/trivial
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/i16 .venv/bin/python bench/_request_cpu.py api
    HISTORY=40 ELSEWHERE=300 .venv/bin/python bench/_request_cpu.py poll   # a definition with a past

``HISTORY`` (poll only): that many earlier versions of the polled version's definition, Completed in
all its 30 regions; ``ELSEWHERE``: that many Completed versions of another definition (both built
through the services once, then kept; use another ``REQUEST_CPU_DIR`` for another size). The poll's
reads must not grow with either beyond the definition's own candidates.

Without ``DATABASE_URL``, a SQLite file under ``/tmp/sig-bench-request-cpu/`` (built on the first run,
reused after). The database is only migrated and the version built through the services when missing.

The split: each stage's function is wrapped and its inclusive CPU summed per request (stages nest: a
nested row is part of the row above it); "rest" is everything not inside a listed stage (Django's
request handling, middleware, URL resolution, DRF dispatch). The wrappers add ~1 µs per call.
"""

from __future__ import annotations

import importlib.util
import io
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODE = sys.argv[1] if len(sys.argv) > 1 else "api"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200
ROUNDS = 9
STATE = Path(os.environ.get("REQUEST_CPU_DIR", "/tmp/sig-bench-request-cpu"))


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}_direct", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its URLconf is looked up by module name
    spec.loader.exec_module(module)
    return module


def setup():
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    (STATE / "db").mkdir(parents=True, exist_ok=True)
    (STATE / f"var-{MODE}").mkdir(exist_ok=True)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{STATE / 'db' / f'{MODE}.sqlite3'}")
    os.environ["PORTAL_VAR_DIR"] = str(STATE / f"var-{MODE}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.test"
    module = load("api" if MODE == "api" else "pages")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return module


# --- Calling the WSGI application ------------------------------------------------------------------------


class Caller:
    def __init__(self, application):
        from django.test import RequestFactory

        self.application = application
        self.base = RequestFactory()._base_environ()
        self.answer: dict = {}

    def environ(self, path: str, query: str = "", **headers) -> dict:
        env = {**self.base, "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": "GET", **headers}
        env["wsgi.input"] = io.BytesIO(b"")
        return env

    def _start(self, status, headers, exc_info=None):
        self.answer["status"], self.answer["headers"] = status, dict(headers)

    def __call__(self, env: dict) -> bytes:
        body = self.application(env, self._start)
        data = b"".join(body)
        body.close()
        return data


# --- Stages: wrapped functions, inclusive CPU summed ---------------------------------------------------------


class Stages:
    def __init__(self, spec):
        self.spec = spec  # [(label, owner object, attribute)]
        self.spent: dict = defaultdict(float)
        self.calls: dict = defaultdict(int)
        self.saved = []

    def __enter__(self):
        for label, owner, attr in self.spec:
            original = getattr(owner, attr)
            self.saved.append((owner, attr, original))
            setattr(owner, attr, self._wrap(label, original))
        return self

    def __exit__(self, *exc):
        for owner, attr, original in reversed(self.saved):
            setattr(owner, attr, original)

    def _wrap(self, label, original):
        spent, calls, clock = self.spent, self.calls, time.process_time

        def wrapper(*a, **kw):
            t0 = clock()
            try:
                return original(*a, **kw)
            finally:
                spent[label] += clock() - t0
                calls[label] += 1

        return wrapper


def api_cases(api):
    """bench/api.py's version GET and trivial ArmView, with a bearer token of the Owner."""
    from accounts import tokens

    owner, version = api.build_version()
    token = tokens.issue(owner, base=os.environ["PUBLIC_URL"])["access_token"]
    url_of = api.urls(version)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    cases = {}
    for name, url in url_of.items():
        path, _, query = url.partition("?")
        cases[name] = (path, query, headers, "200")
    return cases, {"token": token, "owner": owner, "version": version}


def poll_cases(pages):
    from django.test import Client

    owner, version = pages.build_replication()
    add_history(owner, version, int(os.environ.get("HISTORY", 0)), int(os.environ.get("ELSEWHERE", 0)))
    client = Client()
    client.force_login(owner)
    hx, cookies = pages._common.page_htmx_headers(client, f"/versions/{version.pk}/")
    poll = f"/versions/{version.pk}/replication"
    headers = {"HTTP_COOKIE": cookies, **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in hx.items()}}
    etag = client.get(poll, headers=hx).headers["ETag"]
    return {
        "poll, revalidated (304)": (poll, "", {**headers, "HTTP_IF_NONE_MATCH": etag}, "304"),
        "replication poll": (poll, "", headers, "200"),
        "trivial view": (pages.TRIVIAL_URL, "", {"HTTP_COOKIE": cookies}, "200"),
    }, {"owner": owner, "version": version}


def add_history(owner, version, history: int, elsewhere: int) -> None:
    """``history`` earlier versions (0.x.y) of ``version``'s definition and ``elsewhere`` versions (0.x.y)
    of a definition "elsewhere" in the same gallery, Completed in the same 30 regions."""
    if not (history or elsewhere):
        return
    from django.db.models import F

    from accounts.activity import Caller
    from galleries import services
    from galleries.models import GalleryImage, GalleryImageVersion, TargetRegion
    from galleries.services import TargetRegionSpec

    caller = Caller(principal=owner, source="portal", client_ip="127.0.0.1")
    definition = version.definition
    other = GalleryImage.objects.filter(gallery=definition.gallery, name="elsewhere").first()
    if other is None:
        other = services.create_definition(
            caller,
            definition.gallery,
            "elsewhere",
            publisher="Bench",
            offer="Elsewhere",
            sku="1",
            os_type="Linux",
            os_state="Generalized",
        )
    regions = TargetRegion.objects.filter(version=version).select_related("region").order_by("region__name")
    specs = [TargetRegionSpec(t.region.name, t.replica_count, t.storage_account_type) for t in regions]
    t0 = time.perf_counter()
    for target, count in ((definition, history), (other, elsewhere)):
        have = GalleryImageVersion.objects.filter(definition=target, major=0).count()
        for i in range(have, count):
            made = services.create_version(
                caller,
                target,
                f"0.{i // 100}.{i % 100}",
                location="westeurope",
                source=version.source_image,
                target_regions=specs,
            )
            TargetRegion.objects.filter(version=made).update(
                state=TargetRegion.State.COMPLETED,
                bytes_done=F("bytes_total"),
                last_error="",
                done_revision=F("revision"),
                attempts=0,
            )
    print(
        f"[poll] history: {history} earlier versions here, {elsewhere} in another definition, Completed in "
        f"{len(specs)} regions (built in {time.perf_counter() - t0:.1f} s)",
        flush=True,
    )


def stage_spec():
    if True:
        import jwt
        from django.contrib import auth
        from django.contrib.sessions.backends import db as session_db
        from rest_framework.renderers import JSONRenderer

        from accounts import access, keys, middleware, tokens
        from galleries import panel
        from galleries.api import views as api_views

        return [
            ("bearer: tokens.authenticate (all of the sign-in)", tokens, "authenticate"),
            ("  tokens.decode (header, key, verify, claims)", tokens, "decode"),
            ("    keys.public_key (the key row + PEM)", keys, "public_key"),
            ("    jwt.decode (RSA verify + claim checks)", jwt, "decode"),
            ("  tokens.principal (user row, home tenant, rules)", tokens, "principal"),
            ("bearer: takes_bearer_tokens (URL resolve)", middleware, "takes_bearer_tokens"),
            ("session: auth.get_user (session row + user row)", auth, "get_user"),
            ("  SessionStore.load (session row)", session_db.SessionStore, "load"),
            ("access: access.allowed (chain reads)", access, "allowed"),
            ("  access.grants_for (here or in panel.load)", access, "grants_for"),
            ("view: run_together (version, regions, disks)", api_views, "run_together"),
            ("render: JSONRenderer.render", JSONRenderer, "render"),
            ("poll: panel.load (reads + access + etag)", panel, "load"),
            ("poll: panel.render (Jinja2)", panel, "render"),
        ]


def cpu(fn, n: int = N, rounds: int = ROUNDS) -> float:
    """Median over ``rounds`` of the CPU per call of ``fn`` (µs)."""
    values = []
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        values.append((time.process_time() - t0) / n * 1e6)
    return statistics.median(values)


# --- Prototypes (copies; the project's code is unchanged) -------------------------------------------------------


def prototypes(extra) -> list[tuple[str, float]]:
    """The token path's pieces, alone, and cheaper versions of them, CPU per call (µs)."""
    import jwt
    from django.db.models import Subquery

    from accounts import keys, tokens
    from accounts.models import SigningKey, Tenant, User
    from portal.core.prepared import Prepared

    token = extra["token"]
    base = os.environ["PUBLIC_URL"]
    audience = tokens.audiences(base)["arm"]
    accepted = [audience, audience.rstrip("/")]
    kid = jwt.get_unverified_header(token)["kid"]
    public = keys.public_key(kid)
    claims, _ = tokens.decode(token, accepted)
    row = SigningKey.objects.get(kid=kid)
    pem_public = {}

    def public_cached():  # the public key object cached by PEM (the row still read)
        r = keys.live().filter(kid=kid).first()
        if r.private_pem not in pem_public:
            pem_public[r.private_pem] = keys._private(r.private_pem).public_key()
        return pem_public[r.private_pem]

    # (Cost only: ``live()``'s now() is frozen into this compiled statement; the product would test
    # retires_at against the database clock, e.g. ``Now()``.)
    key_row = Prepared(lambda kid: keys.live().filter(kid=kid).values_list("private_pem"))
    # A prepared read cannot take now() as a parameter (a datetime); the retirement test goes in SQL.
    key_row_now = Prepared(
        lambda kid: SigningKey.objects.filter(kid=kid).values_list("private_pem", "retires_at")
    )
    oid = str(claims["oid"])

    def compiled(qs):
        """The queryset's SQL compiled once and re-run with the same parameters through Django's cursor:
        what a prepared read costs (``Prepared`` takes only int/str parameters, and ``object_id`` is a UUID)."""
        from django.db import connection

        sql, params = qs.query.get_compiler("default").as_sql()

        def run():
            with connection.cursor() as c:
                c.execute(sql, params)
                return c.fetchall()

        return run

    user_row = compiled(
        User.objects.filter(object_id=oid, is_active=True).values_list(
            "pk",
            "credential_generation",
            "is_staff",
            "is_superuser",
            "kind",
            "home_tenant_id",
            "home_tenant__tenant_id",
        )
    )
    # One query for key and principal: the user row with the key's liveness as an EXISTS.
    both = compiled(
        User.objects.filter(object_id=oid, is_active=True)
        .annotate(key_pem=Subquery(keys.live().filter(kid=kid).values("private_pem")[:1]))
        .values_list("pk", "credential_generation", "home_tenant__tenant_id", "key_pem")
    )
    pyjwt = jwt.PyJWT()
    jws = jwt.PyJWS()

    def verify_only():
        jws.decode_complete(token, public, algorithms=["RS256"])

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signing_input, _, sig_b64 = token.rpartition(".")
    signature = jwt.utils.base64url_decode(sig_b64)

    def raw_verify():
        public.verify(signature, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())

    out = [
        (
            "tokens.decode as today (header, key row via ORM, PEM → key, jwt.decode)",
            lambda: tokens.decode(token, accepted),
        ),
        ("  keys.public_key as today (ORM query + public_key())", lambda: keys.public_key(kid)),
        ("  key row via ORM only (.first())", lambda: keys.live().filter(kid=kid).first()),
        ("  key row as a prepared read", lambda: key_row.rows(kid=kid)),
        ("  key row prepared, no time test", lambda: key_row_now.rows(kid=kid)),
        (
            "  _private(pem).public_key() (cached private key → public)",
            lambda: keys._private(row.private_pem).public_key(),
        ),
        ("  public key cached by PEM (row still read via ORM)", public_cached),
        ("  jwt.get_unverified_header", lambda: jwt.get_unverified_header(token)),
        (
            "  jwt.decode with the key in hand (verify + claims)",
            lambda: jwt.decode(
                token,
                public,
                algorithms=["RS256"],
                audience=accepted,
                leeway=tokens.LEEWAY,
                options={"require": tokens.REQUIRED},
            ),
        ),
        ("  PyJWS.decode_complete (verify, no claims)", verify_only),
        ("  cryptography RSA verify alone", raw_verify),
        (
            "tokens.principal as today (user + home tenant via ORM, rules)",
            lambda: tokens.principal(claims, base),
        ),
        (
            "  user row via ORM (.select_related.first())",
            lambda: User.objects.filter(object_id=oid, is_active=True).select_related("home_tenant").first(),
        ),
        ("  user row compiled once (7 columns)", user_row),
        ("  key PEM + user in one compiled read (sub-select)", both),
        (
            "Tenant by guid via ORM (a guest's token)",
            lambda: Tenant.objects.filter(tenant_id=claims["tid"]).first(),
        ),
    ]
    del pyjwt
    return [(name, cpu(fn, n=max(50, N // 2))) for name, fn in out]


# --- Main ------------------------------------------------------------------------------------------------------


def main() -> None:
    module = setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench._common import abbreviate_sql

    call = Caller(module.application)
    cases, extra = api_cases(module) if MODE == "api" else poll_cases(module)
    envs = {name: (lambda p=p, q=q, h=h: call.environ(p, q, **h)) for name, (p, q, h, _) in cases.items()}
    for name, (_, _, _, expect) in cases.items():
        call(envs[name]())
        if not call.answer["status"].startswith(expect):
            raise SystemExit(f"{name}: answered {call.answer['status']}, expected {expect}")

    print(
        f"database: {connection.vendor} {settings.DATABASES['default']['NAME']}; {N} requests x {ROUNDS} rounds"
    )
    print("\n1. queries per request (CaptureQueriesContext):")
    for name in cases:
        with CaptureQueriesContext(connection) as q:
            call(envs[name]())
        print(f"  {name}: {len(q.captured_queries)} queries")
        for x in q.captured_queries:
            print(f"    - {abbreviate_sql(x['sql']).replace(chr(34), '')[:200]}")

    costs: dict = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name in cases:
            batch = [envs[name]() for _ in range(N)]
            t0 = time.process_time()
            for env in batch:
                call(env)
            costs[name].append((time.process_time() - t0) / N * 1e6)
    med = {name: statistics.median(v) for name, v in costs.items()}
    print(f"\n2. CPU per request, median of {ROUNDS} rounds of {N} (µs):")
    trivial = [n for n in cases if "trivial" in n][0]
    for name, value in med.items():
        print(f"  {name:<40} {value:8.1f}   trivial ÷ this {med[trivial] / value:.3f}")

    print("\n3. CPU split by stage (µs per request, inclusive; nested rows are part of the row above):")
    spec = stage_spec()
    split = {}
    for name in cases:
        per_round = []
        for _ in range(3):
            batch = [envs[name]() for _ in range(N)]
            with Stages(spec) as st:
                t0 = time.process_time()
                for env in batch:
                    call(env)
                total = time.process_time() - t0
            per_round.append((total, dict(st.spent), dict(st.calls)))
        per_round.sort(key=lambda x: x[0])
        total, spent, calls = per_round[1]
        split[name] = (total / N * 1e6, {k: v / N * 1e6 for k, v in spent.items()}, calls)
    names = list(cases)
    print(f"  {'stage':<52}" + "".join(f"{n[:22]:>24}" for n in names))
    for label, *_ in spec:
        if not any(label in split[n][1] for n in names):
            continue
        print(f"  {label:<52}" + "".join(f"{split[n][1].get(label, 0):>24.1f}" for n in names))
    top = [label for label, *_ in spec if not label.startswith(" ")]
    print(
        f"  {'rest (handler, middleware, URLs, DRF, view code)':<52}"
        + "".join(f"{split[n][0] - sum(split[n][1].get(t, 0) for t in top):>24.1f}" for n in names)
    )
    print(f"  {'total (with the wrappers)':<52}" + "".join(f"{split[n][0]:>24.1f}" for n in names))

    if MODE == "api":
        print(f"\n4. prototypes: CPU per call, median of {ROUNDS} rounds (µs):")
        for name, value in prototypes(extra):
            print(f"  {name:<72} {value:8.1f}")
    else:
        from galleries import services

        definition = extra["version"].definition
        value = cpu(lambda: services.latest_by_region(definition), n=20)
        print(
            f"\n4. services.latest_by_region of the polled definition (its page, the lifecycle plan): {value:.1f} µs"
        )


if __name__ == "__main__":
    main()
