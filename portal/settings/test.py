"""Test configuration: the same settings, isolated state, fast hashing.

``DATABASE_URL`` still selects the database, so ``.ci/run`` runs the same suite on SQLite and on
PostgreSQL. ``REQUIRE_SERVICES=1`` turns a missing PostgreSQL/Redis into a failure instead of a skip.
"""

import os
import secrets
import tempfile
from pathlib import Path

os.environ.setdefault("PORTAL_VAR_DIR", tempfile.mkdtemp(prefix="sig-test-"))
# A random key for this run, in the environment so the processes tests start (workers, `manage.py up`)
# share it, whatever the database (outside the embedded default a key must be set).
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

from .base import *  # noqa: E402,F403
from .base import DATABASES, env  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)
# No listener per test process by default: its connection would outlive each test database (which
# PostgreSQL then refuses to drop). tests/galleries/test_replication_notices.py turns it on and stops it.
STAMP_NOTICES = env.bool("STAMP_NOTICES", default=False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so threads and worker processes in tests share one database.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(os.environ["PORTAL_VAR_DIR"]) / "test.sqlite3")}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
