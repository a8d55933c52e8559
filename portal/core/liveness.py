"""Liveness of a worker or beat process, read by the supervisor of ``manage.py up`` (or by any other
supervisor: a container's liveness probe can test the same file's age).

A process started with ``PORTAL_LIVENESS_FILE`` touches that file whenever it shows that it is doing
its job: a task starts or ends, a long task makes progress (the region stores call ``touch()`` as
they copy and hash), beat ticks. ``touch()`` writes at most once a second, so hot loops may call it
freely. A ping (``portal.tasks.ping``, sent by the supervisor to a worker's own queue) writes its id
to ``<file>.pong``: the supervisor tells a ping that ran from one still waiting, so a worker that
receives but does not run is found even when it is idle.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV = "PORTAL_LIVENESS_FILE"
_last = 0.0


def path() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def touch(force: bool = False) -> None:
    global _last
    target = path()
    if target is None:
        return
    now = time.monotonic()
    if not force and now - _last < 1.0:
        return
    _last = now
    try:
        os.utime(target)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()


def pong_path(target: Path) -> Path:
    return target.with_name(target.name + ".pong")


def pong(ping_id: str) -> None:
    """Record that the ping ``ping_id`` ran in this process (written whole: temporary name, rename)."""
    target = path()
    if target is None:
        return
    touch(force=True)
    answer = pong_path(target)
    tmp = answer.with_name(answer.name + f".{os.getpid()}.tmp")
    tmp.write_text(ping_id)
    os.replace(tmp, answer)


def last_pong(target: Path) -> str:
    try:
        return pong_path(target).read_text()
    except FileNotFoundError:
        return ""


def age(target: Path) -> float | None:
    """Seconds since the file was last touched (None if it was never written)."""
    try:
        return time.time() - target.stat().st_mtime
    except FileNotFoundError:
        return None
