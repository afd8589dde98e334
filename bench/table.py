"""The one table `make bench` prints: every figure of this service beside a
reference measured in the same run, built from what the benchmarks wrote.

Read from `--out` (bench/run.sh: `bench/out/run/`, emptied before each run;
`--since` refuses any file older than the run, so a stale figure never passes
for a fresh one):

- `serve.json` (bench_serve.py: every wrk run, both servers), `serve.md` for
  the feed's size and the code digest;
- `render.md` (bench_render.py's Markdown table);
- `load.md`, `load-100k.md` (bench_load.py's Markdown table, from its stdout);
- `load-ref-memory.json` (this script's `ref-memory` command, below);
- `export.md` (bench_export.py's Markdown table);
- `steps.tsv` (bench/run.sh: each step's status and duration) and `facts.md`
  (the machine).

Ratios are feeds / reference: for req/s higher is better, for times and memory
lower is better; the target column says which way each one must go.

`ref-memory DIR...` measures what bench_load.py does not: the memory of the
CSafeLoader reference. In a fresh process per corpus, pinned to one core: read
every article file, cut the front matter, `yaml.load` it with `CSafeLoader` and
keep the dicts (what a loader that stops at YAML would hold); peak RSS, and RSS
growth per file. The files and the cut are bench_load.py's own functions.

    .venv/bin/python bench/table.py --out bench/out/run  # the table of the last run
    .venv/bin/python bench/table.py ref-memory bench/corpora/10k
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "bench" / "out"
KIB, MIB = 1024, 1024 * 1024

TARGET_SERVE = 0.5  # feeds / nginx req/s, each kind of request
TARGET_RENDER = 1.5  # cold render / plain feedgen or json.dumps
TARGET_LOAD = 1.0  # load wall time / CSafeLoader alone on one core
TARGET_KIB_PER_FILE = 4.0  # resident memory per article
# Static export of the 10k corpus, feeds' wall time / the tool's (the static export
# issue): faster than Hugo, at least 20 times faster than Jekyll.
# The same work as Hugo (RSS for all and each topic) faster than Hugo; incremental
# builds (the incremental build issue) against the cold full build: nothing changed
# ≤ 0.1×, one article changed ≤ 0.2×.
TARGET_EXPORT = {"Hugo": "< 1× (faster)", "Jekyll": "≤ 0.05× (20× faster)"}
# A changed file in the served feed, median, watcher on (the incremental build issue).
TARGET_CHANGE = {"10k": 0.1, "100k": 0.3}
TARGET_AGAIN = {"nothing changed": 0.1, "one article changed": 0.2}
SAME_WORK = "feeds build, same work as Hugo"
TARGET_EXPORT_CORPUS = "10k"


# ---- reading the benchmarks' outputs ----


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every pipe table in `text`: a list of rows, each a dict by column header."""
    tables: list[list[dict[str, str]]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines) - 1:
        header, rule = lines[index].strip(), lines[index + 1].strip()
        if header.startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", rule):
            names = cells(header)
            rows = []
            index += 2
            while index < len(lines) and lines[index].strip().startswith("|"):
                rows.append(dict(zip(names, cells(lines[index]), strict=False)))
                index += 1
            tables.append(rows)
        else:
            index += 1
    return tables


def cells(line: str) -> list[str]:
    return [cell.strip().strip("*").strip() for cell in line.strip().strip("|").split("|")]


def column(row: dict[str, str], *prefixes: str) -> str:
    """The cell whose header starts with one of `prefixes` (headers carry run
    parameters, e.g. `load (s, best of 3)`)."""
    for prefix in prefixes:
        for name, value in row.items():
            if name.startswith(prefix):
                return value
    raise KeyError(f"no column {prefixes} in {list(row)}")


def number(text: str) -> float:
    """The first number in a cell: `1,234.5`, `2.3×`, `0.52 (0.93)`."""
    found = re.search(r"-?\d[\d,]*(?:\.\d+)?", text)
    if not found:
        raise ValueError(f"no number in {text!r}")
    return float(found.group(0).replace(",", ""))


class Missing(Exception):
    """A benchmark's output is absent or older than this run."""


