"""How fast the service answers for a cached feed, next to nginx serving the
very same bytes as static files.

Why it is measured this way:

- The subject is the hot path: a 50-item feed already rendered and cached,
  asked for by many keep-alive clients. Three kinds of request: plain;
  `Accept-Encoding: gzip`; and a conditional one (`If-None-Match` with the
  server's own ETag) answered `304`.
- The reference is nginx with the same number of worker processes, serving
  the service's own bytes (`all.rss`, and its gzip bytes as `all.rss.gz` for
  `gzip_static`), its own ETag for the `304`, the same response headers, an
  access log to a file like the service's, `sendfile` and keep-alive. It is
  what a static export behind nginx would do: the ceiling for this work.
- The service runs as deployed: `feeds serve --workers N` (uvicorn with
  uvloop and httptools), access log on, content watched every second. The
  same runs can be made with the access log off on both sides
  (`--access-log false`).
- The content is a scratch copy of `--content` (other benchmarks edit the
  generated corpora now and then; a change would reload the service mid-run),
  and the code is a copy of `feeds/` taken at the start, put first on
  PYTHONPATH (the package is installed in editable mode, and files edited
  during a run would otherwise change what later rounds measure).
- Only one server runs at a time, so the idle one's background work (the
  service's content watcher scans the folder every second) takes no CPU from
  the measured one; its idle cost is reported separately.
- wrk (`-t2 -c50 -d10s --latency`) after a warm-up (the first requests render
  the feed and fill the caches) on loopback. The machine is small and
  shared, and wrk shares its cores with the server under test: the servers
  run in alternating order (A B A B ...) for `--rounds` rounds and the table
  shows medians; every run is listed below it.
- Before measuring, each server is checked with curl: the plain body is the
  service's bytes, the gzip body is gzip and decompresses to them, the
  conditional request gets `304`. During each run, wrk's non-2xx/3xx count
  and socket errors must be zero and the bytes read per response must fit
  the kind (a `200` instead of a `304` would go unnoticed otherwise).

`--py-spy SECONDS` samples the service's workers with py-spy while wrk runs,
one run per kind, and prints where the samples land: by role (content
watcher, access log, app, response write, event loop), then the top functions
by own and by inclusive samples (`bench/out/serve-pyspy.md`). The collapsed
stacks are kept in `bench/out/serve-pyspy-KIND.txt` (speedscope.app or
flamegraph.pl read them). py-spy is installed into the venv if missing.

    .venv/bin/python bench/bench_serve.py
    .venv/bin/python bench/bench_serve.py --duration 5 --rounds 1 --no-log-off
    .venv/bin/python bench/bench_serve.py --rounds 0 --py-spy 10

Needs wrk, curl and an nginx with the gzip_static module; missing ones are
installed with apt-get.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = REPO_ROOT / ".venv" / "bin"
NGINX_TEMPLATE = Path(__file__).resolve().parent / "serve" / "nginx.conf.tmpl"
FEED_PATH = "/feeds/all.rss"
KINDS = ("plain", "gzip", "304")
CONTENT_CHOICES = ("bench/corpora/10k", "../shared/corpus/powerapps", "content")
DEFAULT_OUT = "bench/out/serve.md"
# What the service sends by default (feeds.settings: max_age, stale_while_revalidate).
CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=3600"
READY_TIMEOUT = 300.0
# Feed links use the base URL: fixed, so every start (on a new port) sends the same bytes.
BASE_URL = "https://feeds.example.org"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- tools ----


def apt_install(package: str) -> None:
    log(f"installing {package} with apt-get")
    command = ["apt-get", "install", "-y", "--no-install-recommends", package]
    if subprocess.run(command, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, check=True)
        subprocess.run(command, capture_output=True, check=True)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def nginx_has_gzip_static(binary: str) -> bool:
    built = subprocess.run([binary, "-V"], capture_output=True, text=True).stderr
    return "--with-http_gzip_static_module" in built


def ensure_tools() -> str:
    """wrk, curl and an nginx built with gzip_static; the nginx binary's path.

    Debian's `nginx` package (1.22, bookworm) has the gzip_static module; the
    lighter flavours are tried only if it does not.
    """
    for tool in ("wrk", "curl"):
        if shutil.which(tool) is None:
            apt_install(tool)
    binary = nginx_binary()
    for package in ("nginx", "nginx-full", "nginx-light"):
        if binary and nginx_has_gzip_static(binary):
            return binary
        apt_install(package)
        binary = nginx_binary()
    if binary and nginx_has_gzip_static(binary):
        return binary
    raise SystemExit("no nginx with the gzip_static module (nginx -V)")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- servers ----


@dataclass
class Server:
    name: str  # feeds | nginx
    access_log: bool
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    etag: str = ""  # of the plain representation, for the conditional request

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{FEED_PATH}"

    def stop(self) -> None:
        """SIGTERM to the server's own process group (it was started in a new
        session), SIGKILL if it has not exited in 15 s."""
        if self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def pin_code(scratch: Path) -> dict[str, str]:
    """A copy of the `feeds` package as it is now; the environment that runs it."""
    code = scratch / "code"
    shutil.copytree(
        REPO_ROOT / "feeds", code / "feeds", ignore=shutil.ignore_patterns("__pycache__")
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    environment["PYTHONPATH"] = str(code)  # run from `scratch`, so '' on sys.path is not the repo
    where = subprocess.run(
        [str(VENV_BIN / "python"), "-c", "import feeds; print(feeds.__file__)"],
        env=environment, cwd=scratch, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not where.startswith(str(code)):
        raise SystemExit(f"the copy of feeds/ is not the one imported: {where}")
    return environment


def code_version(code: Path) -> str:
    """git HEAD and a digest of the copied package: which code the table is about."""
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(code.rglob("*.py")):
        digest.update(str(path.relative_to(code)).encode() + b"\0" + path.read_bytes())
    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"git {head or '?'} + working tree, feeds/*.py digest {digest.hexdigest()}"


def start_feeds(
    content: str, workers: int, access_log: bool, scratch: Path, environment: dict[str, str]
) -> Server:
    """`feeds serve` as deployed; ready once every worker has loaded the content.

    Workers share one listening socket, and one that is still loading does not
    accept, so /readyz is asked on fresh connections until as many different
    `loaded_at` stamps (one per worker) have answered as there are workers.
    """
    port = free_port()
    log_path = scratch / f"feeds-{port}.log"
    command = [
        str(VENV_BIN / "feeds"), "serve", "--content", content, "--host", "127.0.0.1",
        "--port", str(port), "--base-url", BASE_URL, "--workers", str(workers),
        "--access-log", "true" if access_log else "false",
    ]  # fmt: skip
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=environment, cwd=scratch, start_new_session=True,
        )  # fmt: skip
    server = Server("feeds", access_log, port, process, log_path)
    RUNNING.append(server)
    stamps: set[str] = set()
    deadline = time.monotonic() + READY_TIMEOUT
    while len(stamps) < workers:
        if process.poll() is not None:
            raise SystemExit(f"feeds serve exited with {process.returncode}:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            raise SystemExit(
                f"feeds serve: {len(stamps)} of {workers} workers ready after "
                f"{READY_TIMEOUT:.0f} s:\n{server.log_tail()}"
            )
        try:
            status, body = http_get(port, "/readyz")
        except OSError:
            status, body = 0, b""
        if status == 200:
            stamps.add(json.loads(body)["loaded_at"])
        time.sleep(0.05)
    return server


def start_nginx(binary: str, workers: int, access_log: bool, root: Path, scratch: Path) -> Server:
    port = free_port()
    prefix = scratch / f"nginx-{port}"
    prefix.mkdir()
    log_path = prefix / "access.log"
    conf = NGINX_TEMPLATE.read_text()
    for name, value in {
        "WORKERS": str(workers),
        "TMP": str(prefix),
        "ACCESS_LOG": str(log_path) if access_log else "off",
        "PORT": str(port),
        "ROOT": str(root),
        "CACHE_CONTROL": CACHE_CONTROL,
    }.items():
        conf = conf.replace(f"@{name}@", value)
    conf_path = prefix / "nginx.conf"
    conf_path.write_text(conf)
    command = [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf_path)]
    with (prefix / "stderr.log").open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    server = Server("nginx", access_log, port, process, prefix / "error.log")
    RUNNING.append(server)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise SystemExit(f"nginx exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if http_get(port, FEED_PATH)[0] == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"nginx not answering after 30 s:\n{server.log_tail()}")
        time.sleep(0.05)


RUNNING: list[Server] = []


def stop(server: Server) -> None:
    server.stop()
    if server in RUNNING:
        RUNNING.remove(server)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with suppress(OSError):
                queue += [int(child) for child in (task / "children").read_text().split()]
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def idle_cpu_share(server: Server, seconds: float) -> float:
    """CPU the server uses with no request, as a share of one core."""
    pids = process_tree(server.process.pid)
    before = cpu_seconds(pids)
    time.sleep(seconds)
    return (cpu_seconds(pids) - before) / seconds


# ---- checks with curl ----


@dataclass
class Probe:
    status: int
    headers: dict[str, str]
    body: bytes


def curl(url: str, headers: Sequence[str], scratch: Path) -> Probe:
    head, body = scratch / "probe.head", scratch / "probe.body"
    command = ["curl", "-sS", "--http1.1", "-D", str(head), "-o", str(body), url]
    for header in headers:
        command += ["-H", header]
    subprocess.run(command, check=True)
    lines = head.read_text(errors="replace").splitlines()
    status = int(lines[0].split()[1])
    fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    data = body.read_bytes() if body.exists() else b""
    body.unlink(missing_ok=True)
    return Probe(status, {k.strip().lower(): v.strip() for k, v in fields.items()}, data)


@dataclass(frozen=True)
class FeedBytes:
    """What the service sent: the reference for every check and nginx's files."""

    plain: bytes
    gzipped: bytes
    etag: str
    last_modified: str


