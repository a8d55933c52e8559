"""The embedded Celery broker: a kombu transport on a SQLite file, safe with any number of producers
and consumers in any number of processes (``CELERY_BROKER_URL=sqlite:////path/to/broker.sqlite3``).

Why not the brokers kombu ships for "no server" (measured and written up in docs/architecture.md):
the filesystem transport lets a consumer read a message file before its producer has written it
(celery/kombu#1551: the worker dies on a JSONDecodeError and the message is lost) and deletes a
message as it reads it, so a killed worker loses what it held; kombu's SQLAlchemy transport drops a
message when its INSERT meets a busy database (``except OperationalError: rollback()``), never
redelivers what a killed worker held (the row just stays invisible), dies on an unreadable payload,
and takes SQLite's write lock once per queue per poll.

How this one works:

- Every message is one row of ``message``. Publishing is one ``INSERT``: a reader sees a message
  whole or not at all. A busy database makes the INSERT wait (busy timeout) and then raise a
  connection error that kombu retries — a message is never dropped.
- A consumer claims the oldest ready message of all the queues it consumes with one
  ``UPDATE … RETURNING``; the claim names this process (``holder``) and a visibility deadline.
  A background thread renews the deadline of every message this process holds, so a task may run
  for hours; a process that dies (SIGKILL included) stops renewing, and what it held becomes ready
  again after ``visibility_timeout`` seconds. A killed worker costs at most the tasks it was running,
  and those run again.
- Acknowledging deletes the row; rejecting with requeue (or shutting down with messages not yet
  run) makes it ready again at once.
- A message that cannot be read is moved to ``dead_message`` with a log line; it never stops a worker.
- Idle polling is one read (no write lock) across all the consumer's queues.
- Bindings live in a table shared by every process, so fanout and replies work across processes
  (Celery's remote control: ``celery inspect ping``); broadcast copies expire after ``fanout_ttl``
  seconds, as do messages with an AMQP ``expiration``.

Celery's prefork pool shares one task queue between its children behind a lock when the transport is
not asynchronous (polling), and a child killed while holding that lock stalls the worker for good;
so on this transport workers use the threads pool (``CELERY_WORKER_POOL``, see settings).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from queue import Empty

from celery.worker import state as worker_state
from kombu.transport import TRANSPORT_ALIASES, virtual

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    ready_at REAL NOT NULL,
    expires_at REAL,
    holder TEXT,
    deliveries INTEGER NOT NULL DEFAULT 0,
    published_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS message_queue_ready ON message (queue, ready_at);
CREATE INDEX IF NOT EXISTS message_holder ON message (holder) WHERE holder IS NOT NULL;
CREATE TABLE IF NOT EXISTS dead_message (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    reason TEXT NOT NULL,
    died_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS binding (
    exchange TEXT NOT NULL,
    queue TEXT NOT NULL,
    routing_key TEXT NOT NULL DEFAULT '',
    pattern TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (exchange, queue, routing_key)
);
"""

DEFAULT_VISIBILITY_TIMEOUT = 60.0
DEFAULT_FANOUT_TTL = 60.0
DEFAULT_BUSY_TIMEOUT = 30.0


