"""Checks for deploy/scale-test.sh: several replicas of feeds behind a load balancer.

    python deploy/scale_check.py --lb URL --replica URL --replica URL --replica URL \
        --victim-pgid PGID [--rate 20] [--duration 6]

1. The same feed fetched from every replica directly has identical bytes and
   ETag (RSS, Atom, JSON, a topic feed; identity, gzip and br).
2. An ETag issued by one replica gets a 304 from every other replica.
3. Links in the feeds use the shared --base-url, not a replica's own address.
4. A steady, bounded stream of requests through the load balancer, during
   which the process group of one replica (the second --replica) is killed
   with SIGKILL: the client sees no failed request.

Prints PASS/FAIL lines and ``scale-check: N passed, M failed``; exits 1 on any
failure. Only loopback addresses are accepted. Stdlib + httpx.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
from feed_checks import MAIN_FEEDS, Report, discover, fetch


def loopback_only(url: str) -> str:
    host = urlsplit(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise SystemExit(f"refusing non-loopback target {url}")
    return url.rstrip("/")


def port_open(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


def check_identical(report: Report, client: httpx.Client, replicas: list[str], paths: list[str]):
    for path in paths:
        for encoding in ("identity", "gzip", "br"):
            got = [fetch(client, r + path, encoding=encoding) for r in replicas]
            statuses = {g.status for g in got}
            digests = {g.digest() for g in got}
            etags = {g.etag for g in got}
            report.check(
                f"identical bytes and ETag on {len(replicas)} replicas: {path} [{encoding}]",
                statuses == {200} and len(digests) == 1 and len(etags) == 1 and None not in etags,
                f"status {sorted(statuses)}, sha256 {sorted(digests)}, "
                f"etag {sorted(map(str, etags))}",
            )


def check_cross_304(report: Report, client: httpx.Client, replicas: list[str], paths: list[str]):
    for path in paths:
        for encoding in ("identity", "gzip"):
            issued = fetch(client, replicas[0] + path, encoding=encoding)
            if not issued.etag:
                report.check(f"ETag from replica 1 for {path} [{encoding}]", False, "no ETag")
                continue
            answers = [
                fetch(client, r + path, encoding=encoding, etag=issued.etag).status
                for r in replicas[1:]
            ]
            report.check(
                f"ETag from replica 1 -> 304 from replicas 2..{len(replicas)}: {path} [{encoding}]",
                all(s == 304 for s in answers),
                f"statuses {answers}",
            )


def check_base_url(report: Report, client: httpx.Client, replicas: list[str], lb: str):
    body = fetch(client, replicas[0] + MAIN_FEEDS["atom"][0]).body.decode("utf-8", "replace")
    own = [r for r in replicas if r in body]
    report.check(
        "feeds link to the shared --base-url, not to a replica",
        lb in body and not own,
        f"base-url present: {lb in body}, replica addresses present: {own}",
    )


def load_with_kill(
    report: Report,
    lb: str,
    paths: list[str],
    victim_url: str,
    victim_pgid: int,
    rate: float,
    duration: float,
) -> None:
    total = int(rate * duration)
    kill_at = duration / 3
    results: list[tuple[float, int | str, str]] = []
    lock = threading.Lock()
    killed_at: list[float] = []
    etags: dict[str, str] = {}

    def one(i: int, client: httpx.Client) -> None:
        path = paths[i % len(paths)]
        encoding = ("identity", "gzip", "br")[i % 3]
        # Every fourth request is a conditional one, as feed readers send.
        etag = etags.get(path + encoding) if i % 4 == 3 else None
        started = time.monotonic()
        try:
            got = fetch(client, lb + path, encoding=encoding, etag=etag)
            outcome: int | str = got.status
            upstream = got.headers.get("x-upstream", "?")
            if got.status == 200 and got.etag:
                etags[path + encoding] = got.etag
        except (httpx.HTTPError, RuntimeError, OSError) as exc:
            outcome, upstream = type(exc).__name__, "-"
        with lock:
            results.append((started, outcome, upstream))

    t0 = time.monotonic()
    with (
        httpx.Client(timeout=httpx.Timeout(5.0), limits=httpx.Limits(max_connections=32)) as client,
        ThreadPoolExecutor(max_workers=32) as pool,
    ):
        for i in range(total):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if not killed_at and time.monotonic() - t0 >= kill_at:
                os.killpg(victim_pgid, signal.SIGKILL)
                killed_at.append(time.monotonic())
                print(
                    f"     killed replica {victim_url} (pgid {victim_pgid}) with SIGKILL",
                    flush=True,
                )
            pool.submit(one, i, client)
    elapsed = time.monotonic() - t0

    outcomes = Counter(str(o) for _, o, _ in results)
    failures = [o for _, o, _ in results if o not in (200, 304)]
    # nginx lists every upstream it tried: "A, B" = A failed, B answered.
    retried = sum(1 for _, _, u in results if "," in u)
    report.check(
        f"{len(results)} requests through the load balancer in {elapsed:.1f} s "
        f"({rate:g}/s), replica killed at {kill_at:.1f} s: zero failed",
        len(results) == total and not failures,
        ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
        + f"; {retried} retried on another replica by nginx",
    )
    victim_hostport = urlsplit(victim_url).netloc
    before = {u for t, _, u in results if killed_at and t < killed_at[0]}
    report.check(
        "the killed replica was serving before the kill",
        any(victim_hostport in u for u in before),
        f"upstreams before: {sorted(before)}",
    )
    time.sleep(0.5)
    report.check("the killed replica's port is closed", not port_open(victim_url), victim_url)
    after = Counter(u for t, _, u in results if killed_at and t > killed_at[0] + 1.0)
    report.check(
        "after the kill the survivors answer",
        bool(after) and all(victim_hostport not in u.split(", ")[-1] for u in after),
        ", ".join(f"{k}: {v}" for k, v in sorted(after.items())),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lb", required=True, help="load balancer URL")
    parser.add_argument("--replica", action="append", required=True, help="replica URL (3)")
    parser.add_argument("--victim-pgid", type=int, required=True, help="process group to kill")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of load")
    args = parser.parse_args(argv)
    lb = loopback_only(args.lb)
    replicas = [loopback_only(r) for r in args.replica]
    if len(replicas) < 2:
        parser.error("need at least two --replica")
    if args.rate * args.duration > 1000:
        parser.error("bounded load only: rate * duration must be <= 1000")

    report = Report()
    with httpx.Client(timeout=10) as client:
        paths = [path for path, _ in MAIN_FEEDS.values()]
        topics = discover(client, replicas[0], "topics")
        if report.check("a topic feed is listed", bool(topics), f"{len(topics)} topic feeds"):
            stem = topics[0].rsplit(".", 1)[0]
            paths += [f"{stem}.{kind}" for kind in ("rss", "atom", "json")]
        check_identical(report, client, replicas, paths)
        check_cross_304(report, client, replicas, paths)
        check_base_url(report, client, replicas, lb)
        warm = [client.get(lb + MAIN_FEEDS["rss"][0]) for _ in range(3 * len(replicas))]
        upstreams = {r.headers.get("x-upstream") for r in warm}
        report.check(
            "the load balancer spreads requests over every replica",
            all(r.status_code == 200 for r in warm)
            and all(any(urlsplit(u).netloc in (x or "") for x in upstreams) for u in replicas),
            f"upstreams {sorted(map(str, upstreams))}",
        )
    load_with_kill(report, lb, paths, replicas[1], args.victim_pgid, args.rate, args.duration)
    return report.close("scale-check")


if __name__ == "__main__":
    sys.exit(main())