def fetch_feed(server: Server, scratch: Path) -> FeedBytes:
    plain = curl(server.url, [], scratch)
    zipped = curl(server.url, ["Accept-Encoding: gzip"], scratch)
    if plain.status != 200 or zipped.status != 200:
        raise SystemExit(f"feeds: {FEED_PATH} answered {plain.status} / {zipped.status}")
    return FeedBytes(plain.body, zipped.body, plain.headers["etag"], plain.headers["last-modified"])


def request_headers(kind: str, server: Server) -> list[str]:
    if kind == "gzip":
        return ["Accept-Encoding: gzip"]
    if kind == "304":
        return [f"If-None-Match: {server.etag}"]
    return []


def verify(server: Server, feed: FeedBytes, scratch: Path) -> dict[str, int]:
    """Check the server sends the service's bytes, really gzipped, and a 304;
    note its plain ETag. The sizes of the bodies, by kind."""
    problems: list[str] = []
    plain = curl(server.url, [], scratch)
    server.etag = plain.headers.get("etag", "")
    if plain.status != 200 or plain.body != feed.plain or "content-encoding" in plain.headers:
        problems.append(f"plain: {plain.status}, {len(plain.body)} bytes, not the service's bytes")
    zipped = curl(server.url, ["Accept-Encoding: gzip"], scratch)
    if zipped.status != 200 or zipped.headers.get("content-encoding") != "gzip":
        problems.append(
            f"gzip: {zipped.status}, content-encoding {zipped.headers.get('content-encoding')}"
        )
    elif not zipped.body.startswith(b"\x1f\x8b") or gzip.decompress(zipped.body) != feed.plain:
        problems.append("gzip: the body is not the feed, gzipped")
    elif zipped.body != feed.gzipped:
        problems.append("gzip: not the service's gzip bytes")
    conditional = curl(server.url, request_headers("304", server), scratch)
    if not server.etag or conditional.status != 304 or conditional.body:
        problems.append(f"304: If-None-Match {server.etag} answered {conditional.status}")
    if server.name == "feeds" and server.etag != feed.etag:
        problems.append(f"ETag {server.etag} is not {feed.etag}: the content changed")
    if problems:
        raise SystemExit(f"{server.name}: " + "; ".join(problems))
    return {"plain": len(plain.body), "gzip": len(zipped.body), "304": 0}


