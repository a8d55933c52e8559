"""The embedded broker (portal.broker): safe with several producers and consumers in several
processes; a killed consumer costs nothing but a redelivery; an unreadable message is set aside with
a log line while the worker goes on; a busy database delays a publish, never drops it; remote control
works across processes. Every test uses real processes on a broker file of its own."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, wait_for
from kombu import Connection, Exchange, Queue

from portal import broker

broker.register()

# A consumer process: takes messages from the queues on the command line and prints each body;
# with HOLD it holds the first message without acknowledging it (to be killed while holding it).
CONSUMER = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {root!r})
    from portal import broker
    broker.register()
    from kombu import Connection, Queue
    url, queues = sys.argv[1], sys.argv[2].split(",")
    hold = os.environ.get("HOLD") == "1"
    limit = float(os.environ.get("SECONDS", "30"))
    opts = {{"visibility_timeout": float(os.environ.get("VISIBILITY", "60")), "polling_interval": 0.01}}
    with Connection(url, transport_options=opts) as conn:
        def on_message(body, message):
            print(body["n"], flush=True)
            if hold:
                print("HOLDING", flush=True)
                time.sleep(3600)
            message.ack()
        with conn.Consumer([Queue(q, routing_key=q) for q in queues], callbacks=[on_message], prefetch_count=1):
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.2)
                except Exception:
                    pass
    """
).format(root=str(ROOT))

PRODUCER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from portal import broker
    broker.register()
    from kombu import Connection
    url, queue, start, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with Connection(url) as conn:
        producer = conn.Producer()
        for n in range(start, start + count):
            producer.publish({{"n": n}}, routing_key=queue, serializer="json", retry=True)
    print("done", flush=True)
    """
).format(root=str(ROOT))


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'broker.sqlite3'}"


def _spawn(code: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Lines:
    def __init__(self, proc: subprocess.Popen):
        self.proc, self.lines = proc, []
        threading.Thread(
            target=lambda: [self.lines.append(x.strip()) for x in proc.stdout], daemon=True
        ).start()

    def numbers(self) -> list[int]:
        return [int(x) for x in self.lines if x.isdigit()]


def _publish(url: str, queue: str, body: dict, **options) -> None:
    with Connection(url, transport_options=options) as conn:
        conn.Producer().publish(body, routing_key=queue, serializer="json", declare=[Queue(queue)])


def test_several_producers_and_consumers_deliver_every_message_exactly_once(url):
    consumers = [Lines(_spawn(CONSUMER, url, "q", env={"SECONDS": "60"})) for _ in range(3)]
    producers = [_spawn(PRODUCER, url, "q", str(i * 400), "400") for i in range(4)]
    for p in producers:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0 and "done" in out, out
    wait_for(lambda: sum(len(c.numbers()) for c in consumers) >= 1600, 60, "all 1,600 messages consumed")
    got = sorted(n for c in consumers for n in c.numbers())
    for c in consumers:
        c.proc.kill()
        c.proc.wait()
    assert got == list(range(1600)), "a message was lost or delivered twice"
    assert sum(1 for c in consumers if c.numbers()) >= 2, "the work was not shared between consumers"


def test_a_consumer_killed_while_holding_a_message_costs_only_a_redelivery(url):
    _publish(url, "q", {"n": 1})
    _publish(url, "q", {"n": 2})
    holder = Lines(_spawn(CONSUMER, url, "q", env={"HOLD": "1", "VISIBILITY": "2"}))
    wait_for(lambda: "HOLDING" in holder.lines, 30, "the first consumer to hold a message")
    held = holder.numbers()[0]
    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait()
    # While the holder lived, its claim was renewed; now nobody renews it and it comes back.
    other = Lines(_spawn(CONSUMER, url, "q", env={"VISIBILITY": "2"}))
    wait_for(lambda: sorted(other.numbers()) == [1, 2], 30, "both messages, the killed one's included")
    other.proc.kill()
    other.proc.wait()
    assert held in other.numbers()


def test_a_live_holder_keeps_its_message_beyond_the_visibility_timeout(url):
    _publish(url, "q", {"n": 7})
    holder = Lines(_spawn(CONSUMER, url, "q", env={"HOLD": "1", "VISIBILITY": "1"}))
    wait_for(lambda: "HOLDING" in holder.lines, 30, "the consumer to hold the message")
    other = Lines(_spawn(CONSUMER, url, "q", env={"VISIBILITY": "1", "SECONDS": "4"}))
    other.proc.wait(timeout=30)  # 4 s of polling: four visibility timeouts
    holder.proc.kill()
    holder.proc.wait()
    assert other.numbers() == [], "a message held by a live consumer was delivered again"


def test_an_unreadable_message_is_set_aside_with_a_log_line_and_the_next_one_is_delivered(url, caplog):
    path = url.removeprefix("sqlite:///")
    _publish(url, "elsewhere", {"n": 0})  # creates the file and its tables
    with sqlite3.connect(path) as db:  # what a torn write or a hand edit would leave, first in line
        db.execute(
            "INSERT INTO message (queue, payload, ready_at, published_at) VALUES ('q', '{\"properties\": ', 0, 0)"
        )
    _publish(url, "q", {"n": 1})
    _publish(url, "q", {"n": 2})
    got = []
    with Connection(url) as conn:
        with conn.Consumer(Queue("q"), callbacks=[lambda body, m: (got.append(body["n"]), m.ack())]):
            deadline = time.monotonic() + 10
            while len(got) < 2 and time.monotonic() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except TimeoutError:
                    pass
    assert sorted(got) == [1, 2]
    with sqlite3.connect(path) as db:
        dead = db.execute("SELECT queue, payload, reason FROM dead_message").fetchall()
    assert dead == [("q", '{"properties": ', dead[0][2])]
    assert "JSONDecodeError" in dead[0][2]
    assert any(
        "cannot be read" in r.getMessage() and "dead_message" in r.getMessage() for r in caplog.records
    )


def test_a_publish_waits_for_a_busy_broker_file_instead_of_dropping_the_message(url):
    path = url.removeprefix("sqlite:///")
    _publish(url, "q", {"n": 0})  # creates the file and its tables
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    threading.Timer(1.0, lambda: locker.execute("COMMIT")).start()
    started = time.monotonic()
    _publish(url, "q", {"n": 1}, busy_timeout=10)
    assert time.monotonic() - started >= 0.9  # it waited for the lock...
    with sqlite3.connect(path) as db:  # ...and the message is there, whole
        payloads = [json.loads(p) for (p,) in db.execute("SELECT payload FROM message ORDER BY id")]
    assert len(payloads) == 2
    locker.close()


def test_a_publish_to_a_broker_locked_for_too_long_raises_a_connection_error(url):
    path = url.removeprefix("sqlite:///")
    _publish(url, "q", {"n": 0})
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with Connection(url, transport_options={"busy_timeout": 0.2}) as conn:
            with pytest.raises(conn.connection_errors):
                conn.Producer().publish({"n": 1}, routing_key="q", serializer="json", retry=False)
    finally:
        locker.execute("ROLLBACK")
        locker.close()


def test_a_broadcast_reaches_every_bound_queue_of_every_process(url):
    fan = Exchange("fan", type="fanout")
    with Connection(url) as conn:  # two "processes" bind a queue each (the bindings are shared)
        Queue("a", fan).bind(conn.channel()).declare()
    with Connection(url) as conn:
        Queue("b", fan).bind(conn.channel()).declare()
    with Connection(url) as conn:
        conn.Producer().publish({"n": 9}, exchange=fan, serializer="json")
        for name in ("a", "b"):
            message = Queue(name, fan).bind(conn.channel()).get()
            assert message is not None and message.payload == {"n": 9}
            message.ack()


def test_remote_control_ping_reaches_a_real_worker(celery_processes):
    from portal.celery import app

    worker = celery_processes.worker(name="ping")
    node = next(line for line in worker.lines if line.rstrip().endswith(" ready.")).split()[-2]
    replies = app.control.ping(destination=[node], timeout=10, limit=1)
    assert any(node in reply for reply in replies), (replies, node)


def test_workers_on_the_embedded_broker_run_tasks_in_threads(settings):
    """The prefork pool stalls on a polling transport when a child dies holding its queue's lock."""
    if settings.EMBEDDED_BROKER:
        assert settings.CELERY_BROKER_URL.startswith("sqlite:///")
        assert Path(settings.CELERY_BROKER_URL.removeprefix("sqlite://")).is_absolute()
        assert settings.CELERY_WORKER_POOL == "threads"
    else:  # Redis and RabbitMQ: Celery's asynchronous prefork pool
        assert settings.CELERY_WORKER_POOL == "prefork"


