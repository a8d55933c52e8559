"""What changed, told by PostgreSQL: a per-process listener of the stamps' notices (``LISTEN``/``NOTIFY``).

The database triggers that move a stamp (the grants stamp, a definition's replication stamp) also send a
notice on ``CHANNEL`` naming it (``grants``, ``replication:<definition id>``; ``*`` when a stamp table is
emptied); PostgreSQL delivers a notice when the transaction that sent it commits, to every session
listening. Each process that asks (``listener()``) keeps one dedicated connection listening, in a daemon
thread, and counts what it heard. A caller that keeps something read under a stamp takes a ``token()``
*before* its read; later, ``quiet_since(token, *keys)`` says whether no notice for those keys can have
been missed since: the same connection listened all along and none of them arrived. Then what the
caller kept is what it would read again — up to the notice's own delivery: a commit in another session
is heard once PostgreSQL delivers its notice and the thread takes it (well under a millisecond on an
idle machine; a caller that must read its own writes must not rely on this).

Conservative on every doubt: no token until the connection listens; a lost connection (the server
restarted, the session terminated, a network error) or a ``*`` notice invalidates every token taken
before; the listener reconnects with a growing pause. SQLite has no notices: ``listener()`` is None
there, as when ``settings.STAMP_NOTICES`` is off (a transaction-pooling PgBouncer, which delivers no
notices to a session, must turn it off). The kernel's: it knows channels and keys, not what they mean.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import psycopg
from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)

#: The channel the stamp triggers notify (accounts and galleries migrations keep a frozen copy).
CHANNEL = "sig_stamps"
#: A notice that invalidates everything (a stamp table truncated: the tests' flush, a restore).
EVERYTHING = "*"
#: How long the thread waits for notices before it checks that it should go on (s), and how often it
#: checks the connection itself with a query when nothing arrived.
WAIT = 1.0
CHECK_EVERY = 10.0
#: The thread marks each turn of its loop (at least every ``WAIT`` s while healthy); a mark older than this
#: (a query that hangs, a thread that died) refuses every token until it turns again.
STALE = 5.0
#: Reconnection pauses (s): doubled after each failure, up to the last.
PAUSES = (0.25, 30.0)
#: Distinct keys remembered; past it every token is invalidated and the memory starts again.
KEYS_MAX = 100_000


class Listener:
    """One process's listening connection and what it heard (see the module's docstring).

    Written only by its thread; read by any. Every field a reader uses is replaced in one statement, and
    a notice's key is recorded before the count that tokens compare with moves, so a reader racing a
    notice sees it as arrived (at worst it reads once more than it needed)."""

    def __init__(self, params: dict):
        self.pid = os.getpid()
        self._params = params
        self._epoch = 0  # moves when a connection starts listening, is lost, or everything is invalidated
        self._live = False
        self._seq = 0  # notices heard, never reset: a token's count is below every later notice's
        self._beat = 0.0  # time.monotonic() at the thread's last turn while listening
        self._last: dict[str, int] = {}  # key → the count its last notice was heard at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sig-stamp-notices", daemon=True)
        self.heard = 0  # notices heard in all (for tests and the benchmarks' report)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self, timeout: float = WAIT * 5) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def live(self) -> bool:
        """Listening, and its thread turned recently (``STALE``)."""
        return self._live and time.monotonic() - self._beat < STALE

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait_live(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the connection to listen (tests, the benchmarks' warm-up)."""
        deadline = time.monotonic() + timeout
        while not self.live and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.01)
        return self.live

    def token(self) -> tuple[int, int] | None:
        """Where the listener stands now, to be taken before a read whose result is kept; None while
        nothing listens (then nothing read now may be trusted past the next read)."""
        epoch, seq = self._epoch, self._seq
        if not self.live or epoch != self._epoch:
            return None
        return epoch, seq

    def quiet_since(self, token: tuple[int, int] | None, *keys: str) -> bool:
        """True when the connection that gave ``token`` still listens and no notice for ``keys`` has
        arrived since."""
        if token is None or not self.live or token[0] != self._epoch:
            return False
        last, seq = self._last, token[1]
        return all(last.get(key, 0) <= seq for key in keys)

    # --- The thread --------------------------------------------------------------------------------------

    def _heard(self, key: str) -> None:
        if key == EVERYTHING or len(self._last) >= KEYS_MAX:
            self._invalidate()
        else:
            seq = self._seq + 1
            self._last[key] = seq  # before the count moves: a token taken meanwhile is older than it
            self._seq = seq
        self.heard += 1  # last: whoever waits for it finds the notice applied

    def _invalidate(self) -> None:
        self._epoch += 1  # first: every token taken before is refused from here on
        self._last = {}

    def _listening(self) -> None:
        self._invalidate()
        self._beat = time.monotonic()
        self._live = True

    def _lost(self) -> None:
        self._live = False
        self._invalidate()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(**self._params, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening()
                    failures = 0
                    checked = time.monotonic()
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=WAIT):
                            self._heard(notice.payload)
                        if time.monotonic() - checked >= CHECK_EVERY:
                            conn.execute("SELECT 1")  # a dead server or network shows here
                            checked = time.monotonic()
                        self._beat = time.monotonic()
            except Exception as exc:  # noqa: BLE001 — any failure: nothing heard may be trusted
                if not self._stop.is_set():
                    log.warning(
                        "stamp notices: listening stopped (%s); again in %.2f s", exc, _pause(failures)
                    )
            finally:
                self._lost()
            self._stop.wait(_pause(failures))
            failures += 1


def _pause(failures: int) -> float:
    return min(PAUSES[0] * 2**failures, PAUSES[1])


_LISTENER: Listener | None = None
_STARTING = threading.Lock()


def enabled() -> bool:
    return connection.vendor == "postgresql" and getattr(settings, "STAMP_NOTICES", False)


def listener() -> Listener | None:
    """This process's listener, started on first use, and again in a forked child (threads do not
    survive a fork) or when its thread died; None without notices (SQLite, or ``STAMP_NOTICES`` off)."""
    global _LISTENER
    if not enabled():
        return None
    found = _LISTENER
    if found is not None and found.pid == os.getpid() and found.running:
        return found
    with _STARTING:  # none yet, a forked child's, or one whose thread died: a new one
        if _LISTENER is None or _LISTENER.pid != os.getpid() or not _LISTENER.running:
            params = connection.get_connection_params()
            for key in ("cursor_factory", "context", "prepare_threshold"):
                params.pop(key, None)
            # A dead peer is noticed within ~25 s even when no packet tells (keepalives while idle, a
            # user timeout while a query waits); meanwhile a hanging query stops the beat (``STALE``).
            params.update(
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
                tcp_user_timeout=25_000,
            )
            params.setdefault("application_name", "sig-stamp-notices")
            _LISTENER = Listener(params).start()
        return _LISTENER


def stop() -> None:
    """Stop this process's listener (tests; a process that ends stops it anyway: a daemon thread)."""
    global _LISTENER
    with _STARTING:
        found, _LISTENER = _LISTENER, None
    if found is not None and found.pid == os.getpid():
        found.stop()


def token() -> tuple[int, int] | None:
    found = listener()
    return None if found is None else found.token()


def quiet_since(token: tuple[int, int] | None, *keys: str) -> bool:
    found = _LISTENER
    return (
        token is not None
        and found is not None
        and found.pid == os.getpid()
        and found.quiet_since(token, *keys)
    )
