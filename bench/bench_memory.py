"""A worker's memory under a mixed load of composed feeds, against --cache-bytes.

Starts `feeds serve` over a corpus, waits until it has loaded, then runs wrk with
a Lua script that asks for a different URL on nearly every request: one of the
feeds (all, topics, providers) in one of the three formats, with a random mix of
limit=, type=, unknown parameters and the composed filters (topics=,
providers=, q=, exclude=, since=). Meanwhile the RSS of each worker process is
read from /proc every 50 ms. Reports, per worker: RSS once loaded, peak RSS
under the load, and the budget it must stay within:

    peak RSS <= RSS once loaded + --cache-bytes + OVERHEAD_BYTES (feeds/memory.py)

    .venv/bin/python bench/bench_memory.py --content bench/corpora/10k --duration 60
    .venv/bin/python bench/bench_memory.py --content ../shared/corpus/powerapps \\
        --workers 2 --cache-bytes 33554432 --out bench/out/memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.request import urlopen
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from feeds.memory import OVERHEAD_BYTES  # noqa: E402
from feeds.settings import Settings  # noqa: E402


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (started in a session of its own),
    SIGKILL when it has not exited in 20 s."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    content: str, options: list[str], name: str, code: str | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """`feeds serve --content CONTENT OPTIONS` on a free port, in a session of its
    own (stop_server), once /readyz answers 200; its output goes to a log file
    that the SystemExit names when it never does. The FEEDS_ variables of this
    environment are left out. `feeds` comes from `code` when given, else from
    PYTHONPATH (make bench's copy), else as installed (-P: never the cwd)."""
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix=f"bench-{name}-")) / "server.log"
    command = [sys.executable, "-P", "-m", "feeds.cli", "serve", "--content", content,
               "--port", str(port), *options]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    if code:
        env["PYTHONPATH"] = code
    with open(log, "wb") as output:
        server = subprocess.Popen(
            command, stdout=output, stderr=output, cwd=ROOT, env=env, start_new_session=True
        )
    deadline = time.monotonic() + 600
    while True:
        try:
            with urlopen(f"http://127.0.0.1:{port}/readyz") as response:  # noqa: S310
                if response.status == 200:
                    return server, port
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            stop_server(server)
            raise SystemExit(f"feeds serve did not start; see {log}")
        time.sleep(0.2)


