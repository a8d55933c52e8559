"""Where the secret key comes from, and the keys that must never sign anything (issue 12, item 1).

The secret key signs sessions, CSRF tokens and the API's bearer tokens (``accounts.tokens``): whoever knows
it can mint a token for any principal. So there is no key in the repository, and a missing or development
key fails closed:

- ``SECRET_KEY`` set: it is used — unless ``DEBUG`` is false and it is a development key (the one this
  repository once published, or Django's ``django-insecure-`` ones): then nothing starts.
- ``SECRET_KEY`` not set, on the embedded default (SQLite under ``PORTAL_VAR_DIR`` and the embedded
  ``sqlite://`` broker: one machine, every process reading the same folder) or with ``DEBUG`` on: a random
  key of this installation, made once in ``<PORTAL_VAR_DIR>/secret_key`` (mode 0600, written under a
  temporary name and linked into place, so processes starting together agree on the first one).
- ``SECRET_KEY`` not set anywhere else with ``DEBUG`` false: nothing starts, and the message says what to
  set and how to make a key.

The settings call ``resolve()`` before Django is set up (nothing here imports an app); ``check_secret_key``
is the ``check --deploy`` check (registered by ``portal.apps``).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Warning
from django.core.exceptions import ImproperlyConfigured

FILE_NAME = "secret_key"
#: Django's advice for a key (``security.W009``): at least this long, with this many different characters.
MIN_LENGTH = 50
MIN_UNIQUE = 5
#: SHA-256 of keys that were published, so refused: the development key of this repository's first
#: commits. Only the hash is kept, so no file of the repository holds a key anyone could sign with.
PUBLISHED_SHA256 = frozenset({"55afb831bf8dc5ef732004cce0f0353a4017b3396f6873cf0fafc5dd8d5f877f"})
HOW = (
    "set SECRET_KEY (in the environment or the .env file next to manage.py) to a long random value, the "
    "same for the web server and every Celery worker and beat, e.g. the output of "
    "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
)


def development_key(key: str) -> str | None:
    """Why ``key`` is a development key that must never sign anything in production, or None."""
    if hashlib.sha256(key.encode()).hexdigest() in PUBLISHED_SHA256:
        return "SECRET_KEY is the development key that was published in this repository"
    if key.startswith("django-insecure-"):
        return "SECRET_KEY is a development key (it starts with 'django-insecure-')"
    return None


def resolve(configured: str, *, debug: bool, embedded: bool, var_dir: Path) -> str:
    """The key the settings use (see the module's doc); raises ``ImproperlyConfigured`` saying what to set."""
    if configured:
        problem = development_key(configured)
        if problem and not debug:
            raise ImproperlyConfigured(
                f"{problem}: anyone can sign sessions and bearer tokens with it. With DEBUG=false, {HOW}."
            )
        return configured
    if embedded or debug:
        return installation_key(var_dir)
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. With DEBUG=false and a DATABASE_URL or CELERY_BROKER_URL of your own, "
        f"{HOW}. (Only the embedded default — SQLite under PORTAL_VAR_DIR and the embedded broker — makes "
        f"its own, in <PORTAL_VAR_DIR>/{FILE_NAME}.)"
    )


def installation_key(var_dir: Path) -> str:
    """This installation's key from ``<var_dir>/secret_key``, made on first use."""
    path = Path(var_dir) / FILE_NAME
    if not path.exists():
        _create(path)
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_LENGTH or len(set(key)) < MIN_UNIQUE or development_key(key):
        raise ImproperlyConfigured(
            f"{path} does not hold a usable secret key (at least {MIN_LENGTH} random characters). Delete the "
            f"file to have a new key made (signed-in sessions and bearer tokens then end), or {HOW}."
        )
    return key


def _create(path: Path) -> None:
    """Write a new random key under a temporary name (0600, fsynced), then link it to ``path``: the link
    fails when another process got there first, and then its key is the one everybody reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_urlsafe(MIN_LENGTH) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use its key
        except OSError:  # a file system without hard links: exclusive create of the final name instead
            _create_in_place(path, tmp.read_text(encoding="utf-8"))
    finally:
        tmp.unlink(missing_ok=True)
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _create_in_place(path: Path, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value)
        f.flush()
        os.fsync(f.fileno())


def check_secret_key(app_configs=None, **kwargs):
    """``check --deploy``: a development key is an error (Django's own check only warns about keys that
    start with ``django-insecure-``, and did not recognise this repository's old one); an installation key
    file that others may read is a warning."""
    messages = []
    for name, key in [("SECRET_KEY", settings.SECRET_KEY)] + [
        ("SECRET_KEY_FALLBACKS", k) for k in getattr(settings, "SECRET_KEY_FALLBACKS", [])
    ]:
        problem = development_key(str(key)) if key else None
        if problem:
            messages.append(
                Error(
                    problem.replace("SECRET_KEY", name, 1) + ": anyone can sign sessions and bearer tokens.",
                    hint=HOW[0].upper() + HOW[1:] + ".",
                    id="portal.E001",
                )
            )
    path = Path(settings.VAR_DIR) / FILE_NAME
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = None
    if mode is not None and mode & 0o077 and path.read_text(encoding="utf-8").strip() == settings.SECRET_KEY:
        messages.append(
            Warning(
                f"{path} holds the secret key and other users may read it (mode {mode:o}).",
                hint=f"chmod 600 {path}",
                id="portal.W001",
            )
        )
    return messages