class Store:
    """One SQLite connection per process and file, shared by the process's channels and threads
    behind a lock (every statement is short), plus the thread that renews this process's claims."""

    _stores: dict[tuple, Store] = {}
    _stores_lock = threading.Lock()

    def __init__(self, path: str, visibility_timeout: float, busy_timeout: float):
        self.path = path
        self.visibility_timeout = visibility_timeout
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.lock = threading.RLock()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        with self.lock:
            self.conn.executescript(SCHEMA)
        self._renewer: threading.Thread | None = None
        self._stopping = threading.Event()

    @classmethod
    def get(cls, path: str, visibility_timeout: float, busy_timeout: float) -> Store:
        key = (path, visibility_timeout, busy_timeout)
        with cls._stores_lock:
            store = cls._stores.get(key)
            if store is None:
                store = cls._stores[key] = Store(path, visibility_timeout, busy_timeout)
            return store

    @classmethod
    def forget_all(cls) -> None:
        """After a fork the child must not use its parent's connection or claims."""
        cls._stores = {}
        cls._stores_lock = threading.Lock()

    def execute(self, sql: str, params=()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, params)

    # --- claims ----------------------------------------------------------------------------------

    def claim(self, queues: list[str]) -> tuple[int, str, str, int] | None:
        """The oldest ready message of these queues, now held by this process; None if none."""
        now = time.time()
        marks = ",".join("?" * len(queues))
        ready = f"queue IN ({marks}) AND ready_at <= ? AND (expires_at IS NULL OR expires_at > ?)"
        with self.lock:
            # A read first: idle polling never takes the write lock.
            if (
                self.conn.execute(
                    f"SELECT 1 FROM message WHERE {ready} LIMIT 1", (*queues, now, now)
                ).fetchone()
                is None
            ):
                return None
            row = self.conn.execute(
                "UPDATE message SET holder = ?, ready_at = ?, deliveries = deliveries + 1 "
                f"WHERE id = (SELECT id FROM message WHERE {ready} ORDER BY id LIMIT 1) "
                "RETURNING id, queue, payload, deliveries",
                (self.holder, now + self.visibility_timeout, *queues, now, now),
            ).fetchone()
        if row is not None:
            self._start_renewer()
        return row

    def delete(self, ids) -> None:
        ids = list(ids)
        if ids:
            self.execute(
                f"DELETE FROM message WHERE holder = ? AND id IN ({','.join('?' * len(ids))})",
                (self.holder, *ids),
            )

    def release(self, ids) -> None:
        """Held messages become ready again at once (requeue, or shutdown before they ran)."""
        ids = list(ids)
        if ids:
            self.execute(
                f"UPDATE message SET holder = NULL, ready_at = ? WHERE holder = ? AND id IN ({','.join('?' * len(ids))})",
                (time.time(), self.holder, *ids),
            )

    def set_aside(self, row_id: int, queue: str, payload: str, reason: str) -> None:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute(
                    "INSERT OR REPLACE INTO dead_message (id, queue, payload, reason, died_at) VALUES (?, ?, ?, ?, ?)",
                    (row_id, queue, payload, reason, time.time()),
                )
                self.conn.execute("DELETE FROM message WHERE id = ?", (row_id,))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def renew(self) -> int:
        """Push back the deadline of everything this process holds; drop expired broadcast copies."""
        now = time.time()
        with self.lock:
            held = self.conn.execute(
                "UPDATE message SET ready_at = ? WHERE holder = ?",
                (now + self.visibility_timeout, self.holder),
            ).rowcount
            self.conn.execute("DELETE FROM message WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,))
        return held

    def _start_renewer(self) -> None:
        if self._renewer is not None and self._renewer.is_alive():
            return
        self._renewer = threading.Thread(target=self._renew_forever, name="sqlite-broker-renew", daemon=True)
        self._renewer.start()

    def _renew_forever(self) -> None:
        interval = max(self.visibility_timeout / 6, 0.5)
        while not self._stopping.wait(interval):
            try:
                self.renew()
            except sqlite3.Error as exc:  # the next round tries again; the deadline leaves room for it
                log.warning("sqlite broker: could not renew held messages (%s); retrying", exc)


os.register_at_fork(after_in_child=Store.forget_all)


class QoS(virtual.QoS):
    """Acknowledging deletes the row; rejecting deletes it or (requeue) makes it ready; messages
    still held at shutdown are released in place instead of being published again."""

    def ack(self, delivery_tag):
        self.channel.store.delete([delivery_tag])
        super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        if requeue:
            self.channel.store.release([delivery_tag])
        else:
            self.channel.store.delete([delivery_tag])
        self._quick_ack(delivery_tag)

    def restore_unacked(self):
        self._flush()
        tags = list(self._delivered)
        self._delivered.clear()
        try:
            self.channel.store.release(tags)
        except sqlite3.Error as exc:  # they come back after the visibility timeout anyway
            log.warning("sqlite broker: could not release %d held message(s) (%s)", len(tags), exc)
        return []


class Channel(virtual.Channel):
    QoS = QoS
    supports_fanout = True
    do_restore = True

    def __init__(self, connection, **kwargs):
        super().__init__(connection, **kwargs)
        options = connection.client.transport_options
        self.visibility_timeout = float(options.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT))
        self.fanout_ttl = float(options.get("fanout_ttl", DEFAULT_FANOUT_TTL))
        busy = float(options.get("busy_timeout", DEFAULT_BUSY_TIMEOUT))
        self.store = Store.get(self._path(connection.client, options), self.visibility_timeout, busy)

    @staticmethod
    def _path(client, options) -> str:
        path = options.get("path") or client.virtual_host
        if not path or path == "/":
            raise ValueError(
                "The sqlite broker needs a file: CELERY_BROKER_URL=sqlite:////absolute/path/broker.sqlite3 "
                "or the transport option 'path'."
            )
        return str(Path(path).resolve())

    # --- publishing ------------------------------------------------------------------------------

    def _expires_at(self, message, now: float, default: float | None) -> float | None:
        expiration = (message.get("properties") or {}).get("expiration")
        if expiration is not None:
            try:
                return now + float(expiration) / 1000
            except (TypeError, ValueError):
                pass
        return now + default if default else None

    def _put(self, queue, message, **kwargs):
        now = time.time()
        self.store.execute(
            "INSERT INTO message (queue, payload, ready_at, expires_at, published_at) VALUES (?, ?, ?, ?, ?)",
            (queue, json.dumps(message), now, self._expires_at(message, now, None), now),
        )

    def _put_fanout(self, exchange, message, routing_key, **kwargs):
        now = time.time()
        self.store.execute(
            "INSERT INTO message (queue, payload, ready_at, expires_at, published_at) "
            "SELECT DISTINCT queue, ?, ?, ?, ? FROM binding WHERE exchange = ?",
            (json.dumps(message), now, self._expires_at(message, now, self.fanout_ttl), now, exchange),
        )

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        self.store.execute(
            "INSERT OR IGNORE INTO binding (exchange, queue, routing_key, pattern) VALUES (?, ?, ?, ?)",
            (exchange, queue, routing_key or "", pattern or ""),
        )

    def get_table(self, exchange):
        """Bindings are shared by every process (as on a real broker): a worker can reply to the
        queue a client bound in another process, and a broadcast reaches every bound queue."""
        rows = self.store.execute(
            "SELECT routing_key, pattern, queue FROM binding WHERE exchange = ?", (exchange,)
        ).fetchall()
        table = [tuple(r) for r in rows]
        try:
            local = super().get_table(exchange)
        except KeyError:
            local = []
        return table + [t for t in map(tuple, local) if t not in table]

    # --- consuming -------------------------------------------------------------------------------

    def _get_many(self, queues, timeout=None):
        """Deliver the oldest ready message of the consumed queues (one claim), or raise Empty."""
        queues = list(dict.fromkeys(queues))
        if not queues:
            raise Empty()
        while True:
            row = self.store.claim(queues)
            if row is None:
                raise Empty()
            row_id, queue, raw, deliveries = row
            payload = self._readable(row_id, queue, raw)
            if payload is None:
                continue  # set aside; try the next one
            payload["properties"]["delivery_tag"] = row_id
            if deliveries > 1:
                payload["redelivered"] = True
            self.connection._deliver(payload, queue)
            return

    def _get(self, queue, timeout=None):
        """One message of one queue (``basic_get``)."""
        while True:
            row = self.store.claim([queue])
            if row is None:
                raise Empty()
            row_id, queue, raw, deliveries = row
            payload = self._readable(row_id, queue, raw)
            if payload is not None:
                payload["properties"]["delivery_tag"] = row_id
                return payload

    def _readable(self, row_id: int, queue: str, raw: str) -> dict | None:
        try:
            payload = json.loads(raw)
            if not isinstance(payload, dict) or not isinstance(payload.get("properties"), dict):
                raise ValueError("not a kombu message (an object with 'properties')")
        except ValueError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            log.error(
                "sqlite broker: message %s in queue %r cannot be read (%s); set aside in dead_message",
                row_id,
                queue,
                reason,
            )
            self.store.set_aside(row_id, queue, raw, reason)
            return None
        return payload

    def _size(self, queue):
        return self.store.execute("SELECT COUNT(*) FROM message WHERE queue = ?", (queue,)).fetchone()[0]

    def _purge(self, queue):
        return self.store.execute("DELETE FROM message WHERE queue = ? AND holder IS NULL", (queue,)).rowcount

    def _delete(self, queue, *args, **kwargs):
        self._purge(queue)
        self.store.execute("DELETE FROM binding WHERE queue = ?", (queue,))

    def _has_queue(self, queue, **kwargs):
        return True

    def _new_queue(self, queue, **kwargs):
        pass


