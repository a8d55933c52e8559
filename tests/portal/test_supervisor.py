"""The supervisor of `manage.py up` (portal.supervisor), first with plain child processes, then the
real process tree: a worker or beat that exits is restarted with backoff and a log line while the web
server goes on answering; a worker that stops running tasks is found by its ping and replaced;
SIGTERM stops every child, and a SIGKILLed supervisor leaves nothing behind."""

from __future__ import annotations

import io
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, wait_for

from portal.supervisor import Spec, Supervisor

PY = sys.executable


class Captured(io.StringIO):
    def lines(self) -> list[str]:
        return self.getvalue().splitlines()


@pytest.fixture
def supervise():
    started: list[tuple[Supervisor, threading.Thread]] = []

    def start(specs: list[Spec], **kw) -> tuple[Supervisor, Captured]:
        out = Captured()
        sup = Supervisor(specs, out=out, **kw)
        thread = threading.Thread(target=sup.run, kwargs={"install_signals": False}, daemon=True)
        thread.start()
        started.append((sup, thread))
        return sup, out

    yield start
    for sup, thread in started:
        sup.request_stop()
        thread.join(timeout=30)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_child_that_exits_is_restarted_with_doubling_backoff_and_a_log_line(supervise):
    sup, out = supervise([Spec("flaky", [PY, "-c", "import sys; sys.exit(3)"], dict(os.environ))])
    wait_for(lambda: len([x for x in out.lines() if "restarting in" in x]) >= 3, 30, "three restarts")
    delays = [
        int(m)
        for m in re.findall(
            r"flaky exited with exit code 3 after \d+ s; restarting in (\d+) s", out.getvalue()
        )
    ]
    assert delays[:3] == [1, 2, 4], out.getvalue()
    assert "(restart 3)" in out.getvalue()


def test_a_child_that_had_come_up_is_restarted_at_once_however_short_it_ran(supervise, tmp_path):
    """A worker SIGKILLed ten seconds after it became ready is not a crash loop at start-up."""
    alive = tmp_path / "c.alive"
    code = f"import sys; open({str(alive)!r}, 'w').close(); sys.exit(1)"
    sup, out = supervise([Spec("c", [PY, "-c", code], dict(os.environ), liveness_file=alive)])
    wait_for(lambda: len(re.findall("restarting in", out.getvalue())) >= 3, 30, "three restarts")
    assert [int(m) for m in re.findall(r"restarting in (\d+) s", out.getvalue())][:3] == [1, 1, 1]


def test_backoff_drops_back_once_a_child_has_run_long_enough(supervise):
    marker = f"/tmp/sup-{os.getpid()}-{time.monotonic_ns()}"
    # Fails quickly twice, then runs for a while before failing again.
    code = (
        "import os, sys, time\n"
        f"p = {marker!r}\n"
        "n = int(open(p).read()) if os.path.exists(p) else 0\n"
        "open(p, 'w').write(str(n + 1))\n"
        "time.sleep(1.5 if n == 2 else 0)\n"
        "sys.exit(1)\n"
    )
    sup, out = supervise([Spec("c", [PY, "-c", code], dict(os.environ))], stable_seconds=1)
    wait_for(lambda: len(re.findall("restarting in", out.getvalue())) >= 4, 30, "four restarts")
    delays = [int(m) for m in re.findall(r"restarting in (\d+) s", out.getvalue())]
    assert delays[:4] == [1, 2, 1, 2], out.getvalue()  # the third run lasted 1.5 s >= stable_seconds
    os.unlink(marker)


def test_stop_ends_every_child_and_whatever_it_forked(supervise):
    code = "import subprocess, time; subprocess.Popen(['sleep', '600']); time.sleep(600)"
    sup, out = supervise([Spec("parent", [PY, "-c", code], dict(os.environ))], stop_timeout=2)
    wait_for(lambda: sup.children[0].proc is not None, 10, "the child")
    child = sup.children[0].proc.pid
    wait_for(lambda: _grandchildren(child), 10, "the grandchild")
    grandchild = _grandchildren(child)[0]
    sup.request_stop()
    wait_for(lambda: "supervisor | stopped" in out.getvalue(), 30, "the stop")
    assert not _alive(child) and not _alive(grandchild)


def test_a_pinged_child_that_never_answers_is_killed_as_stalled_and_restarted(supervise, tmp_path):
    alive = tmp_path / "w.alive"
    pings: list[str] = []
    spec = Spec(
        "w",
        [PY, "-c", "import time; time.sleep(600)"],  # receives nothing, runs nothing, touches nothing
        dict(os.environ),
        liveness_file=alive,
        ping=pings.append,
        stall_seconds=1.0,
        startup_seconds=0.5,
        ping_every=0.2,
    )
    sup, out = supervise([spec])
    wait_for(lambda: "w is stalled" in out.getvalue(), 30, "the stall verdict")
    wait_for(lambda: "w restarted" in out.getvalue(), 30, "the restart")
    assert re.search(
        r"w is stalled \(a ping waited \d+ s and no task started, ended or progressed", out.getvalue()
    )
    assert "exited with signal SIGKILL (stalled:" in out.getvalue()
    assert pings