@dataclass
class Inputs:
    out: Path
    since: float

    def shown(self, name: str) -> str:
        return os.path.relpath(self.out / name, REPO_ROOT)

    def path(self, name: str) -> Path:
        path = self.out / name
        shown = self.shown(name)
        if not path.exists():
            raise Missing(f"no {shown}")
        if path.stat().st_mtime < self.since:
            raise Missing(f"{shown} is older than this run")
        return path

    def text(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def json(self, name: str) -> Any:
        return json.loads(self.text(name))


# ---- the combined table ----


@dataclass
class Row:
    section: str
    figure: str
    feeds: str
    reference: str
    ratio: str = "—"
    target: str = "—"
    met: str = "—"

    def cells(self) -> list[str]:
        return [self.section, self.figure, self.feeds, self.reference, self.ratio, self.target,
                self.met]  # fmt: skip


@dataclass
class Summary:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *args: str) -> None:
        self.rows.append(Row(*args))

    def missing(self, section: str, reason: str) -> None:
        self.rows.append(Row(section, "not measured", reason, "—"))


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def serve_rows(summary: Summary, inputs: Inputs) -> None:
    runs: dict[str, list[dict[str, float]]] = inputs.json("serve.json")
    notes = inputs.text("serve.md")

    def median(server: str, log: str, kind: str, metric: str) -> float:
        return statistics.median(r[metric] for r in runs[f"{server}|{log}|{kind}"])

    feed = re.search(r"\(([^()]*items[^()]*)\) from `([^`]+)`", notes)
    where = f"{feed.group(1)}, `{feed.group(2)}`" if feed else "the all-feed"
    rounds = len(runs.get("feeds|on|plain", []))
    wrk = re.search(r"wrk (`[^`]+`)", notes)
    workers = re.search(r"(\d+) worker processes", notes)
    summary.notes.append(
        f"Serving: `/feeds/all.rss` ({where}); wrk {wrk.group(1) if wrk else ''} after a "
        f"warm-up, {workers.group(1) if workers else '?'} worker processes on each side; "
        f"medians of {rounds} run(s) per server, servers alternating. Reference: nginx "
        "serving the service's own bytes (`gzip_static`, same ETag). Full table: "
        f"`{inputs.shown('serve.md')}`."
    )
    digest = re.search(r"digest ([0-9a-f]+)", notes)
    if digest:
        summary.notes.append(f"bench_serve measured feeds/*.py digest {digest.group(1)}.")
    for log in ("on", "off"):
        if f"feeds|{log}|plain" not in runs:
            continue
        for kind in ("plain", "gzip", "304"):
            rps = median("feeds", log, kind, "requests_per_second")
            ref = median("nginx", log, kind, "requests_per_second")
            p99 = median("feeds", log, kind, "p99_ms")
            ref_p99 = median("nginx", log, kind, "p99_ms")
            label = "access log on, as deployed" if log == "on" else "access log off, both"
            summary.add(
                "1 serving",
                f"{kind}, cached feed ({label}): req/s, p99",
                f"{rps:,.0f} req/s, p99 {p99:.1f} ms",
                f"nginx: {ref:,.0f} req/s, p99 {ref_p99:.1f} ms",
                f"{rps / ref:.2f}",
                f"≥ {TARGET_SERVE}" if log == "on" else "—",
                verdict(rps / ref >= TARGET_SERVE) if log == "on" else "—",
            )


def render_rows(summary: Summary, inputs: Inputs) -> None:
    text = inputs.text("render.md")
    rows = next(t for t in markdown_tables(text) if t and "format" in t[0])
    head = re.search(r"all-feed \((\d+) items\) of `([^`]+)`, median of (\d+)", text)
    if head:
        summary.notes.append(
            f"Rendering: the all-feed ({head.group(1)} items) of `{head.group(2)}`, median of "
            f"{head.group(3)} runs, HTML caches cleared before each (cold). Ours "
            "describe+render makes the same document the reference does; build_feed also "
            "gzips and brotlis it and makes the ETag, which the reference does not. "
            f"Full table: `{inputs.shown('render.md')}`."
        )
    for row in rows:
        fmt = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}.get(row["format"], row["format"])
        ref_name = row.get("reference", "ref")
        ref = number(column(row, "ref cold"))
        ours = number(column(row, "ours describe+render"))
        built = number(column(row, "ours build_feed"))
        summary.add(
            "2 rendering",
            f"{fmt}, cold, 50 items: describe + render",
            f"{ours:.1f} ms",
            f"{ref_name}: {ref:.1f} ms",
            f"{ours / ref:.2f}×",
            f"≤ {TARGET_RENDER}×",
            verdict(ours / ref <= TARGET_RENDER),
        )
        summary.add(
            "2 rendering",
            f"{fmt}, cold: build_feed (+ gzip, brotli, ETag)",
            f"{built:.1f} ms",
            f"{ref_name}: {ref:.1f} ms",
            f"{built / ref:.2f}×",
            "— (more work)",
            "—",
        )


