"""Hold a fixed request rate against `feeds serve` and report errors, latency and memory.

    .venv/bin/python bench/load.py                         # 60 s at 1,000 req/s, bundled content
    .venv/bin/python bench/load.py --duration 1000 --rate 1000   # ~a million requests
    .venv/bin/python bench/load.py --content bench/corpora/10k --rate 500
    .venv/bin/python bench/load.py --wrk --duration 30     # closed loop, as fast as wrk can go

The client is open-loop: request i is due at start + i/rate whatever happened to
the ones before, and its latency is measured from that due time, so a server that
stalls is charged for the whole stall (no coordinated omission). A bounded pool
of keep-alive connections (--connections) sends them; a request that finds every
connection busy waits in line, and that wait is part of its latency.

The mix: every feed the server publishes (all, each topic, each provider, each in
RSS, Atom and JSON, found in its OPML), picked at random (seeded); every request
asks for gzip; --conditional (70%) of them carry the ETag learned in a warm-up
pass and must get 304, the rest get 200 with the gzipped body.

An error is anything but the expected status (200, or 304 when conditional), a
connection that fails, or a response that does not arrive within --timeout.

The server's resident memory (VmRSS, /proc) is sampled every --sample-every
seconds; the report gives the samples and the growth from the first one after
warm-up to the last. Loopback only; the run ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PROJECT = Path(__file__).resolve().parents[1]


# ---- the server ----


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(content: str, log_level: str, log_path: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    command = [sys.executable, "-m", "feeds.cli", "serve", "--content", content,
               "--host", "127.0.0.1", "--port", str(port), "--log-level", log_level]  # fmt: skip
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        command, stdout=log, stderr=log, cwd=PROJECT, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"feeds serve exited: see {log_path}")
        try:
            status, _, body = http_get("127.0.0.1", port, "/readyz")
            if status == 200:
                return process, port
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("feeds serve was not ready within 300 s")


def stop_server(process: subprocess.Popen) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            return None
    return process.returncode


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# ---- plain HTTP/1.1 over a socket (blocking, for discovery) ----


def http_get(host: str, port: int, path: str, headers: dict[str, str] | None = None):
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    found = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return status, found, body


def discover(host: str, port: int) -> list[str]:
    """Every feed path: all, each topic, each provider, in each format (from OPML)."""
    status, _, body = http_get(host, port, "/opml.xml")
    if status != 200:
        raise SystemExit(f"/opml.xml: {status}")
    bases = {"/feeds/all"}
    for outline in ET.fromstring(body).iter("outline"):
        url = outline.get("xmlUrl")
        if url:
            bases.add(urlsplit(url).path.rsplit(".", 1)[0])
    return [f"{base}.{fmt}" for base in sorted(bases) for fmt in ("rss", "atom", "json")]


# ---- the open-loop client ----


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, from the due time
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    reconnects: int = 0
    bytes: int = 0
    max_lag: float = 0.0  # how late the scheduler itself was

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(what)


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, int]:
        """(status, body length); raises on a broken connection."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        length = int(match.group(1)) if match else 0
        if length:
            await self.reader.readexactly(length)
        if re.search(rb"(?i)\r\nconnection: *close", head):
            self.close()
        return status, length


async def run_load(
    host: str,
    port: int,
    paths: list[str],
    etags: dict[str, str],
    rate: float,
    total: int,
    connections: int,
    conditional: float,
    timeout: float,
    seed: int,
    pid: int | None,
    sample_every: float,
    samples: list[tuple[float, int]],
) -> tuple[Stats, float]:
    stats = Stats()
    rng = random.Random(seed)
    queue: asyncio.Queue[tuple[float, bytes, int] | None] = asyncio.Queue()
    templates = {}
    for path in paths:
        base = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept-Encoding: gzip\r\n"
        templates[path] = (
            (base + "\r\n").encode(),
            (base + f"If-None-Match: {etags[path]}\r\n\r\n").encode(),
        )

    async def worker() -> None:
        connection = Connection(host, port)
        while (job := await queue.get()) is not None:
            due, raw, expected = job
            for attempt in (1, 2):
                try:
                    status, length = await asyncio.wait_for(connection.request(raw), timeout)
                    break
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                    connection.close()
                    if attempt == 2:
                        stats.error(f"{type(error).__name__}: {error}")
                        status = -1
                    else:
                        stats.reconnects += 1
                except TimeoutError:
                    connection.close()
                    stats.error(f"no response within {timeout}s")
                    status = -1
                    break
            stats.latencies.append(time.perf_counter() - due)
            stats.statuses[str(status)] = stats.statuses.get(str(status), 0) + 1
            if status >= 0:
                stats.bytes += length
                if status != expected:
                    stats.error(f"expected {expected}, got {status}")
        connection.close()

    async def sampler(stop: asyncio.Event) -> None:
        started = time.perf_counter()
        while pid is not None:
            kib = rss_kib(pid)
            if kib is not None:
                samples.append((time.perf_counter() - started, kib))
            try:
                await asyncio.wait_for(stop.wait(), sample_every)
                return
            except TimeoutError:
                pass

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    stop = asyncio.Event()
    sampling = asyncio.create_task(sampler(stop))
    started = time.perf_counter()
    for index in range(total):
        due = started + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            stats.max_lag = max(stats.max_lag, -delay)
        path = paths[rng.randrange(len(paths))]
        cond = rng.random() < conditional
        queue.put_nowait((due, templates[path][cond], 304 if cond else 200))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    stop.set()
    await sampling
    return stats, elapsed


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# ---- wrk (closed loop) ----