# ---- wrk ----


@dataclass
class WrkResult:
    requests_per_second: float
    p99_ms: float
    requests: int
    bytes_read: float
    non_2xx_3xx: int
    socket_errors: int

    @property
    def bytes_per_response(self) -> float:
        return self.bytes_read / max(self.requests, 1)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_SIZES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_wrk(output: str) -> WrkResult:
    def find(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, output, re.M)

    rps = find(r"^Requests/sec:\s+([\d.]+)")
    p99 = find(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\b")
    total = find(r"^\s+(\d+) requests in [\d.]+\w+, ([\d.]+)([KMGT]?B) read")
    if not (rps and p99 and total):
        raise SystemExit(f"cannot read wrk's output:\n{output}")
    non_2xx = find(r"^\s+Non-2xx or 3xx responses: (\d+)")
    errors = find(r"^\s+Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        p99_ms=float(p99.group(1)) * _UNITS[p99.group(2)],
        requests=int(total.group(1)),
        bytes_read=float(total.group(2)) * _SIZES[total.group(3)],
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


@dataclass(frozen=True)
class Load:
    threads: int
    connections: int
    duration: float
    warmup: float


def wrk(server: Server, kind: str, load: Load, seconds: float) -> WrkResult:
    command = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds:g}s", "--latency"]
    for header in request_headers(kind, server):
        command += ["-H", header]
    run = subprocess.run(command + [server.url], capture_output=True, text=True, check=True)
    return parse_wrk(run.stdout)


def check_run(result: WrkResult, kind: str, body_size: int, label: str) -> None:
    problems = []
    if result.non_2xx_3xx or result.socket_errors:
        problems.append(f"{result.non_2xx_3xx} non-2xx/3xx, {result.socket_errors} socket errors")
    per_response = result.bytes_per_response
    if kind == "304" and per_response > 1024:
        problems.append(f"{per_response:.0f} bytes per response: not 304s")
    # wrk rounds the bytes it read to three significant digits: allow 1%.
    if kind != "304" and not 0.99 * body_size <= per_response <= 1.01 * body_size + 2048:
        problems.append(f"{per_response:.0f} bytes per response for a {body_size}-byte body")
    if problems:
        raise SystemExit(f"{label}: " + "; ".join(problems))


def measure(server: Server, kind: str, load: Load, body_size: int) -> WrkResult:
    label = f"{server.name} {kind} (access log {'on' if server.access_log else 'off'})"
    warm = wrk(server, kind, load, load.warmup)
    check_run(warm, kind, body_size, label + ", warm-up")
    result = wrk(server, kind, load, load.duration)
    check_run(result, kind, body_size, label)
    log(f"  {label}: {result.requests_per_second:,.0f} req/s, p99 {result.p99_ms:.2f} ms")
    return result


# ---- py-spy ----


def py_spy_binary() -> str:
    binary = VENV_BIN / "py-spy"
    if not binary.exists():
        log("installing py-spy into the venv")
        subprocess.run([str(VENV_BIN / "pip"), "install", "-q", "py-spy"], check=True)
    return str(binary)


_LINE_NUMBER = re.compile(r":\d+\)$")
_PROCESS_FRAMES = re.compile(r'^(?:process \d+:"[^"]*";)+')
# Frames every stack of a worker passes through: left out of the inclusive list.
_BOOTSTRAP = re.compile(
    r"\((?:<string>|multiprocessing/.*|uvicorn/(?:_subprocess|_compat|server|main)\.py"
    r"|uvicorn/supervisors/.*|asyncio/runners\.py|threading\.py|feeds/(?:cli|server)\.py"
    r"|feeds)\)$|^<module> "
)
# Where a sample goes, by the first rule its stack matches (checked in this order).
ROLES = (
    ("content watcher (loader thread: scan, reload)", re.compile(r"\(feeds/loader\.py\)")),
    ("access log (logging)", re.compile(r"\(logging/|\(uvicorn/logging\.py\)")),
    ("event loop in C (uvloop, httptools: sockets, parsing)", re.compile(r"Runner\.run \([^;]*$")),
    (
        "response write (transport.write in send)",
        re.compile(r"RequestResponseCycle\.send \([^;]*$"),
    ),
    ("app: routes, middleware, Starlette, headers", re.compile(r"run_asgi")),
)


def summarize_stacks(path: Path, top: int) -> str:
    """Where py-spy's samples land, from its raw (collapsed) output: by role,
    then the top functions by own and by inclusive samples. Line numbers are
    dropped so that a function counts once."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    roles: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_LINE_NUMBER.sub(")", f) for f in _PROCESS_FRAMES.sub("", stack).split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if not _BOOTSTRAP.search(frame):
                inclusive[frame] += count
        joined = ";".join(frames)
        role = next((name for name, rule in ROLES if rule.search(joined)), "other")
        roles[role] += count
    if not total:
        return "no samples"

    def share(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    lines = [f"{total} samples of active threads, all worker processes", "", "by role:"]
    lines += [f"  {share(n)}  {role}" for role, n in roles.most_common()]
    lines += ["", "own time:"]
    lines += [f"  {share(n)}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive (process and thread start-up frames left out):"]
    lines += [f"  {share(n)}  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)


def profile_service(server: Server, load: Load, seconds: float, out_dir: Path, top: int) -> str:
    """py-spy on every process of the service while wrk runs, one run per kind."""
    binary = py_spy_binary()
    reports = []
    for kind in KINDS:
        wrk(server, kind, load, load.warmup)
        stacks = out_dir / f"serve-pyspy-{kind}.txt"
        command = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds + 2:g}s"]
        for header in request_headers(kind, server):
            command += ["-H", header]
        with subprocess.Popen(command + [server.url], stdout=subprocess.DEVNULL) as loader:
            time.sleep(1)
            subprocess.run(
                [binary, "record", "--pid", str(server.process.pid), "--subprocesses",
                 "--nonblocking", "--rate", "250", "--duration", f"{seconds:g}",
                 "--format", "raw", "--output", str(stacks)],
                check=True, capture_output=True,
            )  # fmt: skip
            loader.wait()
        reports.append(
            f"### py-spy, {kind} ({stacks.relative_to(REPO_ROOT)})\n\n"
            + summarize_stacks(stacks, top)
        )
    return "\n\n".join(reports)


# ---- the table ----


@dataclass
class Results:
    runs: dict[str, list[WrkResult]] = field(default_factory=dict)

    @staticmethod
    def key(server: str, access_log: bool, kind: str) -> str:
        return f"{server}|{'on' if access_log else 'off'}|{kind}"

    def add(self, server: Server, kind: str, result: WrkResult) -> None:
        self.runs.setdefault(self.key(server.name, server.access_log, kind), []).append(result)

    def median(self, server: str, access_log: bool, kind: str, metric: str) -> float:
        runs = self.runs.get(self.key(server, access_log, kind), [])
        return statistics.median(getattr(r, metric) for r in runs) if runs else float("nan")


def table(results: Results, logs: Sequence[bool], context: dict[str, str]) -> str:
    lines = [
        f"Serving `{FEED_PATH}` ({context['feed']}) from `{context['content']}`, "
        f"{context['workers']} worker processes each; wrk {context['wrk']} on loopback after a "
        f"{context['warmup']} warm-up; medians of {context['rounds']} alternating runs. "
        "304 = `If-None-Match` with the server's own ETag.",
        "",
        "| kind | access log | feeds req/s | feeds p99 (ms) | nginx req/s | nginx p99 (ms) "
        "| ratio feeds/nginx req/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for access_log in logs:
        for kind in KINDS:
            feeds_rps = results.median("feeds", access_log, kind, "requests_per_second")
            nginx_rps = results.median("nginx", access_log, kind, "requests_per_second")
            lines.append(
                f"| {kind} | {'on' if access_log else 'off'} "
                f"| {feeds_rps:,.0f} | {results.median('feeds', access_log, kind, 'p99_ms'):.2f} "
                f"| {nginx_rps:,.0f} | {results.median('nginx', access_log, kind, 'p99_ms'):.2f} "
                f"| {feeds_rps / nginx_rps:.3f} |"
            )
    if len(logs) == 1:
        lines += ["", "Access log off: not measured (--no-log-off)."]
    else:
        lines += [
            "",
            "Access log off: the service has no option for it; `--log-level warning` "
            "silences uvicorn's access logger (nginx: `access_log off`).",
        ]
    lines += ["", "Every run, req/s (p99 ms), in the order run:", ""]
    for key, runs in results.runs.items():
        server, log_state, kind = key.split("|")
        values = ", ".join(f"{r.requests_per_second:,.0f} ({r.p99_ms:.2f})" for r in runs)
        lines.append(f"- {server}, {kind}, log {log_state}: {values}")
    lines += ["", context["notes"]]
    return "\n".join(lines)


def resolve_content(given: str | None) -> str:
    if given:
        path = Path(given)
        return str(path if path.is_absolute() else (REPO_ROOT / path).resolve())
    for candidate in CONTENT_CHOICES:
        if (REPO_ROOT / candidate).is_dir():
            return str((REPO_ROOT / candidate).resolve())
    raise SystemExit("no content folder found")


@contextmanager
def scratch_dir(keep: bool) -> Iterator[Path]:
    """A temporary folder, and every server started in it stopped on the way out
    (SIGTERM and SIGHUP to this script included)."""
    path = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    path.chmod(0o755)  # nginx's workers run as an unprivileged user and read the root in it

    def leave(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield path
    finally:
        for server in list(RUNNING):
            stop(server)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if keep:
            log(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    first_found = ", ".join(CONTENT_CHOICES)
    parser.add_argument("--content", help=f"content folder (default: the first of {first_found})")
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes of each server (2)"
    )
    parser.add_argument("--connections", type=int, default=50, help="wrk -c (50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (2)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run (10)")
    parser.add_argument(
        "--warmup", type=float, default=3, help="seconds of warm-up before each run (3)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating rounds: A B, then B A, ... (2)"
    )
    parser.add_argument("--no-log-off", action="store_true", help="skip the access-log-off runs")
    parser.add_argument(
        "--py-spy", type=float, default=0, metavar="SECONDS",
        help="afterwards, sample the service with py-spy for SECONDS per kind",
    )  # fmt: skip
    parser.add_argument(
        "--top", type=int, default=20, help="functions listed per py-spy summary (20)"
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"Markdown table (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch folder (logs, nginx conf)"
    )
    parser.add_argument(
        "--in-place", action="store_true",
        help="serve the content folder itself, not a scratch copy of it",
    )  # fmt: skip
    arguments = parser.parse_args(argv)

    nginx = ensure_tools()
    content = resolve_content(arguments.content)
    load = Load(arguments.threads, arguments.connections, arguments.duration, arguments.warmup)
    logs = (True,) if arguments.no_log_off else (True, False)
    out = REPO_ROOT / arguments.out
    out.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()

    with scratch_dir(arguments.keep) as scratch:
        served = content
        if not arguments.in_place:
            # Other benchmarks edit files in bench/corpora/ (and undo it): a change
            # would reload the service mid-run and change the feed's bytes.
            served = str(scratch / "content")
            shutil.copytree(content, served, symlinks=True)
        environment = pin_code(scratch)
        # The service's bytes, and nginx's root made of them.
        log(f"starting feeds on {content}")
        first = start_feeds(served, arguments.workers, True, scratch, environment)
        feed = fetch_feed(first, scratch)
        sizes = verify(first, feed, scratch)
        idle = idle_cpu_share(first, 5)
        stop(first)
        root = scratch / "root"
        (root / "feeds").mkdir(parents=True)
        mtime = parsedate_to_datetime(feed.last_modified).timestamp()
        for name, data in (("all.rss", feed.plain), ("all.rss.gz", feed.gzipped)):
            (root / "feeds" / name).write_bytes(data)
            os.utime(root / "feeds" / name, (mtime, mtime))
        items = feed.plain.count(b"<item>")
        log(
            f"feed: {items} items, {len(feed.plain):,} bytes, gzip {len(feed.gzipped):,} bytes; "
            f"service idle CPU {100 * idle:.1f}% of a core"
        )

        results = Results()
        for round_index in range(arguments.rounds):
            order = ("feeds", "nginx") if round_index % 2 == 0 else ("nginx", "feeds")
            for access_log in logs:
                for name in order:
                    state = "on" if access_log else "off"
                    log(f"round {round_index + 1}: {name}, access log {state}")
                    if name == "feeds":
                        server = start_feeds(
                            served, arguments.workers, access_log, scratch, environment
                        )
                    else:
                        server = start_nginx(nginx, arguments.workers, access_log, root, scratch)
                    try:
                        verify(server, feed, scratch)
                        for kind in KINDS:
                            results.add(server, kind, measure(server, kind, load, sizes[kind]))
                    finally:
                        stop(server)

        nginx_version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        load_after = os.getloadavg()
        notes = (
            f"Feed: {items} items, {len(feed.plain):,} bytes; gzip (the service's own) "
            f"{len(feed.gzipped):,} bytes. {nginx_version.removeprefix('nginx version: ')} "
            f"(`sendfile`, `gzip_static`, `etag`, keep-alive, no request cap), conf: "
            f"`bench/serve/nginx.conf.tmpl`. The service idle (content watcher only) uses "
            f"{100 * idle:.1f}% of a core. {os.cpu_count()} cores shared by wrk "
            f"(-t{load.threads}) and the server; load average before "
            f"{load_before[0]:.2f}, after {load_after[0]:.2f}. "
            f"Code: {code_version(scratch / 'code')}."
        )
        context = {
            "feed": f"{items} items, {len(feed.plain):,} bytes, gzip {len(feed.gzipped):,}",
            "content": os.path.relpath(content, REPO_ROOT),
            "workers": str(arguments.workers),
            "wrk": f"`-t{load.threads} -c{load.connections} -d{load.duration:g}s --latency`",
            "warmup": f"{load.warmup:g} s",
            "rounds": str(arguments.rounds),
            "notes": notes,
        }
        if arguments.rounds:
            report = table(results, logs, context)
            out.write_text(report + "\n")
            runs = {key: [asdict(r) for r in runs] for key, runs in results.runs.items()}
            out.with_suffix(".json").write_text(json.dumps(runs, indent=1))
            print(report)
            log(f"written to {out.relative_to(REPO_ROOT)}")

        if arguments.py_spy:
            log("py-spy: starting feeds, access log on")
            server = start_feeds(served, arguments.workers, True, scratch, environment)
            try:
                verify(server, feed, scratch)
                profile = profile_service(server, load, arguments.py_spy, out.parent, arguments.top)
            finally:
                stop(server)
            (out.parent / "serve-pyspy.md").write_text(profile + "\n")
            print("\n" + profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