def load_rows(summary: Summary, inputs: Inputs) -> None:
    tables = []
    for name in ("load.md", "load-100k.md"):
        try:
            text = inputs.text(name)
        except Missing as missing:
            if name == "load.md":
                raise
            ran = any(step == "load-100k" for step, *_ in steps(inputs))
            why = f"not measured ({missing})" if ran else "not part of this run (--quick)"
            summary.notes.append(f"Loading, 100k: {why}.")
            continue
        tables += [row for table in markdown_tables(text) for row in table if "corpus" in row]
        best = re.search(r"best of (\d+)", text)
        summary.notes.append(
            f"Loading ({name}): "
            + (f"best of {best.group(1)} fresh processes." if best else "one run.")
        )
    try:
        memory = inputs.json("load-ref-memory.json")
    except Missing:
        memory = {}
    summary.notes.append(
        "Loading: `ContentLoader(dir).reload()` in a fresh process with one thread, as `feeds "
        "build` and `feeds check` load (500 files or more parse in forked processes on every "
        "core), and in a second thread, as the server's first load (no fork: in-process below "
        "2,000 files, forkserver workers above), against PyYAML `CSafeLoader` alone on the "
        "same front matter, pinned to one core (bench_load.py). Memory: feeds' peak RSS of "
        "the loading process (the pool's workers not counted) and RSS growth per article file; the "
        "reference's is `CSafeLoader` keeping the parsed dicts (table.py ref-memory). "
        "change→served feed: a file rewritten (new file renamed over it) until the snapshot "
        "and /feeds/all.rss rendered from it show it, `watch()` running; median (max)."
    )
    for row in tables:
        corpus = row["corpus"]
        short = Path(corpus).name
        files = row["files"]
        load = number(column(row, "load (s"))
        one = number(column(row, "load, 1 process"))
        in_thread = number(column(row, "load in a thread"))
        ref = number(column(row, "CSafeLoader ref"))
        summary.add(
            "3 loading",
            f"load {short} ({files} files): wall time, one thread (feeds build, check)",
            f"{load:.2f} s",
            f"CSafeLoader alone, 1 core: {ref:.2f} s",
            f"{load / ref:.2f}×",
            f"≤ {TARGET_LOAD}×",
            verdict(load / ref <= TARGET_LOAD),
        )
        summary.add(
            "3 loading",
            f"load {short}: wall time, in a thread (the server's first load)",
            f"{in_thread:.2f} s",
            f"CSafeLoader alone, 1 core: {ref:.2f} s",
            f"{in_thread / ref:.2f}×",
            f"≤ {TARGET_LOAD}×",
            verdict(in_thread / ref <= TARGET_LOAD),
        )
        summary.add(
            "3 loading",
            f"load {short}: wall time, pool off, 1 core each",
            f"{one:.2f} s",
            f"CSafeLoader alone, 1 core: {ref:.2f} s",
            f"{one / ref:.2f}×",
            "—",
            "—",
        )
        peak = number(column(row, "peak RSS"))
        per_file = number(column(row, "RSS/file"))
        ref_memory = memory.get(corpus)
        if ref_memory:
            ref_peak = ref_memory["peak_rss"] / MIB
            reference = (
                f"CSafeLoader, dicts kept: peak {ref_peak:.0f} MiB, "
                f"{ref_memory['rss_per_file'] / KIB:.1f} KiB/file"
            )
            ratio = f"{peak / ref_peak:.2f}× (peak)"
        else:
            reference, ratio = "not measured", "—"
        summary.add(
            "3 loading",
            f"load {short}: peak RSS, RSS per article file",
            f"peak {peak:.0f} MiB, {per_file:.1f} KiB/file",
            reference,
            ratio,
            f"≤ {TARGET_KIB_PER_FILE:g} KiB/file",
            verdict(per_file <= TARGET_KIB_PER_FILE),
        )
        latency = column(row, "change→served feed", "change→snapshot")
        watch = re.search(r"watch\(([^)]*)\)", next(k for k in row if k.startswith("change")))
        limit = TARGET_CHANGE.get(short)
        summary.add(
            "3 loading",
            f"{short}: one file's change → in the served feed (watcher on)",
            f"{number(latency):.2f} s median ({latency.split('(')[-1].rstrip(')')} s max)",
            f"watch({watch.group(1) if watch else '?'}); one reload after 1 change "
            f"{number(column(row, 'reload after 1 change')):.3f} s",
            "—",
            f"≤ {limit} s" if limit else "—",
            verdict(number(latency) <= limit) if limit else "—",
        )


