"""The embedded broker against the brokers kombu ships for "no server" (issue 11, item 1).

For each transport, with real processes on a fresh folder:

- delivery: --producers processes publish --messages messages in all, --consumers processes
  consume them at the same time (ack each): messages/s end to end, and how many were lost, delivered
  twice, or cost a consumer its life (the filesystem transport's torn read, celery/kombu#1551);
- a kill: 20 messages; a consumer takes one and is SIGKILLed before acknowledging it; another
  consumer drains the queue: is the killed one's message delivered (after the visibility timeout)?
- idle: one consumer polls 69 empty queues (what a `manage.py up` worker consumes) for 5 s:
  CPU seconds it spends.

The embedded broker's throughput is printed as a ratio to the filesystem transport's (the fastest
thing kombu offers without a server), measured in the same run. kombu's SQLAlchemy transport is
measured too when SQLAlchemy is importable (it is not a dependency of the portal:
`pip install --target /tmp/sqla sqlalchemy` and `PYTHONPATH=/tmp/sqla` to include it).

    .venv/bin/python bench/broker.py [--messages 4000] [--producers 2] [--consumers 2] [--smoke]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETUP = textwrap.dedent(
    f"""
    import os, sys, time, json
    sys.path.insert(0, {str(ROOT)!r})
    from portal import broker
    broker.register()
    from kombu import Connection, Queue
    URL = os.environ["URL"]
    OPTS = json.loads(os.environ.get("OPTS", "{{}}"))
    """
)
PRODUCE = SETUP + textwrap.dedent(
    """
    start, count = int(sys.argv[1]), int(sys.argv[2])
    with Connection(URL, transport_options=OPTS) as conn:
        p = conn.Producer()
        for n in range(start, start + count):
            p.publish({"n": n}, routing_key="q", serializer="json", declare=[Queue("q")])
    """
)
CONSUME = SETUP + textwrap.dedent(
    """
    queues, seconds, hold = sys.argv[1].split(","), float(sys.argv[2]), sys.argv[3] == "hold"
    out = open(sys.argv[4], "w", buffering=1)
    with Connection(URL, transport_options=OPTS) as conn:
        def on(body, m):
            out.write(f"{body['n']}\\n")
            if hold:
                out.write("HOLD\\n"); time.sleep(3600)
            m.ack()
        with conn.Consumer([Queue(q) for q in queues], callbacks=[on], prefetch_count=1):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    conn.drain_events(timeout=0.2)
                except TimeoutError:
                    pass
    """
)


def transports(work: Path) -> dict[str, tuple[str, dict]]:
    found = {"sqlite (portal.broker)": (f"sqlite:///{work / 'broker.sqlite3'}", {"visibility_timeout": 3})}
    fs = work / "fs"
    for sub in ("q", "processed", "control"):
        (fs / sub).mkdir(parents=True)
    found["filesystem (kombu)"] = (
        "filesystem://",
        {"data_folder_in": str(fs / "q"), "data_folder_out": str(fs / "q"), "processed_folder": str(fs / "processed"),
         "control_folder": str(fs / "control"), "store_processed": False},
    )  # fmt: skip
    if importlib.util.find_spec("sqlalchemy") is not None:
        found["sqlalchemy (kombu)"] = (f"sqla+sqlite:///{work / 'sqla.sqlite3'}", {})
    return found


def spawn(code: str, url: str, opts: dict, *args: str) -> subprocess.Popen:
    import json

    env = {**os.environ, "URL": url, "OPTS": json.dumps(opts)}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE, text=True)


def numbers(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split() if x.isdigit()] if path.exists() else []


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def delivery(work: Path, url: str, opts: dict, args) -> dict:
    outs = [work / f"c{i}.out" for i in range(args.consumers)]
    consumers = [spawn(CONSUME, url, opts, "q", "600", "ack", str(o)) for o in outs]
    per = args.messages // args.producers
    t0 = time.perf_counter()
    producers = [spawn(PRODUCE, url, opts, str(i * per), str(per)) for i in range(args.producers)]
    for p in producers:
        p.wait()
    total = per * args.producers
    deadline = time.monotonic() + 120
    while sum(len(numbers(o)) for o in outs) < total and time.monotonic() < deadline:
        if all(c.poll() is not None for c in consumers):
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    died = [c for c in consumers if c.poll() is not None]
    for c in consumers:
        c.kill()
    crashes = [c.stderr.read().strip().splitlines()[-1:] for c in died]
    got = [n for o in outs for n in numbers(o)]
    return {
        "per_s": len(set(got)) / elapsed,
        "lost": total - len(set(got)),
        "twice": len(got) - len(set(got)),
        "consumers_died": len(died),
        "crash": crashes[0][0] if crashes and crashes[0] else "",
    }


def kill(work: Path, url: str, opts: dict) -> str:
    producer = spawn(PRODUCE, url, opts, "0", "20")
    producer.wait()
    held = work / "held.out"
    holder = spawn(CONSUME, url, opts, "q", "60", "hold", str(held))
    deadline = time.monotonic() + 30
    while "HOLD" not in (held.read_text() if held.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.01)
    victim = numbers(held)[0]
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    after = work / "after.out"
    spawn(CONSUME, url, opts, "q", "8", "ack", str(after)).wait()
    got = set(numbers(after))
    return "redelivered" if victim in got else f"LOST ({len(got)} of the other 19 delivered)"


def idle(work: Path, url: str, opts: dict) -> float:
    queues = ",".join(["default", *(f"region.r{i}" for i in range(67)), "worker.w"])
    c = spawn(CONSUME, url, opts, queues, "60", "ack", str(work / "idle.out"))
    time.sleep(3)  # start-up is not counted
    before = cpu_seconds(c.pid)
    time.sleep(5)
    used = cpu_seconds(c.pid) - before
    c.kill()
    return used


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="a few hundred messages")
    args = parser.parse_args()
    if args.smoke:
        args.messages = 400
    results = {}
    names = list(transports(Path(tempfile.mkdtemp(prefix="sig-bench-broker-"))))
    for name in names:
        dirs = [Path(tempfile.mkdtemp(prefix="sig-bench-broker-")) for _ in range(3)]
        try:
            d = results[name] = delivery(dirs[0], *transports(dirs[0])[name], args)
            d["kill"] = kill(dirs[1], *transports(dirs[1])[name])
            d["idle_cpu_s"] = idle(dirs[2], *transports(dirs[2])[name])
        finally:
            for p in dirs:
                shutil.rmtree(p, ignore_errors=True)
        print(
            f"{name:24} {d['per_s']:8.0f} msg/s  lost {d['lost']:4}  twice {d['twice']:4}  consumers died "
            f"{d['consumers_died']} {d['crash'][:60]!r:62}  killed holder's message: {d['kill']:12}  "
            f"idle on 69 queues: {d['idle_cpu_s']:.2f} CPU s per 5 s",
            flush=True,
        )
    ours, fs = results["sqlite (portal.broker)"], results["filesystem (kombu)"]
    print(
        f"{args.messages} messages, {args.producers} producers, {args.consumers} consumers (processes); "
        f"throughput sqlite / filesystem: {ours['per_s'] / fs['per_s']:.2f}"
    )
    if ours["lost"] or ours["twice"] or ours["consumers_died"] or ours["kill"] != "redelivered":
        raise SystemExit("the embedded broker lost, repeated or dropped a message")


if __name__ == "__main__":
    main()