WRK_SCRIPT = """
local paths = {%s}
local etags = {%s}
local conditional = %f
math.randomseed(%d)
request = function()
  local i = math.random(#paths)
  local headers = {["Accept-Encoding"] = "gzip"}
  if math.random() < conditional then headers["If-None-Match"] = etags[i] end
  return wrk.format("GET", paths[i], headers)
end
"""


def run_wrk(args: argparse.Namespace, host: str, port: int, paths: list[str],
            etags: dict[str, str], pid: int | None) -> dict:  # fmt: skip
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    lua = WRK_SCRIPT % (
        ", ".join(json.dumps(p) for p in paths),
        ", ".join(json.dumps(etags[p]) for p in paths),
        args.conditional,
        args.seed,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    command = [wrk, "-t2", f"-c{args.connections}", f"-d{int(args.duration)}s", "--latency",
               "-s", script.name, f"http://{host}:{port}"]  # fmt: skip
    samples: list[tuple[float, int]] = []
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    while process.poll() is None:
        if pid is not None and (kib := rss_kib(pid)) is not None:
            samples.append((time.perf_counter() - started, kib))
        time.sleep(args.sample_every if process.poll() is None else 0)
    output = process.stdout.read() if process.stdout else ""
    os.unlink(script.name)
    print(output)
    return {"tool": "wrk", "command": " ".join(command), "output": output, "rss_kib": samples}


# ---- main ----


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", default=str(PROJECT / "content"), help="content folder")
    parser.add_argument("--url", help="an already running server (http://127.0.0.1:PORT)")
    parser.add_argument("--pid", type=int, help="with --url: the server's pid, for memory")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--requests", type=int, help="total requests (default rate x duration)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--conditional", type=float, default=0.7, help="share with If-None-Match")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument("--sample-every", type=float, default=5.0, help="memory, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-level", default="warning", help="of the server (info: access log)")
    parser.add_argument("--wrk", action="store_true", help="closed loop with wrk instead")
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args(argv)

    process = None
    pid = args.pid
    log_path = Path(tempfile.gettempdir()) / f"feeds-load-{os.getpid()}.log"
    if args.url:
        parts = urlsplit(args.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
    else:
        process, port = start_server(args.content, args.log_level, log_path)
        host, pid = "127.0.0.1", process.pid
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loopback only")
    try:
        paths = discover(host, port)
        etags = {}
        for path in paths:  # warm-up: render and cache every feed, learn its gzip ETag
            status, headers, _ = http_get(host, port, path, {"Accept-Encoding": "gzip"})
            if status != 200:
                raise SystemExit(f"warm-up: {path} answered {status}")
            etags[path] = headers["etag"]
        print(f"{len(paths)} feeds; server pid {pid}; RSS after warm-up {rss_kib(pid or 0)} KiB")
        if args.wrk:
            report = run_wrk(args, host, port, paths, etags, pid)
        else:
            total = args.requests or int(args.rate * args.duration)
            samples: list[tuple[float, int]] = []
            stats, elapsed = asyncio.run(
                run_load(
                    host,
                    port,
                    paths,
                    etags,
                    args.rate,
                    total,
                    args.connections,
                    args.conditional,
                    args.timeout,
                    args.seed,
                    pid,
                    args.sample_every,
                    samples,
                )  # fmt: skip
            )
            report = summarize(args, paths, stats, elapsed, samples, total)
    finally:
        if process is not None:
            code = stop_server(process)
            print(f"server stopped: exit {code}; log {log_path}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0 if report.get("errors", 0) == 0 else 1


def summarize(args, paths, stats: Stats, elapsed: float, samples, total: int) -> dict:
    ms = [latency * 1000 for latency in stats.latencies]
    first = samples[0][1] if samples else None
    last = samples[-1][1] if samples else None
    report = {
        "command": " ".join(sys.argv),
        "feeds": len(paths),
        "requests": len(ms),
        "planned": total,
        "seconds": round(elapsed, 1),
        "achieved_rate": round(len(ms) / elapsed, 1),
        "target_rate": args.rate,
        "connections": args.connections,
        "statuses": stats.statuses,
        "errors": stats.errors,
        "error_samples": stats.error_samples,
        "reconnects": stats.reconnects,
        "scheduler_max_lag_ms": round(stats.max_lag * 1000, 1),
        "latency_ms": {
            "p50": round(percentile(ms, 0.50), 2),
            "p90": round(percentile(ms, 0.90), 2),
            "p99": round(percentile(ms, 0.99), 2),
            "p999": round(percentile(ms, 0.999), 2),
            "max": round(max(ms), 2) if ms else None,
        },
        "rss_kib": samples,
        "rss_growth_kib": (last - first) if first is not None and last is not None else None,
    }
    print(
        f"{report['requests']} requests in {report['seconds']} s "
        f"({report['achieved_rate']}/s, target {args.rate}/s, {args.connections} connections), "
        f"{stats.errors} errors, statuses {stats.statuses}"
    )
    lat = report["latency_ms"]
    print(f"latency ms: p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  "
          f"p99.9 {lat['p999']}  max {lat['max']}")  # fmt: skip
    if samples:
        shown = ", ".join(f"{t:.0f}s {kib / 1024:.1f}" for t, kib in samples)
        print(f"server RSS MiB: {shown}")
        print(f"RSS growth first->last sample: {report['rss_growth_kib']} KiB")
    if stats.error_samples:
        print("first errors: " + "; ".join(stats.error_samples))
    return report


if __name__ == "__main__":
    sys.exit(main())