def export_rows(summary: Summary, inputs: Inputs) -> None:
    text = inputs.text("export.md")
    rows = next(t for t in markdown_tables(text) if t and "tool" in t[0])
    runs = re.search(r"median of (\d+) runs", text)
    summary.notes.append(
        "Export: wall time of a cold full build into an empty folder, each tool a fresh "
        f"process, {'median of ' + runs.group(1) + ' runs' if runs else 'one run'}, tools "
        "taking turns, every cold feeds build with an empty parse cache. The full export is "
        "not the same work: feeds writes RSS, Atom and JSON Feed for every topic and provider "
        "(+ archive pages, index, OPML); Hugo RSS for all and each topic; Jekyll Atom for all "
        "and each topic plus an HTML page per article. The same work as Hugo: `feeds build "
        "--formats rss --feeds all,topics --no-archives`. Build again: over feeds' own full "
        "export, with its parse cache; one article changed: the newest, a line added to its "
        f"body. Full table: `{inputs.shown('export.md')}`."
    )
    by_corpus: dict[str, dict[str, dict[str, str]]] = {}
    for row in rows:
        by_corpus.setdefault(row["corpus"], {})[row["tool"]] = row
    for corpus, tools in by_corpus.items():
        ours = tools.get("feeds build")
        if ours is None:
            continue
        seconds = number(column(ours, "wall, median", "median (s)"))
        articles = ours.get("articles in feeds", "?")
        written = ours.get("feeds written", "?")
        same = tools.get(SAME_WORK)
        for tool, row in tools.items():
            if tool.startswith("feeds"):
                continue
            theirs = number(column(row, "wall, median", "median (s)"))
            ratio = seconds / theirs
            target, met = "— (not the same work)", "—"
            if corpus == TARGET_EXPORT_CORPUS and tool.startswith("Jekyll"):
                target, met = TARGET_EXPORT["Jekyll"], verdict(ratio <= 1 / 20)
            summary.add(
                "4 export",
                f"{corpus} ({articles} articles): cold full build",
                f"{seconds:.2f} s ({written} feeds)",
                f"{tool}: {theirs:.2f} s ({row.get('feeds written', '?')} feeds)",
                f"{ratio:.2f}×",
                target,
                met,
            )
            if same is not None and tool.startswith("Hugo"):
                ours_same = number(column(same, "wall, median", "median (s)"))
                target, met = "—", "—"
                if corpus == TARGET_EXPORT_CORPUS:
                    target, met = TARGET_EXPORT["Hugo"], verdict(ours_same / theirs < 1.0)
                summary.add(
                    "4 export",
                    f"{corpus}: cold build, same work as Hugo (RSS: all + each topic)",
                    f"{ours_same:.2f} s ({same.get('feeds written', '?')} feeds)",
                    f"{tool}: {theirs:.2f} s ({row.get('feeds written', '?')} feeds)",
                    f"{ours_same / theirs:.2f}×",
                    target,
                    met,
                )
        for what, limit in TARGET_AGAIN.items():
            again = next((row for tool, row in tools.items() if what in tool), None)
            if again is None:
                continue
            took = number(column(again, "wall, median", "median (s)"))
            target, met = "—", "—"
            if corpus == TARGET_EXPORT_CORPUS:
                target, met = f"≤ {limit}×", verdict(took / seconds <= limit)
            summary.add(
                "4 export",
                f"{corpus}: build again, {what}",
                f"{took:.2f} s ({again.get('feeds written', '?')})",
                f"feeds build, cold: {seconds:.2f} s",
                f"{took / seconds:.2f}×",
                target,
                met,
            )