def rss_bytes(pid: int) -> int:
    """The process's resident set size, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def workers_of(pid: int, count: int) -> list[int]:
    """The worker processes: the server itself with one worker, else its children
    that run the app (uvicorn's supervisor spawns them)."""
    if count == 1:
        return [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    # multiprocessing's resource tracker is a child too; the workers are the big ones.
    return sorted((int(child) for child in children), key=rss_bytes, reverse=True)[:count]


def lua_script(slugs: dict[str, list[str]], words: list[str], seed: int) -> str:
    """A wrk script: a random feed, format and query on each request."""

    def lua_list(values: list[str]) -> str:
        return "{" + ",".join(json.dumps(value) for value in values) + "}"

    return f"""
local topics = {lua_list(slugs["topics"])}
local providers = {lua_list(slugs["providers"])}
local words = {lua_list(words)}
local formats = {{"rss", "atom", "json"}}
local types = {{"article", "video", "course", "news"}}
local counter = 0
math.randomseed({seed} + os.time())
local function pick(list) return list[math.random(#list)] end
local function some(list, most)
  local chosen = {{}}
  for i = 1, math.random(most) do chosen[#chosen + 1] = pick(list) end
  return table.concat(chosen, ",")
end
request = function()
  counter = counter + 1
  local base = "/feeds/all"
  local roll = math.random(3)
  if roll == 2 then base = "/feeds/topics/" .. pick(topics)
  elseif roll == 3 then base = "/feeds/providers/" .. pick(providers) end
  local query = {{}}
  if math.random(2) == 1 then query[#query + 1] = "limit=" .. math.random(200) end
  if math.random(4) == 1 then query[#query + 1] = "type=" .. pick(types) end
  if math.random(3) == 1 then query[#query + 1] = "x" .. counter .. "=" .. math.random(1e6) end
  if math.random(2) == 1 then query[#query + 1] = "topics=" .. some(topics, 3) end
  if math.random(3) == 1 then query[#query + 1] = "providers=" .. some(providers, 3) end
  if math.random(3) == 1 then query[#query + 1] = "q=" .. pick(words) end
  if math.random(4) == 1 then query[#query + 1] = "exclude=" .. pick(words) end
  if math.random(4) == 1 then
    query[#query + 1] = string.format("since=20%02d-%02d-01", 20 + math.random(6), math.random(12))
  end
  local path = base .. "." .. pick(formats)
  if #query > 0 then path = path .. "?" .. table.concat(query, "&") end
  return wrk.format("GET", path, {{["Accept-Encoding"] = "gzip, br"}})
end
"""


def slugs_and_words(base: str) -> tuple[dict[str, list[str]], list[str]]:
    """Topic and provider slugs from the server's OPML; words from its all feed."""
    with urlopen(f"{base}/opml.xml") as response:  # noqa: S310 (loopback)
        opml = ElementTree.fromstring(response.read())
    slugs: dict[str, list[str]] = {"topics": [], "providers": []}
    for outline in opml.iter("outline"):
        url = outline.get("xmlUrl") or ""
        for kind in slugs:
            marker = f"/feeds/{kind}/"
            if marker in url:
                slugs[kind].append(url.split(marker)[1].rsplit(".", 1)[0])
    with urlopen(f"{base}/feeds/all.json?limit=200") as response:  # noqa: S310
        items = json.loads(response.read())["items"]
    words = sorted(
        {word.lower() for item in items for word in item["title"].split() if word.isalpha()}
    )
    return slugs, words[:500] or ["feeds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cache-bytes", type=int, default=Settings.cache_bytes)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--out", help="write the figures as JSON here too")
    arguments = parser.parse_args()

    server, port = start_server(
        arguments.content,
        ["--workers", str(arguments.workers), "--cache-bytes", str(arguments.cache_bytes)],
        "memory",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        time.sleep(1)  # every worker has loaded (each answers /readyz only once loaded)
        slugs, words = slugs_and_words(base)
        pids = workers_of(server.pid, arguments.workers)
        loaded = {pid: rss_bytes(pid) for pid in pids}
        peak = dict(loaded)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                for pid in pids:
                    peak[pid] = max(peak[pid], rss_bytes(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(lua_script(slugs, words, random.randrange(1 << 20)))
        run = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{arguments.connections}",
                f"-d{arguments.duration:g}s",
                "-s",
                script.name,
                base,
            ],  # fmt: skip
            capture_output=True,
            text=True,
        )
        stop.set()
        sampler.join()
        after = {pid: rss_bytes(pid) for pid in pids}
        os.unlink(script.name)
    finally:
        stop_server(server)
    requests = next(
        (line.split()[0] for line in run.stdout.splitlines() if "requests in" in line), "?"
    )
    mib = 1024 * 1024
    rows = []
    for pid in pids:
        budget = loaded[pid] + arguments.cache_bytes + OVERHEAD_BYTES
        rows.append(
            {
                "loaded": loaded[pid],
                "peak": peak[pid],
                "after": after[pid],
                "budget": budget,
                "within": peak[pid] <= budget,
            }
        )
    result = {
        "content": arguments.content,
        "workers": arguments.workers,
        "cache_bytes": arguments.cache_bytes,
        "overhead_bytes": OVERHEAD_BYTES,
        "duration": arguments.duration,
        "connections": arguments.connections,
        "requests": requests,
        "wrk": run.stdout,
        "per_worker": rows,
    }
    print(
        f"{arguments.content}: {arguments.workers} worker(s), --cache-bytes "
        f"{arguments.cache_bytes / mib:.0f} MiB, wrk -c{arguments.connections} "
        f"{arguments.duration:g} s, {requests} requests"
    )
    print("| worker | RSS loaded | peak RSS | RSS after | loaded + cache + overhead | within |")
    print("|---|---|---|---|---|---|")
    for number, row in enumerate(rows, 1):
        print(
            f"| {number} | {row['loaded'] / mib:.0f} MiB | {row['peak'] / mib:.0f} MiB | "
            f"{row['after'] / mib:.0f} MiB | {row['budget'] / mib:.0f} MiB | "
            f"{'yes' if row['within'] else 'NO'} |"
        )
    if arguments.out:
        Path(arguments.out).write_text(json.dumps(result, indent=2))
    return 0 if all(row["within"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