def test_a_consumer_at_its_prefetch_limit_returns_at_once_so_its_caller_can_acknowledge(url):
    """Celery acknowledges finished tasks between two drain_events calls; waiting out the timeout
    with a full prefetch would hold the next message back for the whole timeout (if this waited, the
    hour below would end the test by its timeout)."""
    _publish(url, "q", {"n": 1})
    _publish(url, "q", {"n": 2})
    got = []
    with Connection(url, transport_options={"polling_interval": 0.01}) as conn:
        with conn.Consumer(
            Queue("q"), callbacks=[lambda body, m: got.append((body["n"], m))], prefetch_count=1
        ):
            conn.drain_events(timeout=3600)
            assert [n for n, _ in got] == [1]
            with pytest.raises(TimeoutError):
                conn.drain_events(timeout=3600)  # full: returns instead of waiting an hour
            got[0][1].ack()
            conn.drain_events(timeout=3600)
    assert [n for n, _ in got] == [1, 2]


@pytest.mark.parametrize("flag", ["should_stop", "should_terminate"])
def test_a_worker_asked_to_stop_returns_from_its_wait_at_once(url, monkeypatch, flag):
    """Celery's signal handlers only set a flag that its loop reads between two drain_events calls,
    and the loop drains once more after reading it: waiting out each 2 s timeout made every worker
    stop (SIGTERM, Ctrl-C) take 2.5–4 s. Once the flag is set the wait returns (if it waited, the hour
    below would end the test by its timeout); a message already there is still delivered first."""
    from celery.worker import state

    _publish(url, "q", {"n": 1})
    got = []
    with Connection(url, transport_options={"polling_interval": 0.01}) as conn:
        with conn.Consumer(Queue("q"), callbacks=[lambda body, m: (got.append(body["n"]), m.ack())]):
            monkeypatch.setattr(state, flag, 0)  # EX_OK: a warm shutdown's exit code is 0, still a request
            conn.drain_events(timeout=3600)
            assert got == [1]
            with pytest.raises(TimeoutError):
                conn.drain_events(timeout=3600)