def composed_rows(summary: Summary, inputs: Inputs) -> None:
    result = inputs.json("composed.json")
    uncached, cached = result["uncached_ms"], result["cached_ms"]
    target = result["target_p99_ms"]
    summary.notes.append(
        f"Composed feeds: {result['queries']} different composed feeds of "
        f"`{result['content']}` (e.g. `{result['examples'][0]}`), each asked twice in a row, "
        "one request at a time, one worker, gzip: the first answer is a render, the second "
        f"comes from the cache. The snapshot's first search (its word index) took "
        f"{result['first_search_ms']:.0f} ms, before the timing. Full figures: "
        f"`{inputs.shown('composed.json')}`."
    )
    summary.add(
        "5 composed feeds",
        "not yet cached (rendered): p50, p99",
        f"p50 {uncached['p50']:.1f} ms, p99 {uncached['p99']:.1f} ms",
        f"cached: p50 {cached['p50']:.1f} ms, p99 {cached['p99']:.1f} ms",
        f"{uncached['p99'] / cached['p99']:.0f}× (p99)",
        f"p99 ≤ {target:.0f} ms",
        verdict(uncached["p99"] <= target),
    )


def carry_rows(summary: Summary, inputs: Inputs) -> None:
    result = inputs.json("carry.json")
    summary.notes.append(
        f"After one change: `feeds serve --workers 1` on `{result['content']}`, every live "
        f"feed in four forms ({result['documents']} documents) asked once, one at a time; one "
        "article edited, and the same round again once the edit shows; best of "
        f"{result['edits']} edits. Reference: the first round, every document rendered, as a "
        f"reload that drops the whole render cache makes it. Full figures: "
        f"`{inputs.shown('carry.json')}`."
    )
    summary.add(
        "7 after one change",
        "a round of polls of every feed after one article changed",
        f"{result['after_change_s']:.2f} s ({result['rendered_after_change']:.0f} rendered)",
        f"every document rendered: {result['cold_s']:.2f} s ({result['documents']})",
        f"{result['after_change_s'] / result['cold_s']:.2f}×",
        "—",
        "—",
    )


def memory_rows(summary: Summary, inputs: Inputs) -> None:
    result = inputs.json("memory.json")
    mib = 1024 * 1024
    summary.notes.append(
        f"Memory: `feeds serve --workers {result['workers']} --cache-bytes "
        f"{result['cache_bytes']}` on `{result['content']}`, wrk -c{result['connections']} for "
        f"{result['duration']:g} s ({result['requests']} requests) of random feeds, formats, "
        "limit=, type=, unknown parameters and composed filters; each worker's RSS read from "
        "/proc every 50 ms. Budget: RSS once loaded + --cache-bytes + "
        f"{result['overhead_bytes'] // mib} MiB (feeds/memory.py OVERHEAD_BYTES). Full "
        f"figures: `{inputs.shown('memory.json')}`."
    )
    for number, worker in enumerate(result["per_worker"], 1):
        summary.add(
            "6 memory",
            f"worker {number}: peak RSS under random composed URLs",
            f"{worker['peak'] / mib:.0f} MiB (loaded {worker['loaded'] / mib:.0f} MiB)",
            f"budget: {worker['budget'] / mib:.0f} MiB",
            f"{worker['peak'] / worker['budget']:.2f}",
            "≤ loaded + cache + overhead",
            verdict(worker["within"]),
        )


SECTIONS = (
    ("serve", "1 serving", serve_rows),
    ("render", "2 rendering", render_rows),
    ("load", "3 loading", load_rows),
    ("export", "4 export", export_rows),
    ("composed", "5 composed feeds", composed_rows),
    ("memory", "6 memory", memory_rows),
    ("carry", "7 after one change", carry_rows),
)


def steps(inputs: Inputs) -> list[tuple[str, str, str, str]]:
    """bench/run.sh's record: (step, status, seconds, note) per line."""
    try:
        text = inputs.text("steps.tsv")
    except Missing:
        return []
    return [tuple((line.split("\t") + ["", "", ""])[:4]) for line in text.splitlines()]  # type: ignore[misc]


