"""A small process supervisor for ``manage.py up``: start the web server, the workers and beat; restart
any of them that exits or stalls, with backoff and a log line; stop them all on Ctrl-C or SIGTERM.

- Every child runs in its own session (process group), so a restart or the stop reaches whatever it
  forked, and a terminal's Ctrl-C reaches only the supervisor, which then stops the children in order.
- On Linux every child is killed by the kernel if the supervisor dies, even by SIGKILL
  (``PR_SET_PDEATHSIG``): nothing is left running with parent 1.
- A child that exits is started again after a delay that doubles with each quick failure (1 s, 2 s,
  4 s … up to ``max_backoff``): a crash loop at start-up does not spin. The delay drops back to 1 s
  for a child that had come up (touched its liveness file: a worker once ready, beat once ticking)
  or had run for ``stable_seconds``.
- Stalls. A child with a liveness file (``portal.core.liveness``) is judged by it:
  * a *pinged* child (a worker) gets a ping task on its own queue; a ping that has waited
    ``stall_seconds`` while the child showed no activity at all (no task started, ended or
    progressed) means the child receives but does not run: it is killed and started again. A busy
    child's ping simply waits, since its tasks keep touching the file;
  * an unpinged child (beat) is stalled when its file is older than ``stall_seconds``.

The supervisor knows nothing about Django or Celery: ``manage.py up`` gives it the commands, the
liveness files and the function that sends a ping.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .core import liveness


@dataclass
class Spec:
    name: str
    argv: list[str]
    env: dict[str, str]
    liveness_file: Path | None = None
    ping: Callable[[str], None] | None = None  # sends a ping with this id to the child's own queue
    stall_seconds: float = 120.0
    startup_seconds: float = 60.0  # no stall verdict before the child had time to start
    ping_every: float = 15.0


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    spec: Spec
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    next_start_at: float = 0.0
    restarts: int = 0
    quick_failures: int = 0
    ping_id: str = ""
    ping_sent_at: float = 0.0
    ping_answered_at: float = 0.0
    killed_for_stall: str = ""
    threads: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        specs: list[Spec],
        out: IO[str] | None = None,
        stop_timeout: float = 10.0,
        max_backoff: float = 60.0,
        stable_seconds: float = 60.0,
        tick: float = 0.25,
    ):
        self.children = [Child(spec) for spec in specs]
        self.out = out or sys.stdout
        self.stop_timeout = stop_timeout
        self.max_backoff = max_backoff
        self.stable_seconds = stable_seconds
        self.tick = tick
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self.width = max(len(s.name) for s in specs) if specs else 10
        self.width = max(self.width, len("supervisor"))

    # --- output ----------------------------------------------------------------------------------

    def say(self, name: str, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._write_lock:
            self.out.write(f"{stamp} {name:<{self.width}} | {line.rstrip()}\n")
            self.out.flush()

    def _pump(self, name: str, stream) -> None:
        for line in iter(stream.readline, ""):
            self.say(name, line)
        stream.close()

    # --- lifecycle of one child ------------------------------------------------------------------

    def start(self, child: Child) -> None:
        spec = child.spec
        if spec.liveness_file is not None:
            spec.liveness_file.parent.mkdir(parents=True, exist_ok=True)
            for stale in (spec.liveness_file, liveness.pong_path(spec.liveness_file)):
                stale.unlink(missing_ok=True)
        child.proc = subprocess.Popen(
            spec.argv,
            env=spec.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        child.started_at = time.monotonic()
        child.ping_id, child.ping_sent_at, child.ping_answered_at = "", 0.0, child.started_at
        child.killed_for_stall = ""
        reader = threading.Thread(target=self._pump, args=(spec.name, child.proc.stdout), daemon=True)
        reader.start()
        child.threads = [reader]
        verb = "restarted" if child.restarts else "started"
        self.say("supervisor", f"{spec.name} {verb} (pid {child.proc.pid})")

    def _kill_group(self, child: Child, sig: int) -> None:
        if child.proc is None:
            return
        try:
            os.killpg(child.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    @staticmethod
    def _has_exited(child: Child) -> bool:
        """Exited, but not reaped yet (so its process group can still be killed safely)."""
        try:
            return os.waitid(os.P_PID, child.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _exited(self, child: Child, returncode: int, now: float) -> None:
        ran = now - child.started_at
        for t in child.threads:
            t.join(timeout=1)
        child.proc = None
        spec = child.spec
        came_up = spec.liveness_file is not None and spec.liveness_file.exists()  # touched since it started
        if ran >= self.stable_seconds or came_up:
            child.quick_failures = 0  # it was working: this is no crash loop at start-up
        delay = min(2.0**child.quick_failures, self.max_backoff)
        child.quick_failures += 1
        child.restarts += 1
        child.next_start_at = now + delay
        how = f"signal {signal.Signals(-returncode).name}" if returncode < 0 else f"exit code {returncode}"
        why = f" ({child.killed_for_stall})" if child.killed_for_stall else ""
        self.say(
            "supervisor",
            f"{child.spec.name} exited with {how}{why} after {ran:.0f} s; restarting in {delay:.0f} s "
            f"(restart {child.restarts})",
        )

    def _stall(self, child: Child, now: float) -> str:
        """Why this running child counts as stalled, or '' if it does not."""
        spec = child.spec
        if spec.liveness_file is None or now - child.started_at < spec.startup_seconds:
            return ""
        idle = liveness.age(spec.liveness_file)
        idle = now - child.started_at if idle is None else min(idle, now - child.started_at)
        if spec.ping is None:
            if idle > spec.stall_seconds:
                return f"no sign of life for {idle:.0f} s"
            return ""
        if child.ping_id and liveness.last_pong(spec.liveness_file) == child.ping_id:
            child.ping_id, child.ping_answered_at = "", now
        if child.ping_id:
            waited = now - child.ping_sent_at
            if waited > spec.stall_seconds and idle > spec.stall_seconds:
                return (
                    f"a ping waited {waited:.0f} s and no task started, ended or progressed for {idle:.0f} s"
                )
        return ""

    def _maybe_ping(self, child: Child, now: float) -> None:
        spec = child.spec
        if spec.ping is None or child.ping_id or now - child.ping_answered_at < spec.ping_every:
            return
        ping_id = uuid.uuid4().hex
        try:
            spec.ping(ping_id)
        except Exception as exc:  # noqa: BLE001 - a broker hiccup: try again at the next tick
            self.say("supervisor", f"could not ping {spec.name}: {type(exc).__name__}: {exc}")
            child.ping_answered_at = now
            return
        child.ping_id, child.ping_sent_at = ping_id, now

    # --- the loop --------------------------------------------------------------------------------

    def request_stop(self, *_args) -> None:
        self._stop.set()

    def run(self, install_signals: bool = True) -> int:
        if install_signals:  # only the main thread may (tests run the loop in another thread)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, self.request_stop)
        try:
            for child in self.children:
                self.start(child)
            while not self._stop.is_set():
                now = time.monotonic()
                for child in self.children:
                    if self._stop.is_set():
                        break
                    if child.proc is None:
                        if now >= child.next_start_at:
                            self.start(child)
                        continue
                    if self._has_exited(child):
                        self._kill_group(child, signal.SIGKILL)  # before reaping: its pid is still ours
                        self._exited(child, child.proc.wait(), now)
                        continue
                    reason = self._stall(child, now)
                    if reason:
                        child.killed_for_stall = f"stalled: {reason}"
                        self.say("supervisor", f"{child.spec.name} is stalled ({reason}); killing it")
                        self._kill_group(child, signal.SIGKILL)
                        continue
                    self._maybe_ping(child, now)
                self._stop.wait(self.tick)
        finally:
            self.stop_all()
        return 0

    def stop_all(self) -> None:
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        if running:
            self.say("supervisor", f"stopping {', '.join(c.spec.name for c in running)}")
        for child in running:
            self._kill_group(child, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            try:
                child.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.say(
                    "supervisor",
                    f"{child.spec.name} did not stop within {self.stop_timeout:.0f} s; killing it",
                )
        for child in self.children:
            self._kill_group(child, signal.SIGKILL)  # stragglers, and anything a child forked
            if child.proc is not None:
                try:
                    child.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            for t in child.threads:
                t.join(timeout=1)
        self.say("supervisor", "stopped")
