"""How long loading a content folder takes, what it costs in memory, and how
soon a changed file shows in the live snapshot.

Why each measurement is taken the way it is:

- Full load: `ContentLoader(DIR).reload()` in a fresh subprocess, so no parse
  cache, import or allocator state carries over from an earlier run. Memory per
  file is the growth of the process's resident memory (RSS) across the load,
  divided by the number of article files; peak RSS is `ru_maxrss`. Both are the
  loading process's own: a load of 500 files or more, in a process with one
  thread (as `feeds build` and `feeds check` run), parses in forked worker
  processes on every core, whose memory is transient and not counted.
- The same load again with the worker pool switched off, pinned to one core:
  against the reference below, that is a like-for-like (one core each) ratio.
- The same load run in a second thread, as the server's first load runs beside
  its event loop: a process with threads never forks, so it parses in-process
  below 2,000 files and in forkserver workers above.
- Reference: PyYAML's `CSafeLoader` alone on the same front matter (read each
  file, cut the text between the first two `---` lines, `yaml.load`), in its
  own fresh subprocess pinned to one core. No loader that reads the YAML can be
  cheaper, so the ratios say what everything else costs. The reference parses
  the `secured` blob too; feeds drops that line before YAML sees it.
- Change latency: one reload after one title changed (scan + one re-parse +
  a new snapshot), the idle reload (nothing changed: the scan alone), and the
  time from a change to a snapshot holding it, and the all-articles RSS feed
  rendered from it (what the server sends next) showing it, while
  `watch(interval)` runs, polled every 5 ms. Changes land at phases spread
  evenly over a watch cycle, so the median is what a writer can expect, not a lucky or unlucky draw.
  The change is written the way git and editors write (a new file renamed
  over the old one) in a scratch copy of the corpus (hard links, in
  `bench/out/change-copies/`): no corpus is ever written to, since other
  benchmarks may be serving it. The load is timed on that copy too (the
  same files).

Timings are the best of `--repeat` fresh processes (noise on a shared machine
only ever adds time) after the page cache is warmed, so they measure CPU, not
the disk. `--profile` runs the load under cProfile instead (in one process:
cProfile cannot see into the worker pool) and prints the top functions, then
each stage timed without the profiler, since cProfile inflates pure-Python code
(PyYAML's constructors, the field readers) far more than C code (libyaml, nh3).

    .venv/bin/python bench/bench_load.py                       # all three corpora
    .venv/bin/python bench/bench_load.py --content bench/corpora/10k --profile
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = ("../shared/corpus/powerapps", "bench/corpora/10k", "bench/corpora/100k")
SCRATCH_COPIES = REPO_ROOT / "bench" / "out" / "change-copies"
ARTICLE_SUFFIXES = (".md", ".markdown", ".html")  # as feeds.parse.ARTICLE_SUFFIXES
TAXONOMY_DIR = "_data"
POLL_SECONDS = 0.005
TABLE_COLUMNS = (
    "corpus",
    "files",
    "in feeds",
    "load (s{best})",
    "peak RSS (MiB)",
    "RSS/file (KiB)",
    "load, 1 process (s{best})",
    "load in a thread, as the server (s{best})",
    "CSafeLoader ref (s{best})",
    "feeds/ref",
    "1 process/ref",
    "idle reload (s)",
    "reload after 1 change (s)",
    "change→served feed, watch({interval:g} s): median (max) s",
)
_FRONT_MATTER_END = re.compile(r"^---[ \t]*\r?$", re.M)
_TITLE_LINE = re.compile(r"^title:[^\n]*$", re.M)
# feeds drops the `secured` line before YAML sees it; the stage timing does the same,
# so that YAML is timed on the text the loader gives it.
_SECURED_LINE = re.compile(r"^secured:[^\n]*$", re.M)


# ---- helpers shared by the workers ----


def resident_bytes() -> int:
    """Current RSS of this process (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_resident_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def pin_to_one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def article_files(root: Path) -> Iterator[Path]:
    """The files the loader reads as articles: no dot files, not under `_data/`."""
    for folder, dirs, files in os.walk(root):
        at_top = Path(folder) == root
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not (at_top and d == TAXONOMY_DIR)
        )
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(ARTICLE_SUFFIXES):
                yield Path(folder, name)