def build(inputs: Inputs) -> str:
    summary = Summary()
    record = steps(inputs)
    status = {name: (state, note) for name, state, _, note in record}
    for step, section, rows in SECTIONS:
        state, note = status.get(step, ("", ""))
        if state == "skipped":
            summary.missing(section, f"skipped: {note}")
            continue
        try:
            rows(summary, inputs)
        except (Missing, KeyError, ValueError, StopIteration) as error:
            reason = f"{state}: {note}; " if state and state != "ok" else ""
            summary.missing(section, f"{reason}{type(error).__name__}: {error}")
    header = ["section", "figure", "feeds", "reference", "ratio", "target", "met?"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in summary.rows]
    scored = [row for row in summary.rows if row.met in ("yes", "**no**")]
    met = sum(row.met == "yes" for row in scored)
    lines += [
        "",
        f"Targets met: {met} of {len(scored)}. Ratio = feeds / reference (req/s: higher is "
        "better; times and memory: lower is better).",
        "",
        *[f"- {note}" for note in summary.notes],
    ]
    try:
        facts = inputs.text("facts.md").strip()
    except Missing:
        facts = ""
    timing = [
        f"{name} {state} in {seconds} s" + (f" ({note})" if note else "")
        for name, state, seconds, note in record
    ]
    parts = [facts, "\n".join(lines)]
    if timing:
        parts.append("Steps: " + "; ".join(timing) + ".")
    return "\n\n".join(part for part in parts if part) + "\n"


# ---- the memory of the CSafeLoader reference ----


def ref_memory_worker(root: Path) -> dict[str, Any]:
    """In this fresh process, one core: parse every front matter with CSafeLoader, keep
    the dicts; peak RSS and RSS growth per file."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    import yaml
    from bench_load import article_files, front_matter, resident_bytes

    gc.collect()
    before = resident_bytes()
    started = time.perf_counter()
    kept = []
    for path in article_files(root):
        text = path.read_bytes().decode("utf-8-sig")
        kept.append(yaml.load(front_matter(text), Loader=yaml.CSafeLoader))  # noqa: S506
    seconds = time.perf_counter() - started
    gc.collect()
    after = resident_bytes()
    return {
        "files": len(kept),
        "seconds": seconds,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rss_per_file": (after - before) / max(len(kept), 1),
    }


def ref_memory(folders: list[str], out: Path) -> None:
    """Each corpus in a fresh process; results keyed by the folder as given (the label
    bench_load.py prints), merged into `out`."""
    results = json.loads(out.read_text()) if out.exists() else {}
    for folder in folders:
        root = Path(folder)
        root = (root if root.is_absolute() else REPO_ROOT / root).resolve()
        done = subprocess.run(
            [sys.executable, __file__, "--worker", str(root)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        results[folder] = json.loads(done.stdout.strip().splitlines()[-1])
        row = results[folder]
        print(
            f"{folder}: {row['files']:,} files, CSafeLoader keeping the dicts: peak RSS "
            f"{row['peak_rss'] / MIB:.0f} MiB, {row['rss_per_file'] / KIB:.1f} KiB/file, "
            f"{row['seconds']:.2f} s",
            file=sys.stderr,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=("table", "ref-memory"), default="table")
    parser.add_argument("folders", nargs="*", help="ref-memory: corpus folders")
    parser.add_argument("--out", type=Path, default=OUT, help="the benchmarks' output folder")
    parser.add_argument(
        "--summary", type=Path, help="where the table goes (default: summary.md in --out)"
    )
    parser.add_argument(
        "--since", type=float, default=0.0,
        help="epoch seconds: outputs older than this are ignored (run.sh: the run's start)",
    )  # fmt: skip
    parser.add_argument("--worker", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_intermixed_args(argv)
    if args.worker:
        print(json.dumps(ref_memory_worker(Path(args.worker))))
    elif args.command == "ref-memory":
        if not args.folders:
            parser.error("ref-memory needs at least one folder")
        ref_memory(args.folders, args.out / "load-ref-memory.json")
    else:
        table = build(Inputs(args.out, args.since))
        (args.summary or args.out / "summary.md").write_text(table, encoding="utf-8")
        print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
