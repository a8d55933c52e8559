"""Issue 12, item 1: the secret key fails closed.

- ``DEBUG`` defaults to false.
- No key is built in: without ``SECRET_KEY`` the embedded default (SQLite under ``PORTAL_VAR_DIR`` and the
  embedded broker) makes a random key of its own once, in ``<PORTAL_VAR_DIR>/secret_key`` (mode 0600,
  created atomically so processes starting together agree), and every other deployment refuses to start
  with ``DEBUG=false``, saying what to set.
- A development key (the one this repository once published, or Django's ``django-insecure-`` ones)
  stops a ``DEBUG=false`` start, and ``check --deploy`` fails with it.

Each case starts Python in a subprocess with the production settings module (``portal.settings.dev``, what
``manage.py``, ``portal.wsgi`` and Celery use) and an environment of its own.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings; "
    "print('DEBUG', settings.DEBUG); print('KEY', settings.SECRET_KEY)"
)
#: A key of the kind ``django-admin startproject`` writes for development.
INSECURE = "django-insecure-" + "k3y-0f-a-fr3sh-st4rtpr0j3ct-th4t-n0b0dy-sh0uld-d3pl0y-x7"
POSTGRES = "postgres://portal:secret@db.invalid:5432/portal"  # never connected to: settings only


def the_published_key() -> str | None:
    """The development key the first commit of this repository shipped, read from git history (the key
    itself is no longer in any file); None where the history is not available."""
    try:
        old = subprocess.run(
            ["git", "show", "e48500b:portal/settings/base.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'SECRET_KEY = env\("SECRET_KEY", default="([^"]+)"\)', old)
    return found.group(1) if found else None


DEVELOPMENT_KEYS = [INSECURE] + ([the_published_key()] if the_published_key() else [])


def clean_env(var_dir: Path, **extra) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(PORTAL_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="portal.settings.dev")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_python(code: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def manage(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def started(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def assert_refused_naming_secret_key(result: subprocess.CompletedProcess, *words: str):
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr, result.stderr[-3000:]
    message = result.stderr.rsplit("ImproperlyConfigured", 1)[1]
    assert "SECRET_KEY" in message, message
    assert "secrets.token_urlsafe" in message, message  # how to make one
    for word in words:
        assert word.lower() in message.lower(), (word, message)


def test_debug_defaults_to_false(tmp_path):
    values = started(run_python(PRINT_SETTINGS, clean_env(tmp_path)))
    assert values["DEBUG"] == "False"


def test_the_embedded_default_makes_a_random_key_of_its_own_once_readable_only_by_its_owner(tmp_path):
    first = started(run_python(PRINT_SETTINGS, clean_env(tmp_path)))["KEY"]
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first) >= 50 and len(set(first)) >= 20
    assert first not in DEVELOPMENT_KEYS
    assert started(run_python(PRINT_SETTINGS, clean_env(tmp_path)))["KEY"] == first  # kept
    other = tmp_path / "other-installation"
    assert started(run_python(PRINT_SETTINGS, clean_env(other)))["KEY"] != first  # per installation
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file() and "secret" in p.name) == ["secret_key"]


def test_processes_starting_together_agree_on_the_key(tmp_path):
    env = clean_env(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PRINT_SETTINGS],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    keys = set()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        keys.add(dict(line.split(" ", 1) for line in out.splitlines())["KEY"])
    assert len(keys) == 1
    assert (tmp_path / "secret_key").read_text().strip() in keys
    assert [p.name for p in tmp_path.iterdir() if "secret" in p.name] == ["secret_key"]  # no temporary left


def test_a_set_secret_key_wins_and_no_file_is_made(tmp_path):
    key = "a-long-random-production-key-" + "Zq8xW2pL9vR4tY6uI1oP3aS5dF7gH0jK"
    values = started(run_python(PRINT_SETTINGS, clean_env(tmp_path, SECRET_KEY=key)))
    assert values["KEY"] == key
    assert not (tmp_path / "secret_key").exists()


def test_another_deployment_without_secret_key_refuses_to_start(tmp_path):
    result = run_python(PRINT_SETTINGS, clean_env(tmp_path, DATABASE_URL=POSTGRES))
    assert_refused_naming_secret_key(result, "not set")
    assert not (tmp_path / "secret_key").exists()
    # The embedded database with another broker is not the embedded default either.
    result = run_python(PRINT_SETTINGS, clean_env(tmp_path, CELERY_BROKER_URL="redis://127.0.0.1:6379/0"))
    assert_refused_naming_secret_key(result, "not set")


def test_with_debug_on_a_development_install_without_secret_key_still_starts(tmp_path):
    values = started(run_python(PRINT_SETTINGS, clean_env(tmp_path, DATABASE_URL=POSTGRES, DEBUG="true")))
    assert values["DEBUG"] == "True"
    assert values["KEY"] == (tmp_path / "secret_key").read_text().strip()


@pytest.mark.parametrize("key", DEVELOPMENT_KEYS, ids=lambda k: k[:16])
def test_a_development_key_refuses_a_production_start(tmp_path, key):
    for extra in ({}, {"DATABASE_URL": POSTGRES}):
        result = run_python(PRINT_SETTINGS, clean_env(tmp_path, SECRET_KEY=key, **extra))
        assert_refused_naming_secret_key(result, "development key")


@pytest.mark.parametrize("key", DEVELOPMENT_KEYS, ids=lambda k: k[:16])
def test_check_deploy_fails_with_a_development_key(tmp_path, key):
    result = manage(["check", "--deploy"], clean_env(tmp_path, SECRET_KEY=key, DEBUG="true"))
    assert result.returncode != 0, result.stdout + result.stderr
    assert "portal.E001" in result.stderr, result.stderr[-3000:]
    assert "SECRET_KEY" in result.stderr


def test_check_deploy_accepts_the_installation_key(tmp_path):
    result = manage(["check", "--deploy"], clean_env(tmp_path))
    assert "portal.E001" not in result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_damaged_key_file_is_refused_not_used(tmp_path):
    (tmp_path / "secret_key").write_text("short\n")
    result = run_python(PRINT_SETTINGS, clean_env(tmp_path))
    assert_refused_naming_secret_key(result, str(tmp_path / "secret_key"))
