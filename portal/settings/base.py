"""Settings for every environment, read from the environment (12-factor).

The embedded default needs no server: SQLite in WAL mode, the SQLite broker of portal.broker and region
storage in a local folder, all under ``var/``. Production sets ``DATABASE_URL``,
``CELERY_BROKER_URL``, ``SECRET_KEY`` and ``ALLOWED_HOSTS`` (see README); ``DEBUG`` is off unless set.
"""

from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Off unless asked for: a forgotten setting must not serve debug pages. SECRET_KEY: see "Security" below.
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tables2",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from static/, never from a CDN
    "guardian",
    "axes",
    "accounts",
    "galleries",
    "portal",
]

MIDDLEWARE = [
    "portal.core.arm.ArmPathMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.AccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.directory",
            ],
        },
    },
    {  # the polled fragments only (portal/core/jinja.py); looked up with using="jinja2"
        "NAME": "jinja2",
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "portal.core.jinja.environment"},
    },
]

# SQLite (the embedded default) runs in WAL mode with a busy timeout and IMMEDIATE transactions:
# the web process and the Celery worker write at the same time, and IMMEDIATE takes the write lock
# at BEGIN so two writers queue instead of deadlocking on a lock upgrade.
SQLITE_OPTIONS = {
    "timeout": env.float("SQLITE_BUSY_TIMEOUT", default=30),
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
}
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
# PostgreSQL only: the hot polled reads (portal.core.prepared) are prepared on the server after two uses
# of a connection and planned once for any parameters (a generic plan, from the tables' statistics);
# Django's own queries bind on the client and are never prepared, so nothing else is affected. Behind
# a transaction-pooling PgBouncer without prepared-statement support, set DATABASE_PREPARED_STATEMENTS=0.
DATABASE_PREPARED_STATEMENTS = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
    if DATABASE_PREPARED_STATEMENTS:
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options.setdefault("prepare_threshold", 2)
        options["options"] = (options.get("options", "") + " -c plan_cache_mode=force_generic_plan").strip()

# The stamps' notices (portal/core/notices.py): each web process listens on one more connection, and a
# replication panel it keeps answers a browser's revalidation (304) without a read while PostgreSQL tells
# of no change. A session-level feature, like prepared statements: behind a transaction-pooling PgBouncer
# (which delivers no notices) it is off with DATABASE_PREPARED_STATEMENTS=0, or alone with STAMP_NOTICES=0.
STAMP_NOTICES = env.bool("STAMP_NOTICES", default=DATABASE_PREPARED_STATEMENTS)

# The ARM-compatible API (portal/core/arm.py, galleries/api/).
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "portal.core.arm.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [],  # ArmView sets its own (portal.core.arm.ArmAuthentication)
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
from portal.settings.spectacular import SPECTACULAR_SETTINGS  # noqa: E402,F401

ARM_PAGE_SIZE = env.int("ARM_PAGE_SIZE", default=100)
ARM_OPERATION_DAYS = env.int("ARM_OPERATION_DAYS", default=7)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # login throttling, first so a locked-out sign-in stops here
    "accounts.backends.AccessBackend",  # has_perm on resources and roles: the access module's answer only
    "django.contrib.auth.backends.ModelBackend",
]
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous visitors get nothing
# guardian stores the role assignments; its backend is replaced on purpose by AccessBackend above.
SILENCED_SYSTEM_CHECKS = ["guardian.W001"]

# Login throttling (N5): after AXES_FAILURE_LIMIT wrong passwords for one username from one address,
# sign-in (pages and the token endpoint) is refused for the cool-off time.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_VERBOSE = False
# Behind a reverse proxy every request comes from the proxy: throttle by the address the proxy saw.
AXES_CLIENT_IP_CALLABLE = "accounts.views.client_ip"

# All Resources counts up to this many pages past the one asked for, then says "N+".
ALL_RESOURCES_COUNT_AHEAD_PAGES = env.int("ALL_RESOURCES_COUNT_AHEAD_PAGES", default=20)