def test_a_busy_child_whose_ping_waits_is_not_stalled(supervise, tmp_path):
    alive = tmp_path / "w.alive"
    # Busy: touches its liveness file (as a task making progress does), never runs the ping.
    code = f"import os, time\nwhile True:\n    open({str(alive)!r}, 'a').close(); os.utime({str(alive)!r}); time.sleep(0.2)\n"
    pings: list[str] = []
    spec = Spec(
        "w", [PY, "-c", code], dict(os.environ), liveness_file=alive, ping=pings.append,
        stall_seconds=1.0, startup_seconds=0.5, ping_every=0.2,
    )  # fmt: skip
    sup, out = supervise([spec])
    wait_for(lambda: pings and time.monotonic() - sup.children[0].ping_sent_at > 3, 30, "a ping waiting 3 s")
    assert "stalled" not in out.getvalue()
    assert len(pings) == 1  # one ping waits; no pile-up


def _grandchildren(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


# --- the real process tree -------------------------------------------------------------------------


class Up:
    """`manage.py up --no-demo` on a state folder of its own (the embedded default, or the run's
    PostgreSQL and Redis in the service pass)."""

    def __init__(self, tmp_path: Path, **env):
        self.port = 19000 + (os.getpid() + int(time.monotonic())) % 900
        self.var = tmp_path
        base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
        self.env = {
            **base,
            "PORTAL_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "portal.settings.dev",
            "PYTHONUNBUFFERED": "1",
            "PORTAL_ALSO_443": "0",  # port 443 is the machine's, not this test's
            **{k: str(v) for k, v in env.items()},
        }
        self.context: ssl.SSLContext | None = None
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [PY, "manage.py", "up", "--no-demo", "--addr", f"127.0.0.1:{self.port}"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=lambda: [self.lines.append(x) for x in self.proc.stdout], daemon=True).start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait(self, what: str, cond, timeout: float = 120):
        def check():
            assert self.proc.poll() is None, f"up exited:\n{self.output[-4000:]}"
            return cond()

        try:
            return wait_for(check, timeout, what, interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.output[-4000:]}") from None

    def answers(self) -> bool:
        """The web server answers over HTTPS with the CA `up` made in the state folder."""
        if self.context is None:
            ca = self.var / "tls" / "ca.pem"
            if not ca.exists():
                return False
            self.context = ssl.create_default_context(cafile=str(ca))
        try:
            with urllib.request.urlopen(
                f"https://localhost:{self.port}/login/", timeout=5, context=self.context
            ) as r:
                return r.status == 200
        except OSError:
            return False

    def pid_of(self, name: str) -> int:
        found = re.findall(rf"supervisor \| {name} (?:re)?started \(pid (\d+)\)", self.output)
        return int(found[-1])

    def ready(self):
        self.wait("the web server", self.answers)
        for name in ("worker-1", "worker-2"):
            self.wait(
                f"{name} to be ready",
                lambda n=name: re.search(rf"{n}\s+\| .*portal-{n[-1]}@\S+ ready\.", self.output),
            )
        self.wait("beat", lambda: "beat: Starting" in self.output)

    def processes(self) -> list[int]:
        marker = f"PORTAL_VAR_DIR={self.var}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _alive(int(entry.name)):
                try:
                    if marker in (entry / "environ").read_bytes().split(b"\0"):
                        found.append(int(entry.name))
                except OSError:
                    pass
        return found

    def kill_all(self):
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_up_restarts_killed_and_stalled_processes_while_the_web_answers_and_sigterm_stops_all(tmp_path):
    up = Up(tmp_path, WORKER_STALL_SECONDS=6, WORKER_STARTUP_SECONDS=5, WORKER_PING_SECONDS=1)
    probes = {"ok": 0, "failed": 0}
    done = threading.Event()

    def probe():
        while not done.wait(0.5):
            probes["ok" if up.answers() else "failed"] += 1

    try:
        up.ready()
        threading.Thread(target=probe, daemon=True).start()
        # A worker and beat are SIGKILLed: each is started again, with a log line.
        worker, beat = up.pid_of("worker-1"), up.pid_of("beat")
        os.kill(worker, signal.SIGKILL)
        os.kill(beat, signal.SIGKILL)
        up.wait("worker-1's restart", lambda: up.pid_of("worker-1") != worker)
        up.wait("beat's restart", lambda: up.pid_of("beat") != beat)
        assert re.search(
            r"worker-1 exited with signal SIGKILL after \d+ s; restarting in 1 s \(restart 1\)", up.output
        )
        assert re.search(
            r"beat exited with signal SIGKILL after \d+ s; restarting in 1 s \(restart 1\)", up.output
        )
        # A worker that receives but does not run (stopped): its ping waits, it is replaced.
        stuck = up.pid_of("worker-2")
        os.kill(stuck, signal.SIGSTOP)
        up.wait("worker-2 found stalled", lambda: "worker-2 is stalled" in up.output, timeout=60)
        up.wait("worker-2's restart", lambda: up.pid_of("worker-2") != stuck)
        assert not _alive(stuck)
        up.wait("the new worker-2 ready", lambda: len(re.findall(r"portal-2@\S+ ready\.", up.output)) >= 2)
        done.set()
        assert probes["failed"] == 0 and probes["ok"] > 0, probes
        # SIGTERM stops every child, and nothing is left.
        up.proc.send_signal(signal.SIGTERM)
        assert up.proc.wait(timeout=60) == 0
        wait_for(lambda: up.processes() == [], 10, "every process of the tree to end")
        assert "supervisor | stopped" in up.output
    finally:
        done.set()
        up.kill_all()


def test_a_sigkilled_up_leaves_no_process_behind(tmp_path):
    up = Up(tmp_path)
    try:
        up.ready()
        assert len(up.processes()) >= 5  # up, web, two workers, beat
        os.kill(up.proc.pid, signal.SIGKILL)
        wait_for(lambda: up.processes() == [], 20, "the children to die with the supervisor")
    finally:
        up.kill_all()