class Transport(virtual.Transport):
    Channel = Channel
    polling_interval = 0.2
    default_port = 0
    driver_type = "sqlite"
    driver_name = "sqlite"
    connection_errors = (*virtual.Transport.connection_errors, sqlite3.OperationalError)
    channel_errors = (*virtual.Transport.channel_errors, sqlite3.OperationalError)
    implements = virtual.Transport.implements.extend(exchange_type=frozenset(["direct", "topic", "fanout"]))

    def driver_version(self):
        return sqlite3.sqlite_version

    def drain_events(self, connection, timeout=None):
        """kombu's loop, except that it returns after one polling interval instead of waiting out
        ``timeout`` when a channel holds all the messages it may (its prefetch) — Celery acknowledges
        finished tasks between two calls (``perform_pending_operations``), so waiting here would hold each
        next message back for the whole timeout (2 s per task with one task at a time) — and when the
        worker has been asked to stop (SIGTERM, SIGINT, SIGQUIT: Celery's handlers set the flags of
        ``celery.worker.state``). Celery's loop then stops at once; waiting out its 2 s timeout twice
        (its loop drains once more after seeing the flag) made every worker stop take 2.5–4 s."""
        start = time.monotonic()
        interval = self.polling_interval
        if timeout and interval and interval > timeout:
            interval = timeout
        while True:
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                full = any(not ch.qos.can_consume() for ch in self.channels if ch._consumers)
                if _stopping() or full or (timeout is not None and time.monotonic() - start >= timeout):
                    if full and interval:
                        time.sleep(interval)
                    raise TimeoutError() from None
                if interval:
                    time.sleep(interval)

    @property
    def default_connection_params(self):
        return {"port": 0, "hostname": ""}  # a file has no host (and kombu then has nothing to warn about)


def _stopping() -> bool:
    """Whether this process is a Celery worker that has been asked to stop (warm or cold)."""
    return any(
        flag is not None and flag is not False
        for flag in (worker_state.should_stop, worker_state.should_terminate)
    )


def register() -> None:
    """Make ``sqlite://`` name this transport for kombu (and so for Celery)."""
    TRANSPORT_ALIASES.setdefault("sqlite", "portal.broker:Transport")


def queue_depths(path: str) -> dict[str, dict[str, int]]:
    """Ready and held messages per queue, and set-aside ones (for /healthz and the soak test)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        now = time.time()
        out: dict[str, dict[str, int]] = {}
        for queue, ready, held in conn.execute(
            "SELECT queue, SUM(holder IS NULL OR ready_at <= ?), SUM(holder IS NOT NULL AND ready_at > ?) "
            "FROM message GROUP BY queue",
            (now, now),
        ):
            out[queue] = {"ready": ready or 0, "held": held or 0}
        return out
    finally:
        conn.close()