# Bearer tokens of the token endpoint (seconds).
ACCESS_TOKEN_SECONDS = env.int("ACCESS_TOKEN_SECONDS", default=3600)
# Refresh tokens (password grant only, as Entra ID): 90 days. The RSA keys that sign tokens rotate every
# SIGNING_KEY_DAYS (accounts.keys); a retired key stays published until its last token has expired.
REFRESH_TOKEN_SECONDS = env.int("REFRESH_TOKEN_SECONDS", default=90 * 86400)
SIGNING_KEY_DAYS = env.int("SIGNING_KEY_DAYS", default=30)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env(
            "STATICFILES_BACKEND", default="whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Region storage -------------------------------------------------------------------------
# Every region is a folder this deployment controls: <root>/<cloud>/<region>/<zone>/...
# REGION_STORAGE_ROOT is the default root; REGION_STORAGE_ROOTS maps single regions to their own
# disks, e.g. "westeurope=/mnt/we,eastus=/mnt/eus".
REGION_STORAGE_ROOT = Path(env("REGION_STORAGE_ROOT", default=str(VAR_DIR / "regions")))
REGION_STORAGE_ROOTS = {k: Path(v) for k, v in env.dict("REGION_STORAGE_ROOTS", default={}).items()}
UPLOAD_MAX_CHUNK_BYTES = env.int("UPLOAD_MAX_CHUNK_BYTES", default=64 * 1024 * 1024)

# --- Replication (F9) --------------------------------------------------------------------------
REPLICATION_LEASE_SECONDS = env.int("REPLICATION_LEASE_SECONDS", default=60)
REPLICATION_MAX_ATTEMPTS = env.int("REPLICATION_MAX_ATTEMPTS", default=5)
REPLICATION_RETRY_BASE_SECONDS = env.int("REPLICATION_RETRY_BASE_SECONDS", default=10)
REPLICATION_RETRY_MAX_SECONDS = env.int("REPLICATION_RETRY_MAX_SECONDS", default=600)
REPLICATION_PROGRESS_BYTES = env.int("REPLICATION_PROGRESS_BYTES", default=64 * 1024 * 1024)
REPLICATION_PROGRESS_SECONDS = env.float("REPLICATION_PROGRESS_SECONDS", default=1.0)
REPLICATION_MAX_BYTES_PER_SECOND = env.int("REPLICATION_MAX_BYTES_PER_SECOND", default=0)
REPLICATION_REAPER_GRACE_SECONDS = env.int("REPLICATION_REAPER_GRACE_SECONDS", default=30)
REPLICATION_REAPER_INTERVAL_SECONDS = env.int("REPLICATION_REAPER_INTERVAL_SECONDS", default=15)

# --- Celery ---------------------------------------------------------------------------------
# The embedded default's broker is portal.broker: one SQLite file, safe with several producers and
# consumers; a killed worker's messages come back after BROKER_VISIBILITY_TIMEOUT (its holder renews
# them while it lives). Production sets redis:// or amqp://.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=f"sqlite:///{(VAR_DIR / 'broker.sqlite3').resolve()}")
EMBEDDED_BROKER = CELERY_BROKER_URL.startswith("sqlite://")
if EMBEDDED_BROKER:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.float("BROKER_VISIBILITY_TIMEOUT", default=60),
        "polling_interval": env.float("CELERY_BROKER_POLLING_INTERVAL", default=0.2),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Celery's prefork pool stalls for good on a polling transport when a child dies holding the shared
# queue's lock (billiard's SemLock); on the embedded broker workers run tasks in threads instead.
CELERY_WORKER_POOL = env("CELERY_WORKER_POOL", default="threads" if EMBEDDED_BROKER else "prefork")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = ("portal.celery.route_task",)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Liveness (portal.core.liveness, portal.beat, portal.health, manage.py up): beat sends a heartbeat task
# to every queue that needs a consumer every HEARTBEAT_SECONDS; /healthz calls a queue live when its
# heartbeat ran (or its work progressed) within HEALTH_STALE_SECONDS. The supervisor of `manage.py
# up` replaces a worker whose ping has waited, with no task activity at all, for WORKER_STALL_SECONDS.
HEARTBEAT_SECONDS = env.float("HEARTBEAT_SECONDS", default=30)
HEALTH_STALE_SECONDS = env.float("HEALTH_STALE_SECONDS", default=3 * HEARTBEAT_SECONDS + 10)
WORKER_STALL_SECONDS = env.float("WORKER_STALL_SECONDS", default=120)
WORKER_PING_SECONDS = env.float("WORKER_PING_SECONDS", default=15)
WORKER_STARTUP_SECONDS = env.float("WORKER_STARTUP_SECONDS", default=60)  # no stall verdict before
CELERY_BEAT_SCHEDULER = "portal.beat:Scheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = 5
CELERY_BEAT_SCHEDULE = {
    # Run inside beat (portal.beat), not by a worker: they watch the workers.
    "reap-replication": {
        "task": "galleries.replication.reap",
        "schedule": REPLICATION_REAPER_INTERVAL_SECONDS,
        "options": {"in_beat": True},
    },
    "queue-heartbeats": {
        "task": "portal.health.publish_heartbeats",
        "schedule": HEARTBEAT_SECONDS,
        "options": {"in_beat": True},
    },
    "signing-keys": {  # rotate the token signing key when due, delete retired ones (accounts.keys)
        "task": "accounts.keys.maintain",
        "schedule": crontab(minute=29, hour=2),
        "options": {"in_beat": True},
    },
    "scrub-replicas": {
        "task": "galleries.tasks.scrub_all_regions",
        "schedule": crontab(minute=43, hour=3),
    },
    "lifecycle": {
        "task": "galleries.tasks.run_lifecycle",
        "schedule": crontab(minute=7, hour=4),
    },
    "reconcile-usage": {
        "task": "galleries.tasks.reconcile_usage",
        "schedule": crontab(minute=17),
    },
    "admit-waiting-deployments": {
        "task": "galleries.deployments.admit_waiting_deployments",
        "schedule": 15.0,
    },
    "expire-stale-uploads": {
        "task": "galleries.tasks.expire_stale_uploads",
        "schedule": crontab(minute="*/30"),
    },
    "purge-operations": {
        "task": "galleries.tasks.purge_operations",
        "schedule": crontab(minute=29, hour=5),
    },
    "advance-group-deletions": {
        "task": "galleries.tasks.advance_group_deletions",
        "schedule": 15.0,
    },
    "advance-template-deployments": {
        "task": "galleries.tasks.advance_template_deployments",
        "schedule": 15.0,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Security -------------------------------------------------------------------------------
# The secret key (portal/secret_key.py): SECRET_KEY when set (a development key stops a DEBUG=false
# start); else, on the embedded default (SQLite under PORTAL_VAR_DIR and the embedded broker: one machine,
# one folder) or with DEBUG on, a random key of this installation kept in <PORTAL_VAR_DIR>/secret_key;
# anywhere else nothing starts, and the message says what to set.
from portal.secret_key import resolve as _resolve_secret_key  # noqa: E402

EMBEDDED_DEFAULT = (
    EMBEDDED_BROKER
    and DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    and Path(DATABASES["default"]["NAME"]).resolve().is_relative_to(VAR_DIR.resolve())
)
SECRET_KEY = _resolve_secret_key(
    env("SECRET_KEY", default=""), debug=DEBUG, embedded=EMBEDDED_DEFAULT, var_dir=VAR_DIR
)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
# The portal's public address (e.g. https://sig.example.com) when the request's own scheme and host are not it;
# empty: each request's (portal.core.urls.public_base). Issuers, audiences and /metadata/endpoints are built on it.
PUBLIC_URL = env("PUBLIC_URL", default="")
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy (issue 12) -----------------------------------------------------------
# django-csp sets it on every response whose view did not set its own (the API's docs pages keep theirs,
# portal/api_docs_urls.py): scripts, styles, images, fonts and requests of this origin only; no inline
# script or style and no eval (the templates use data- attributes that static/portal/portal.js reads,
# htmx runs with allowEval and its injected indicator styles off); no plugins, no framing, forms post here.
from csp.constants import NONE as _NONE  # noqa: E402
from csp.constants import SELF as _SELF  # noqa: E402

MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware"
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [_SELF],
        "script-src": [_SELF],
        "style-src": [_SELF],
        "img-src": [_SELF],
        "font-src": [_SELF],
        "connect-src": [_SELF],
        "object-src": [_NONE],
        "base-uri": [_SELF],
        "frame-ancestors": [_NONE],
        "form-action": [_SELF],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
UPLOAD_EXPIRY_HOURS = env.int("UPLOAD_EXPIRY_HOURS", default=72)
# Size of the demo's biggest disk: large enough to watch replication progress region by region.
DEMO_OS_DISK_MIB = env.int("DEMO_OS_DISK_MIB", default=128)

# --- Cost (F16) -- BEGIN: owned by galleries/costs.py; append-only block -------------------------
# The service itself is free; what costs money is the storage of every replica and the one-time
# network egress of the first copy into each region other than the source. These default prices are
# ILLUSTRATIVE, list-like figures so the estimates have sensible magnitudes; a deployment configures
# its own. Money values are strings so they stay exact decimals (numbers are accepted too).
# COST_PRICE_TABLE_FILE names a JSON file whose top-level keys replace these defaults, e.g.
#   {"storage_per_gib_month": {"Standard_LRS": "0.04", ...},
#    "region_overrides": {"westeurope": {"Premium_LRS": "0.18"}}, "egress_per_gib": "0.08"}
# region_overrides: region name -> {storage account type: price per GiB-month} for that region only;
# types it does not name keep the default price.
COST_PRICES = {
    "currency": "USD",
    "storage_per_gib_month": {
        "Standard_LRS": "0.05",
        "Standard_ZRS": "0.0625",
        "Premium_LRS": "0.15",
    },
    "region_overrides": {},
    "egress_per_gib": "0.087",
}
COST_PRICE_TABLE_FILE = env("COST_PRICE_TABLE_FILE", default="")
if COST_PRICE_TABLE_FILE:
    import json as _json  # noqa: E402 -- kept inside this block on purpose

    with open(COST_PRICE_TABLE_FILE, encoding="utf-8") as _f:
        COST_PRICES = {**COST_PRICES, **_json.load(_f)}
# --- Cost (F16) -- END -----------------------------------------------------------------------------

# --- Bad input (issue 12) -- owned by portal/core/inputs.py --------------------------------------------
# A NUL character in a path, query string, cookie, header or form body is a 400 before anything
# else runs (PostgreSQL cannot store one); CSRF refusals of JSON endpoints answer JSON, not a page.
MIDDLEWARE = ["portal.core.inputs.RefuseNulMiddleware", *MIDDLEWARE]
CSRF_FAILURE_VIEW = "portal.core.inputs.csrf_failure"