def front_matter_span(text: str) -> tuple[int, int]:
    """Where the text between the first two `---` lines starts and ends ((0, 0): none)."""
    if not text.startswith("---"):
        return 0, 0
    start = text.find("\n") + 1
    end = _FRONT_MATTER_END.search(text, start) if start else None
    return (start, end.start()) if end else (0, 0)


def front_matter(text: str) -> str:
    start, end = front_matter_span(text)
    return text[start:end]


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def in_a_thread(function: Callable[[], Any]) -> Any:
    """`function()` called in a new thread while this one waits for it."""
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(function()))
    thread.start()
    thread.join()
    if not results:
        raise RuntimeError("the load failed in its thread (see above)")
    return results[0]


def cpu_timed(function: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    """The result and the least CPU time of `repeat` calls: on a busy machine CPU time,
    unlike wall time, does not count the waits for a core."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        result = None  # not alive during the next call: the garbage collector would walk it
        started = time.process_time()
        result = function()
        best = min(best, time.process_time() - started)
    return result, best


def without_worker_pool() -> None:
    """Make the loader parse every file in this process (for one-core runs and cProfile)."""
    import feeds.loader

    for limit in ("PARALLEL_PARSE_MIN_FILES", "PARALLEL_PARSE_MIN_FILES_FORKSERVER"):
        if hasattr(feeds.loader, limit):
            setattr(feeds.loader, limit, sys.maxsize)


# ---- worker: feeds load, memory and change latency ----


def measure_load(root: Path, in_thread: bool = False) -> tuple[Any, dict[str, Any]]:
    """(a): the full load in this fresh process: time and resident memory. With
    `in_thread`, the load runs in a second thread, as the server's first load
    does (beside its event loop): a process with threads cannot fork its parse
    workers, so it parses here below PARALLEL_PARSE_MIN_FILES_FORKSERVER files."""
    from feeds.loader import ContentLoader

    gc.collect()
    rss_after_imports = resident_bytes()
    loader = ContentLoader(root)
    if in_thread:
        snapshot, load_seconds = timed(lambda: in_a_thread(loader.reload))
    else:
        snapshot, load_seconds = timed(loader.reload)
    gc.collect()
    rss_after_load = resident_bytes()
    return loader, {
        "files": snapshot.counts.files,
        "articles": snapshot.counts.articles,
        "load_s": load_seconds,
        "peak_rss": peak_resident_bytes(),
        "rss_after_imports": rss_after_imports,
        "rss_after_load": rss_after_load,
        "rss_per_file": (rss_after_load - rss_after_imports) / max(snapshot.counts.files, 1),
    }


def measure_change_latency(
    loader: Any, root: Path, interval: float, changes: int
) -> dict[str, Any]:
    """(d): idle reload, reload after one change, and change -> snapshot under watch()."""
    idle = [timed(loader.reload)[1] for _ in range(3)]
    relpath, original = pick_article_to_change(loader.snapshot, root)
    path = root / relpath
    original_stat = path.stat()
    try:
        title = "bench change 0"
        write_replacing(path, retitle(original, title))
        snapshot, one_change = timed(loader.reload)
        if title_of(snapshot, relpath) != title:
            raise RuntimeError(f"{relpath}: reload did not pick up the new title")

        # A watch cycle is the wait plus a reload. The last reload has just finished
        # when a change is seen, so sleeping a growing fraction of a cycle lands the
        # changes at phases spread evenly over it (during a scan, too).
        cycle = interval + statistics.median(idle)
        loader.watch(interval=interval)
        latencies = []
        for trial in range(changes):
            time.sleep(cycle * (trial + 0.5) / changes)
            title = f"bench change {trial + 1}"
            latencies.append(wait_for_title(loader, path, relpath, retitle(original, title), title))
    finally:
        loader.close()
        write_replacing(path, original)
        os.utime(path, ns=(original_stat.st_atime_ns, original_stat.st_mtime_ns))
    return {
        "changed_file": relpath,
        "idle_reload_s": statistics.median(idle),
        "change_reload_s": one_change,
        "watch_interval_s": interval,
        "watch_latencies_s": latencies,
        "watch_reload_s": loader.stats.last_duration,
    }


def pick_article_to_change(snapshot: Any, root: Path) -> tuple[str, bytes]:
    """The newest article in the feeds whose front matter has a `title:` line."""
    for article in snapshot.articles:
        data = (root / article.source).read_bytes()
        if _TITLE_LINE.search(front_matter(data.decode("utf-8", "replace"))):
            return article.source, data
    raise RuntimeError(f"{root}: no article with a title line to change")


def retitle(data: bytes, title: str) -> bytes:
    text = data.decode("utf-8", "surrogateescape")
    start, end = front_matter_span(text)
    front = _TITLE_LINE.sub(lambda _: f'title: "{title}"', text[start:end], count=1)
    return (text[:start] + front + text[end:]).encode("utf-8", "surrogateescape")


def write_replacing(path: Path, data: bytes) -> None:
    """Write as git and editors do: a new file renamed over the old one."""
    temporary = path.with_name(f".{path.name}.bench-tmp")  # a dot file: the loader skips it
    temporary.write_bytes(data)
    os.replace(temporary, path)


def wait_for_title(loader: Any, path: Path, relpath: str, data: bytes, title: str) -> float:
    """Seconds from writing `data` to a snapshot whose article at `relpath` has `title`."""
    seen = loader.snapshot
    write_replacing(path, data)
    started = time.perf_counter()
    deadline = started + 60 + 10 * loader.stats.last_duration
    while time.perf_counter() < deadline:
        snapshot = loader.snapshot
        if snapshot is not seen:
            seen = snapshot
            if title_of(snapshot, relpath) == title and title in served_feed(snapshot):
                return time.perf_counter() - started
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"{relpath}: the change never reached the snapshot")


def served_feed(snapshot: Any) -> str:
    """/feeds/all.rss as the server renders it after a change (its cache is
    dropped on every new snapshot)."""
    from datetime import UTC, datetime

    from feeds.documents import build_feed
    from feeds.feed import Format, Selection
    from feeds.settings import Settings

    document = build_feed(snapshot, Selection(), Format.RSS, Settings(), datetime.now(UTC))
    return document.body.decode("utf-8")


def title_of(snapshot: Any, relpath: str) -> str | None:
    for article in snapshot.articles:
        if article.source == relpath:
            return article.title
    return None


# ---- worker: the YAML reference ----


def measure_reference(root: Path) -> dict[str, Any]:
    """(b): PyYAML CSafeLoader alone on the same front matter, on one core."""
    pin_to_one_core()
    import yaml

    def parse_all() -> int:
        count = 0
        for path in article_files(root):
            text = path.read_bytes().decode("utf-8-sig")
            yaml.load(front_matter(text), Loader=yaml.CSafeLoader)  # noqa: S506 - a safe loader
            count += 1
        return count

    count, seconds = timed(parse_all)
    return {"files": count, "reference_s": seconds}


# ---- worker: where the load time goes ----


def profile_load(root: Path, top: int) -> None:
    """The full load under cProfile, in one process: top functions by cumulative and
    by own time."""
    import cProfile
    import pstats

    from feeds.loader import ContentLoader

    without_worker_pool()
    loader = ContentLoader(root)
    profiler = cProfile.Profile()
    profiler.enable()
    loader.reload()
    profiler.disable()
    for order in ("cumulative", "tottime"):
        print(f"\n### cProfile of the load in one process, top {top} by {order}\n")
        pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(order).print_stats(top)
    sys.stdout.flush()


def time_stages(root: Path, repeat: int) -> None:
    """Each stage of a load timed on its own, in one process, without a profiler:
    CPU seconds, the least of `repeat` runs, so other work on the machine does not
    skew the shares.

    Uses two of the loader's private methods (`_scan`, `_report`): this is a bench,
    not an API. HTML is made at render time now, so markdown-it and nh3 are timed
    as what rendering every article once would cost, outside the load.
    """
    import pickle

    import yaml

    from feeds.loader import ContentLoader
    from feeds.parse import MAX_FILE_BYTES, SafeLoader, parse_file, split_front_matter
    from feeds.snapshot import build_snapshot
    from feeds.taxonomy import load_taxonomy, site_url_from_config
    from feeds.text import markdown_to_html, sanitize_html

    without_worker_pool()
    full_load = cpu_timed(lambda: ContentLoader(root).reload(), repeat)[1]
    gc.disable()
    gc_off_load = cpu_timed(lambda: ContentLoader(root).reload(), repeat)[1]
    gc.enable()
    loader = ContentLoader(root)
    scan, scan_s = cpu_timed(loader._scan, repeat)
    files = sorted((relpath, path) for relpath, (path, _) in scan.files.items())
    site_url = site_url_from_config(root)
    taxonomy, taxonomy_s = cpu_timed(lambda: load_taxonomy(root, site_url), repeat)

    def read_all(size: int) -> list[tuple[str, bytes]]:
        blobs = []
        for relpath, path in files:
            with open(path, "rb") as handle:
                blobs.append((relpath, handle.read(size)))
        return blobs

    blobs, read_s = cpu_timed(lambda: read_all(MAX_FILE_BYTES + 1), repeat)  # as the loader
    _, plain_read_s = cpu_timed(lambda: read_all(-1), repeat)
    _, hash_s = cpu_timed(
        lambda: [hashlib.blake2b(data, digest_size=16).digest() for _, data in blobs], repeat
    )

    def split(relpath: str, data: bytes) -> tuple[str, str, str]:
        try:
            front, body, _ = split_front_matter(data.decode("utf-8-sig"))
        except ValueError:  # not an article: parse_file rejects it
            return relpath, "", ""
        return relpath, _SECURED_LINE.sub("", front), body

    def load_yaml(front: str) -> dict[Any, Any]:
        try:
            fields = yaml.load(front, Loader=SafeLoader)  # noqa: S506 - a safe loader
        except (yaml.YAMLError, ValueError, RecursionError):
            return {}
        return fields if isinstance(fields, dict) else {}

    parts, split_s = cpu_timed(lambda: [split(relpath, data) for relpath, data in blobs], repeat)
    documents, yaml_s = cpu_timed(lambda: [load_yaml(front) for _, front, _ in parts], repeat)
    embeds = [str(doc["featuredContent"]) for doc in documents if doc.get("featuredContent")]
    del documents  # half a million objects the garbage collector would walk from now on
    parsed, parse_s = cpu_timed(
        lambda: [parse_file(relpath, data, site_url) for relpath, data in blobs], repeat
    )
    _, pickle_s = cpu_timed(
        lambda: pickle.loads(pickle.dumps(parsed, pickle.HIGHEST_PROTOCOL)), repeat
    )
    snapshot, snapshot_s = cpu_timed(
        lambda: build_snapshot(parsed, taxonomy, loader.clock(), 1), repeat
    )
    _, report_s = cpu_timed(lambda: ContentLoader(root)._report(snapshot), repeat)

    # Render-time HTML, every article once; the caches bypassed (copies repeat bodies).
    sanitize = getattr(sanitize_html, "__wrapped__", sanitize_html)
    to_html = getattr(markdown_to_html, "__wrapped__", markdown_to_html)
    md_bodies = [body for relpath, _, body in parts if not relpath.endswith(".html")]
    md_bodies = [body for body in md_bodies if body.strip()]
    html_bodies = [body for relpath, _, body in parts if relpath.endswith(".html") and body]
    _, markdown_s = cpu_timed(lambda: [to_html(body) for body in md_bodies], repeat)
    _, nh3_html_s = cpu_timed(lambda: [sanitize(body) for body in html_bodies], repeat)
    _, nh3_embed_s = cpu_timed(lambda: [sanitize(embed) for embed in embeds], repeat)

    rows = [
        ("scan: walk + stat every file", scan_s),
        ("taxonomy (_data/)", taxonomy_s),
        ("read file bytes, `read(MAX_FILE_BYTES + 1)` as the loader does", read_s),
        ("blake2b digests", hash_s),
        ("decode + split front matter + drop `secured`", split_s),
        ("YAML (CSafeLoader) on the front matter", yaml_s),
        (
            "the rest of parse_file (fields, URLs, ids, images): parse_file − the two above",
            parse_s - split_s - yaml_s,
        ),
        ("build_snapshot", snapshot_s),
        (f"log each problem once ({len(snapshot.problems)} lines)", report_s),
    ]
    print(f"\n### Stages of one load in one process, {len(files)} files: CPU s, best of {repeat}\n")
    print("| stage | CPU s | % of the full load |\n|---|---:|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.3f} | {100 * seconds / full_load:.0f}% |")
    total = sum(seconds for _, seconds in rows)
    print(f"| sum of the stages | {total:.3f} | {100 * total / full_load:.0f}% |")
    print(f"| **full `reload()`, one process** | **{full_load:.3f}** | 100% |")
    print("\nFor comparison (not part of the load above):\n")
    print("| cost | CPU s | % of the full load |\n|---|---:|---:|")
    extra = [
        ("the full `reload()` again, cyclic garbage collector off", gc_off_load),
        ("read file bytes with a plain `read()`", plain_read_s),
        ("pickle + unpickle every parse result (the worker pool's transfer)", pickle_s),
        (f"markdown-it + nh3 on {len(md_bodies)} non-empty Markdown bodies", markdown_s),
        (f"nh3 sanitize of {len(html_bodies)} .html bodies", nh3_html_s),
        (f"nh3 sanitize of {len(embeds)} featuredContent embeds", nh3_embed_s),
    ]
    for label, seconds in extra:
        print(f"| {label} | {seconds:.3f} | {100 * seconds / full_load:.0f}% |")


# ---- the parent: corpora, subprocesses, the table ----


def run_worker(kind: str, content: Path, args: argparse.Namespace, capture: bool = True) -> Any:
    """Run one measurement in a fresh interpreter; return the JSON it prints last."""
    command = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--content",
        str(content),
        "--interval",
        str(args.interval),
        "--changes",
        str(args.changes),
        "--top",
        str(args.top),
        "--repeat",
        str(args.repeat),
    ]
    # stderr is captured (and shown only on failure): the loader logs every content
    # problem once per load. Without `capture`, stdout goes straight to ours.
    stdout = subprocess.PIPE if capture else None
    completed = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"bench_load: the {kind} worker failed on {content}")
    return json.loads(completed.stdout.strip().splitlines()[-1]) if capture else None


def warm_page_cache(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                while handle.read(1 << 20):
                    pass


def scratch_copy(root: Path) -> Path:
    """A private copy of `root` for the change test, so no corpus is ever written to
    (other benchmarks may be reading it). A generated corpus is copied as hard links:
    fast, and safe because a change is a new file renamed over the link. Any other
    (the shared real corpus) is copied outright: its files are not ours to link."""
    digest = hashlib.blake2b(str(root).encode(), digest_size=4).hexdigest()
    copy = SCRATCH_COPIES / f"{root.name}-{digest}"
    if copy.exists():
        shutil.rmtree(copy)
    generated = root.is_relative_to((REPO_ROOT / "bench" / "corpora").resolve())
    copy_function = link_or_copy if generated else shutil.copy2
    shutil.copytree(root, copy, symlinks=True, copy_function=copy_function)
    return copy


def link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, target)


def resolve(path: str) -> Path:
    """Relative paths are relative to the repository root, wherever this runs from."""
    candidate = Path(path)
    return (candidate if candidate.is_absolute() else REPO_ROOT / candidate).resolve()


def existing_corpus(label: str) -> Path:
    root = resolve(label)
    if not root.is_dir():
        raise SystemExit(f"bench_load: no folder {root} (make it with bench/scale_corpus.py)")
    return root


def measure_corpus(label: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every number of one table row, each timing the best of `args.repeat` processes."""
    root = existing_corpus(label)
    target = scratch_copy(root)
    try:
        warm_page_cache(target)
        warm_page_cache(root)
        # The first run also times changes; the others only the load.
        feeds = run_worker("feeds", target, args)
        loads = [feeds["load_s"]]
        loads += [run_worker("load", target, args)["load_s"] for _ in range(args.repeat - 1)]
        one_process = [run_worker("load-1", target, args) for _ in range(args.repeat)]
        in_thread = [run_worker("load-thread", target, args) for _ in range(args.repeat)]
        references = [run_worker("reference", root, args) for _ in range(args.repeat)]
    finally:
        shutil.rmtree(target)
    if references[0]["files"] != feeds["files"]:
        counts = f"reference read {references[0]['files']} files, feeds {feeds['files']}"
        print(f"warning: {label}: {counts}", file=sys.stderr)
    return {
        **feeds,
        "load_s": min(loads),
        "load_one_process_s": min(run["load_s"] for run in one_process),
        "load_in_thread_s": min(run["load_s"] for run in in_thread),
        "reference_s": min(run["reference_s"] for run in references),
    }


def table_row(label: str, row: dict[str, Any]) -> str:
    mib, kib = 1 << 20, 1 << 10
    latencies = row["watch_latencies_s"]
    cells = [
        label,
        f"{row['files']:,}",
        f"{row['articles']:,}",
        f"{row['load_s']:.2f}",
        f"{row['peak_rss'] / mib:.0f}",
        f"{row['rss_per_file'] / kib:.1f}",
        f"{row['load_one_process_s']:.2f}",
        f"{row['load_in_thread_s']:.2f}",
        f"{row['reference_s']:.2f}",
        f"{row['load_s'] / row['reference_s']:.1f}×",
        f"{row['load_one_process_s'] / row['reference_s']:.1f}×",
        f"{row['idle_reload_s']:.3f}",
        f"{row['change_reload_s']:.3f}",
        f"{statistics.median(latencies):.2f} ({max(latencies):.2f})",
    ]
    return "| " + " | ".join(cells) + " |"


def print_table(corpora: list[str], args: argparse.Namespace) -> None:
    best = f", best of {args.repeat}" if args.repeat > 1 else ""
    columns = [column.format(interval=args.interval, best=best) for column in TABLE_COLUMNS]
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|", flush=True)
    load_before = os.getloadavg()[0]
    for label in corpora:
        print(table_row(label, measure_corpus(label, args)), flush=True)
    cores = len(os.sched_getaffinity(0))
    print(
        f"\n{cores} cores usable; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after."
    )


def print_profiles(corpora: list[str], args: argparse.Namespace) -> None:
    for label in corpora:
        root = existing_corpus(label)
        warm_page_cache(root)
        print(f"\n## {label}", flush=True)
        run_worker("profile", root, args, capture=False)
        run_worker("stages", root, args, capture=False)


def run_as_worker(args: argparse.Namespace) -> None:
    # A SIGTERM must still undo a change made to the corpus (the `finally` blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(args.content[0])
    if args.worker == "load-1":
        pin_to_one_core()
        without_worker_pool()
    if args.worker in ("load", "load-1", "load-thread", "feeds"):
        loader, result = measure_load(root, in_thread=args.worker == "load-thread")
        if args.worker == "feeds":
            result.update(measure_change_latency(loader, root, args.interval, args.changes))
        print(json.dumps(result))
    elif args.worker == "reference":
        print(json.dumps(measure_reference(root)))
    elif args.worker == "profile":
        profile_load(root, args.top)
    elif args.worker == "stages":
        time_stages(root, args.repeat)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--content",
        action="append",
        metavar="DIR",
        help="corpus folder (repeatable; default: " + ", ".join(DEFAULT_CORPORA) + ")",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="fresh processes per timing; the best is shown (default 3)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="watch() interval for the change latency (default 1.0 s)",
    )
    parser.add_argument(
        "--changes", type=int, default=5, help="changes timed under watch() per corpus (default 5)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the table: cProfile of the load, and each stage timed",
    )
    parser.add_argument("--top", type=int, default=25, help="functions --profile shows (25)")
    parser.add_argument(
        "--worker",
        choices=("load", "load-1", "load-thread", "feeds", "reference", "profile", "stages"),
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)
    if args.changes < 1 or args.repeat < 1:
        parser.error("--changes and --repeat must be at least 1")
    if args.worker:
        run_as_worker(args)
    elif args.profile:
        print_profiles(args.content or list(DEFAULT_CORPORA), args)
    else:
        print_table(args.content or list(DEFAULT_CORPORA), args)


if __name__ == "__main__":
    main()
