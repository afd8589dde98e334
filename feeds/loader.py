"""The content folder -> the current `Snapshot`, kept live while the folder changes.

A full reload walks the folder and stats every file; a reload after file-system
events looks only at the paths they name (and what shares an inode with them),
patching the last scan. A file whose stat is unchanged is not read; a file that
is read but whose bytes are unchanged (a `git pull`, a git-sync symlink swap) is
not parsed again. Only then is a new snapshot built, and it replaces the old one
in a single assignment. A full scan still runs every SAFETY_SCAN seconds.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import pickle
import stat
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.context import BaseContext
from pathlib import Path

import watchfiles
from cachetools import LRUCache

from feeds.errors import ContentError, NotLoaded
from feeds.inputs import Sources, code_version
from feeds.model import Problem
from feeds.parse import ARTICLE_SUFFIXES, MAX_FILE_BYTES, ParsedFile, parse_file
from feeds.snapshot import Snapshot, build_snapshot, patch_snapshot
from feeds.taxonomy import TAXONOMY_DIR, load_taxonomy, site_url_from_config
from feeds.workers import fork_context, worker_count

log = logging.getLogger("feeds.loader")

# Events are handed over once none came for this long (or after `interval` at
# most): a rename is one event, and a reload after events costs what they name,
# so a short quiet time is cheap; a burst still comes in few groups, as each
# reload's events gather while it runs.
WATCH_STEP_MS = 10
# The parse cache is saved again only when this many files differ from it (read
# or parsed anew): a save writes all of it (9 MB for 10,000 files, a third of a
# second), reading a few files again next time costs milliseconds.
CACHE_SAVE_MIN_CHANGES = 64
MAX_EVENTS = 10_000  # paths named by the events of one reload; more: a full scan is as cheap
MAX_FILES = 500_000  # a folder with more article files than this is cut (and says so)
UNREADABLE = b"unreadable"  # stands for a file's digest when it cannot be read (16 bytes never)
# A full scan even when no file-system event came: network file systems and
# missed events are caught within this many seconds.
SAFETY_SCAN = 30.0
# A load of many files parses on every core; small reloads stay in-process. Forked
# workers start in milliseconds, so they pay from a few hundred files; a fresh
# interpreter (forkserver) costs a tenth of a second, and pays from a few thousand.
PARALLEL_PARSE_MIN_FILES = 500
PARALLEL_PARSE_MIN_FILES_FORKSERVER = 2000

# What tells that a file may have changed without reading it.
StatKey = tuple[int, int, int, int]  # device, inode, size, mtime in ns


@dataclass(frozen=True)
class _Scan:
    files: dict[str, tuple[str, StatKey]]  # relpath -> (absolute path, stat key)
    taxonomy_key: tuple[tuple[str, StatKey], ...]
    problems: dict[str, Problem]  # relpath -> why the file could not even be read
    root: str  # the real path of the folder this scan walked


@dataclass
class ReloadStats:
    """Counters the metrics endpoint reports."""

    reloads: int = 0
    errors: int = 0
    last_error: str | None = None
    files_parsed: int = 0
    last_duration: float = 0.0


class ContentLoader:
    """Loads a content folder into snapshots; `watch()` keeps it current."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        site_url: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.root = Path(root)
        self.site_url = site_url
        self.clock = clock
        self.stats = ReloadStats()
        self._listeners: list[Callable[[Snapshot], None]] = []
        self._snapshot: Snapshot | None = None
        self._reload_lock = threading.Lock()
        # relpath -> (stat key, content digest): answers "did it change?" without reading.
        self._digests: dict[str, tuple[StatKey, bytes]] = {}
        # (relpath, content digest) -> parse result: never parse the same bytes twice.
        self._parsed: LRUCache[tuple[str, bytes], ParsedFile] = LRUCache(maxsize=2 * MAX_FILES)
        self._taxonomy_key: tuple[tuple[str, StatKey], ...] | None = None
        self._cached: dict[str, tuple[StatKey, bytes]] | None = None  # as load_cache found it
        self._site_url = site_url
        self._taxonomy = load_taxonomy(Path("/nonexistent"), None)
        self._fingerprint: tuple[tuple[str, StatKey], ...] | None = None  # the taxonomy's
        self._last_scan: tuple[object, ...] | None = None
        # What the current snapshot was made of, and the scan it came from: a reload
        # after file-system events patches them (feeds/loader.py's _rescan).
        self._results: dict[str, ParsedFile] = {}
        self._keys: dict[str, bytes] = {}  # relpath -> content digest
        self._built_from: dict[str, ParsedFile] = {}  # the parses the snapshot was made of
        self._last_full: _Scan | None = None
        self._prescan: _Scan | None = None  # made by scan_key(fresh=True), for the next reload
        self._inodes: dict[tuple[int, int], list[str]] | None = None  # (device, inode) -> relpaths
        self._reported: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the current snapshot ----

    @property
    def snapshot(self) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is None:
            raise NotLoaded(f"{self.root}: content not loaded yet")
        return snapshot

    @property
    def loaded(self) -> bool:
        return self._snapshot is not None

    @property
    def current(self) -> Snapshot | None:
        """The current snapshot, or None before the first load."""
        return self._snapshot

    def on_change(self, listener: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call `listener(new_snapshot)` after every reload that changed something;
        returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def scan_key(self, fresh: bool = False) -> str | None:
        """A digest of what a scan of the folder sees: every file's stat, the
        taxonomy's, what could not be read. The scan the last reload made, or a
        `fresh` one (which the next reload then starts from: one walk of the
        folder for both); None when a file of the last reload could not be read
        (it is read again next time, whatever its stat)."""
        if not fresh and (self._last_full is None or self._last_scan is None):
            return None
        if fresh:
            self._prescan = scan = self._scan()
        else:
            assert self._last_full is not None
            scan = self._last_full
        seen = (sorted(scan.files.items()), sorted((k, repr(v)) for k, v in scan.problems.items()),
                scan.taxonomy_key, scan.root, self.site_url)  # fmt: skip
        return hashlib.blake2b(repr(seen).encode(), digest_size=16).hexdigest()

    def sources(self) -> Sources:
        """What the current snapshot's articles were parsed from (feeds/inputs.py)."""
        digests = {relpath: known[1].hex() for relpath, known in self._digests.items()}
        return Sources(digests, self._site_url)

    # ---- a parse cache kept between processes (feeds build) ----

    def load_cache(self, path: str | os.PathLike[str]) -> bool:
        """Take the parses a previous process saved with `save_cache`, so that the
        next reload parses only files whose bytes changed since. False (and
        nothing taken) when there is no such cache, or it is of other code."""
        try:
            with open(path, "rb") as handle:
                saved = _CacheUnpickler(handle).load()
            if saved["code"] != _cache_version():
                return False
            site_url, files = saved["site_url"], saved["files"]
        except FileNotFoundError:
            return False
        except Exception as error:  # unreadable, truncated, or not ours: parse afresh
            log.warning("%s: parse cache not used: %s", path, error)
            return False
        with self._reload_lock:
            self._site_url = site_url
            for relpath, (stat_key, digest, parsed) in files.items():
                self._digests[relpath] = (stat_key, digest)
                self._parsed[(relpath, digest)] = parsed
            self._cached = dict(self._digests)
        return True

    def save_cache(self, path: str | os.PathLike[str]) -> None:
        """Save the current snapshot's parses for `load_cache`; written to a
        temporary file and renamed, so a reader never sees half of it."""
        with self._reload_lock:
            if self._cached is not None:
                cached = self._cached
                differ = sum(1 for key, known in self._digests.items() if cached.get(key) != known)
                if differ < CACHE_SAVE_MIN_CHANGES:
                    return  # the few files it misses cost less to read again than a save
            files = {}
            for relpath, (stat_key, digest) in self._digests.items():
                parsed = self._parsed.get((relpath, digest))
                if parsed is not None:
                    files[relpath] = (stat_key, digest, parsed)
            saved = {"code": _cache_version(), "site_url": self._site_url, "files": files}
        target = Path(path)
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "wb") as handle:
                pickle.dump(saved, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temp, target)
        except OSError as error:
            log.warning("%s: parse cache not saved: %s", path, error.strerror or error)
            temp.unlink(missing_ok=True)

    # ---- reloading ----

    def reload(self, events: Collection[str] | None = None) -> Snapshot:
        """Bring the snapshot up to date with the folder; return the current one.

        `events`: the absolute paths file-system events named since the last
        reload. Only those are looked at again (a folder: what is in it), and
        the files that share an inode with one of them (hard links, symlinks);
        anything the last scan cannot be patched for (the folder swapped, a
        hidden symlink such as a ConfigMap's `..data` changed, too many events)
        makes it a full scan. None: a full scan.

        Raises ContentError when the folder cannot be read at all; the previous
        snapshot then stays current.
        """
        with self._reload_lock:
            started = time.perf_counter()
            try:
                snapshot = self._reload(events)
            except Exception as error:
                self.stats.errors += 1
                # Said on /readyz: the reason, never a path of the machine.
                self.stats.last_error = (
                    error.reason if isinstance(error, ContentError) else type(error).__name__
                )
                raise
            self.stats.last_duration = time.perf_counter() - started
            self.stats.last_error = None
            return snapshot

    def _reload(self, events: Collection[str] | None = None) -> Snapshot:
        rescan = self._rescan(events) if events is not None else None
        if rescan is None:
            scan, touched = self._prescan or self._scan(), None
        else:
            scan, touched = rescan
        self._prescan = None
        seen = (scan.files, scan.problems, scan.taxonomy_key)
        if self._snapshot is not None and seen == self._last_scan:
            self._last_full = scan
            return self._snapshot  # not one stat changed, and no file waits to be read again
        if scan.taxonomy_key != self._taxonomy_key:
            site_url = self.site_url or site_url_from_config(Path(scan.root))
            if site_url != self._site_url:
                self._parsed.clear()  # image URLs resolved against the old site URL
                self._site_url = site_url
                touched = None  # every file is parsed again
            self._taxonomy = load_taxonomy(Path(scan.root), self._site_url)
            self._taxonomy_key = scan.taxonomy_key

        # relpath -> parse, and content digest: what the snapshot is made of. A full
        # scan looks at every file; a rescan only at those it touched.
        results: dict[str, ParsedFile] = {} if touched is None else dict(self._results)
        keys: dict[str, bytes] = {} if touched is None else dict(self._keys)
        if touched is None:
            relpaths: Iterable[str] = scan.files
            vanished = self._digests.keys() - scan.files.keys()
        else:
            relpaths = [relpath for relpath in touched if relpath in scan.files]
            vanished = {relpath for relpath in touched if relpath not in scan.files}
        changed: list[_Work] = []  # files whose stat changed: read them, parse if the bytes did
        for relpath in relpaths:
            path, stat_key = scan.files[relpath]
            if relpath in scan.problems:
                results[relpath] = ParsedFile(problems=(scan.problems[relpath],))
                keys[relpath] = b"!" + scan.problems[relpath].reason.encode()
                continue
            known = self._digests.get(relpath)
            cached = self._parsed.get((relpath, known[1])) if known else None
            if known is not None and known[0] == stat_key and cached is not None:
                results[relpath], keys[relpath] = cached, known[1]
            else:
                previous = known[1] if known is not None and cached is not None else None
                changed.append((relpath, path, stat_key, previous))
        for relpath, stat_key, digest, parsed in self._read_and_parse(changed):
            keys[relpath] = digest
            if parsed is None:  # same bytes as the cached parse (a touch, a symlink swap)
                parsed = self._parsed[(relpath, digest)]
                self._digests[relpath] = (stat_key, digest)
            elif digest != UNREADABLE:  # an unreadable file is tried again next time
                self._parsed[(relpath, digest)] = parsed
                self._digests[relpath] = (stat_key, digest)
                self.stats.files_parsed += 1
            results[relpath] = parsed
        for relpath in vanished:
            self._digests.pop(relpath, None)  # vanished: forget it
            results.pop(relpath, None)
            keys.pop(relpath, None)

        # An unreadable file is read again at the next scan even if its stat is the
        # same. Recorded once the snapshot stands for this scan: were building it to
        # fail, the next reload must not take the same scan for one already done.
        last_scan = None if UNREADABLE in keys.values() else seen
        self._last_scan = None
        self._last_full = scan
        if touched is None:
            self._inodes = None  # made again from this scan when a rescan needs it
        same = keys == self._keys and scan.taxonomy_key == self._fingerprint
        # Whether the snapshot was made of the last reload's parses: not so after a
        # reload that failed before its swap, and then only a full build will do.
        patchable = self._results is self._built_from
        self._results, self._keys = results, keys
        if self._snapshot is not None and same and patchable:
            self._built_from = results  # the same bytes: the same parses
            self._last_scan = last_scan
            return self._snapshot
        generation = self._snapshot.generation + 1 if self._snapshot else 1
        snapshot = None
        built_from = self._built_from
        if touched is not None and self._snapshot is not None and patchable:
            # A few files changed: derive the snapshot from the last one.
            changes = {
                relpath: (built_from.get(relpath), results.get(relpath))
                for relpath in touched
                if built_from.get(relpath) is not results.get(relpath)
            }
            snapshot = patch_snapshot(
                self._snapshot, self._taxonomy, changes, self.clock(), generation
            )
        if snapshot is None:
            snapshot = build_snapshot(
                (results[relpath] for relpath in sorted(results)),
                self._taxonomy,
                self.clock(),
                generation,
            )
        self._fingerprint = scan.taxonomy_key
        self.stats.last_error = None  # before the swap: no reader sees new content and an old error
        self._snapshot = snapshot  # the atomic swap: readers see the old or the new one
        self._built_from = results
        self._last_scan = last_scan
        self.stats.reloads += 1
        self._report(snapshot)
        for listener in list(self._listeners):
            try:
                listener(snapshot)
            except Exception:  # one listener's failure must not undo the reload
                log.exception("a listener of the new snapshot failed")
        return snapshot

    def _read_and_parse(self, work: list[_Work]) -> list[_Done]:
        """Read, hash and (if the bytes changed) parse files; on every core when
        there are enough to pay for starting the processes."""
        workers = worker_count()
        context = _pool_context(len(work)) if workers >= 2 else None
        if context is None:
            return _read_and_parse(work, self._site_url)
        chunk = max(64, len(work) // (workers * 8))
        batches = [work[start : start + chunk] for start in range(0, len(work), chunk)]
        try:
            with ProcessPoolExecutor(workers, mp_context=context) as pool:
                done = pool.map(_read_and_parse, batches, [self._site_url] * len(batches))
                return [result for batch in done for result in batch]
        except (BrokenProcessPool, OSError) as error:  # no processes to be had: do it here
            log.warning("parsing in one process: %s", error)
            return _read_and_parse(work, self._site_url)

    def _scan(self) -> _Scan:
        root = os.path.realpath(self.root)  # follows a symlink swapped by git-sync
        if not os.path.isdir(root):
            raise ContentError(self.root, "content folder is missing or not a folder")
        try:
            os.listdir(root)
        except OSError as error:
            raise ContentError(self.root, f"cannot read content folder: {error.strerror}") from None
        files: dict[str, tuple[str, StatKey]] = {}
        problems: dict[str, Problem] = {}
        for relpath, path, outcome in _walk(root):
            if isinstance(outcome, Problem):
                problems[relpath] = outcome
                files[relpath] = (path, (0, 0, 0, 0))
            elif len(files) < MAX_FILES:
                files[relpath] = (path, outcome)
            else:
                problems[relpath] = Problem(
                    relpath, f"more than {MAX_FILES} files: not read", kind="limit"
                )
                files[relpath] = (path, (0, 0, 0, 0))
        return _Scan(files, _taxonomy_key(root), problems, root)

    def _rescan(self, events: Collection[str]) -> tuple[_Scan, set[str]] | None:
        """The last scan, patched for the paths `events` name, and the relpaths
        whose entry it touched; None when only a full scan will do."""
        last = self._last_full
        if last is None or len(events) > MAX_EVENTS:
            return None
        root = os.path.realpath(self.root)
        if root != last.root or not os.path.isdir(root):
            return None  # the folder was swapped (git-sync) or is gone
        files, problems = dict(last.files), dict(last.problems)
        touched: set[str] = set()

        def forget(relpath: str) -> None:
            """`relpath` and, if it was a folder, everything in it."""
            inside = relpath + "/"
            named = [relpath] if relpath in files else [k for k in files if k.startswith(inside)]
            for known in named:
                if files.pop(known, None) is not None:
                    problems.pop(known, None)
                    touched.add(known)

        def add(relpath: str, path: str, outcome: StatKey | Problem) -> None:
            touched.add(relpath)
            if isinstance(outcome, Problem):
                problems[relpath] = outcome
                files[relpath] = (path, (0, 0, 0, 0))
            else:
                files[relpath] = (path, outcome)

        again: set[str] = set()  # paths looked at, and those sharing an inode with one
        for event in events:
            if event != root and not event.startswith(root + os.sep):
                return None  # e.g. the folder holding a swapped symlink
            parent = os.path.dirname(event)
            real_parent = os.path.realpath(parent)
            if real_parent != parent:
                # Named through a symlinked folder: a watch may follow one, and then
                # name a file by that way. The scan knows it by its real path only.
                if real_parent != root and not real_parent.startswith(root + os.sep):
                    continue
                event = os.path.join(real_parent, os.path.basename(event))
            relpath = os.path.relpath(event, root).replace(os.sep, "/")
            parts = relpath.split("/")
            hidden = next((i for i, part in enumerate(parts) if part.startswith(".")), None)
            if relpath == ".":
                return None
            if hidden is not None:
                # Hidden names are never read, but a ConfigMap swaps a hidden
                # symlink (`..data`) the visible files lead through.
                if os.path.islink(os.path.join(root, *parts[: hidden + 1])):
                    return None
                continue
            if parts[0] == TAXONOMY_DIR or relpath == "_config.yml":
                continue  # the taxonomy is looked at on every reload
            again.add(relpath)
        inodes = self._inode_index(last)
        for relpath in list(again):
            known = files.get(relpath)
            if known is not None:
                again.update(inodes.get(known[1][:2], ()))
        for relpath in sorted(again):
            old = files.get(relpath)
            forget(relpath)
            path = os.path.join(root, *relpath.split("/"))
            for found, found_path, outcome in _look_at(path, relpath, root):
                add(found, found_path, outcome)
            self._index(inodes, relpath, old, files.get(relpath))
        if len(files) > MAX_FILES:
            return None
        return _Scan(files, _taxonomy_key(root), problems, root), touched

    def _inode_index(self, scan: _Scan) -> dict[tuple[int, int], list[str]]:
        """(device, inode) -> the relpaths that lead to it: a change named by one
        name of a file is a change of its other names (hard links, symlinks) too.
        Made on the first rescan, so a process that never watches never pays."""
        if self._inodes is None:
            self._inodes = {}
            for relpath, (_, stat_key) in scan.files.items():
                self._inodes.setdefault(stat_key[:2], []).append(relpath)
        return self._inodes

    @staticmethod
    def _index(
        inodes: dict[tuple[int, int], list[str]],
        relpath: str,
        old: tuple[str, StatKey] | None,
        new: tuple[str, StatKey] | None,
    ) -> None:
        if old is not None and relpath in (names := inodes.get(old[1][:2], [])):
            names.remove(relpath)
        if new is not None:
            inodes.setdefault(new[1][:2], []).append(relpath)

    def _report(self, snapshot: Snapshot) -> None:
        """Log each problem once, not on every reload."""
        current = {str(problem) for problem in snapshot.problems}
        for line in sorted(current - self._reported):
            log.warning("%s", line)
        self._reported = current

    # ---- watching ----

    def watch(self, interval: float = 1.0) -> None:
        """Keep the snapshot current from a background thread until `close()`.

        Reloads follow file-system events (inotify, through watchfiles), grouped
        for at most `interval` seconds, plus a full scan every `SAFETY_SCAN`
        seconds; where events cannot be had, a scan every `interval` seconds.
        """
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._watch, args=(interval,), name="feeds-reload", daemon=True
        )
        self._thread.start()

    def _watch(self, interval: float) -> None:
        while not self._stop.is_set():
            paths = self._watched_paths()
            if paths is None:  # no folder to watch (yet): look again shortly
                self._stop.wait(interval)
                self._reload_logged()
                continue
            try:
                # An empty set comes every `interval` with no event: the first one
                # says the watch is set up (a change made while it was being set up
                # is caught by that scan), later ones time the safety scans.
                scanned_since_setup = False
                last_scan = time.monotonic()
                for changes in watchfiles.watch(
                    *paths,
                    watch_filter=None,  # dot names too: a ConfigMap swaps `..data`
                    debounce=max(int(interval * 1000), 50),
                    step=min(WATCH_STEP_MS, max(int(interval * 1000), 1)),
                    stop_event=self._stop,
                    rust_timeout=max(int(interval * 1000), 1),
                    yield_on_timeout=True,
                    raise_interrupt=False,
                    ignore_permission_denied=True,
                ):
                    due = time.monotonic() - last_scan >= SAFETY_SCAN
                    if due or not scanned_since_setup:
                        self._reload_logged()  # a full scan: the safety net
                        scanned_since_setup, last_scan = True, time.monotonic()
                    elif changes:
                        self._reload_logged({path for _, path in changes})
                    if self._watched_paths() != paths:
                        break  # the folder was swapped or removed: watch what is there now
            except Exception as error:  # no events to be had here: scan on a timer
                log.warning("watching %s by polling: %s", self.root, error)
                deadline = time.monotonic() + SAFETY_SCAN
                while time.monotonic() < deadline and not self._stop.wait(interval):
                    self._reload_logged()

    def _watched_paths(self) -> tuple[str, ...] | None:
        """The folder's real path, and, when the folder is a symlink, the folder
        holding the symlink, where git-sync swaps it."""
        root = os.path.abspath(self.root)
        real = os.path.realpath(root)
        if not os.path.isdir(real):
            return None
        if os.path.islink(root):
            return tuple(sorted({real, os.path.dirname(root)}))
        return (real,)

    def _reload_logged(self, events: Collection[str] | None = None) -> None:
        try:
            self.reload(events)
        except ContentError as error:
            log.error("reload failed, still serving the last good content: %s", error)
        except Exception:  # a bug must not stop the watching, nor the serving
            log.exception("reload failed, still serving the last good content")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def _cache_version() -> str:
    return f"{code_version()} {sys.implementation.cache_tag}"


class _CacheUnpickler(pickle.Unpickler):
    """Unpickles the parse cache and nothing else: only the classes a parse is
    made of may be named in it, so a cache file someone else wrote cannot make
    this process call anything."""

    ALLOWED = frozenset(
        {
            ("feeds.parse", "ParsedFile"),
            ("datetime", "datetime"),
            ("datetime", "timezone"),
            ("datetime", "timedelta"),
        }
        | {
            ("feeds.model", name)
            for name in (
                "Article",
                "Image",
                "Provider",
                "Topic",
                "RelatedItem",
                "Retraction",
                "Problem",
                "Severity",
            )
        }
    )

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a parse cache")
        return super().find_class(module, name)  # type: ignore[no-any-return]


# A file to look at: relpath, path, stat key, digest of the bytes already parsed (if any).
_Work = tuple[str, str, StatKey, bytes | None]
# What came of it: relpath, stat key, digest, parse (None: same bytes as before).
_Done = tuple[str, StatKey, bytes, ParsedFile | None]


def _read_and_parse(work: list[_Work], site_url: str | None) -> list[_Done]:
    done: list[_Done] = []
    for relpath, path, stat_key, previous in work:
        try:
            with open(path, "rb") as handle:
                # The size the scan saw, and a little more: a file that grew since is
                # read again at the next scan. (Asking for the limit itself would
                # allocate 4 MiB for every read.)
                data = handle.read(min(stat_key[2] + 65536, MAX_FILE_BYTES + 1))
        except OSError as error:
            problem = Problem(relpath, f"cannot read: {error.strerror or error}", kind="unreadable")
            done.append((relpath, stat_key, UNREADABLE, ParsedFile(problems=(problem,))))
            continue
        digest = hashlib.blake2b(data, digest_size=16).digest()
        parsed = None if digest == previous else _parse_safely(relpath, data, site_url)
        done.append((relpath, stat_key, digest, parsed))
    return done


def _pool_context(files: int) -> BaseContext | None:
    """How to start the processes that parse `files` files, or None: parse here.
    Forked when that is safe; else from a forkserver, a clean process that never
    ran a thread, which costs a fresh interpreter."""
    context = fork_context()
    if context is not None and files >= PARALLEL_PARSE_MIN_FILES:
        return context
    if files >= PARALLEL_PARSE_MIN_FILES_FORKSERVER:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["feeds.parse"])
        return context
    return None


def _parse_safely(relpath: str, data: bytes, site_url: str | None) -> ParsedFile:
    """parse_file, with a bug in it confined to the one file that met it."""
    try:
        return parse_file(relpath, data, site_url)
    except Exception as error:
        log.exception("%s: could not be parsed", relpath)
        reason = f"could not be parsed ({type(error).__name__}); the service log has details"
        return ParsedFile(problems=(Problem(relpath, reason, kind="invalid"),))


def _stat_key(path: str) -> StatKey | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _printable_name(name: str) -> bool:
    """Whether a file name is text: os.scandir keeps undecodable bytes as surrogates."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _taxonomy_key(root: str) -> tuple[tuple[str, StatKey], ...]:
    """What tells that the taxonomy or `_config.yml` may have changed."""
    taxonomy = tuple(
        (relpath, stat_key)
        for relpath, _, stat_key in _walk(
            os.path.join(root, TAXONOMY_DIR),
            prefix=TAXONOMY_DIR,
            suffixes=(".yaml", ".yml", ".md"),
        )
        if not isinstance(stat_key, Problem)
    )
    config = _stat_key(os.path.join(root, "_config.yml"))
    if config is not None:
        taxonomy += (("_config.yml", config),)
    return tuple(sorted(taxonomy))


def _look_at(
    path: str, relpath: str, content_root: str
) -> Iterator[tuple[str, str, StatKey | Problem]]:
    """What a full scan finds at `path` (`relpath` in the content folder whose
    real path is `content_root`): nothing, one article file, or a folder's."""
    rel_dir, _, name = relpath.rpartition("/")
    yield from _walk(os.path.dirname(path), rel_dir, real_root=content_root, only=name)


def _walk(
    root: str,
    prefix: str = "",
    suffixes: tuple[str, ...] = ARTICLE_SUFFIXES,
    real_root: str | None = None,
    only: str | None = None,
    stat_file: Callable[[str], bool] = lambda relpath: True,
) -> Iterator[tuple[str, str, StatKey | Problem]]:
    """Article files under `root`, sorted: (relpath, path, stat key or problem).

    A plain regular file (as the directory entry tells) for which `stat_file(relpath)`
    is false gets the stat key (0, 0, 0, 0), unchecked for size: a sweep that reads
    every file anyway saves a system call per file.

    Skips names starting with '.', the taxonomy folder, and anything that is not a
    regular file (a FIFO would block a read forever). Symlinked files are followed
    only when they stay inside the folder; symlinked folders are never followed,
    so a loop cannot make the walk endless.

    `real_root`: the content folder's real path, when `root` is a folder in it
    (`prefix` its relpath); `only`: of `root` itself, only the entry so named.
    """
    stack = [(prefix, root)]
    real_root = real_root or os.path.realpath(root)
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            entries = list(os.scandir(abs_dir))
            if only is not None and abs_dir == root:
                entries = [entry for entry in entries if entry.name == only]
            entries.sort(key=lambda e: e.name)
        except OSError as error:
            if rel_dir != prefix:
                yield (
                    rel_dir,
                    abs_dir,
                    Problem(rel_dir, f"cannot read folder: {error.strerror}", kind="unreadable"),
                )
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            relpath = f"{rel_dir}/{name}" if rel_dir else name
            if not _printable_name(name):
                shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                shown_path = f"{rel_dir}/{shown}" if rel_dir else shown
                if name.lower().endswith(suffixes) or entry.is_dir(follow_symlinks=False):
                    yield (
                        shown_path,
                        entry.path,
                        Problem(
                            shown_path, "file name is not valid UTF-8: not read", kind="unreadable"
                        ),
                    )
                continue
            try:
                if entry.is_symlink():
                    if not name.lower().endswith(suffixes):
                        continue
                    target = os.path.realpath(entry.path)
                    if target != real_root and not target.startswith(real_root + os.sep):
                        yield (
                            relpath,
                            entry.path,
                            Problem(
                                relpath,
                                "symlink leads outside the content folder: not followed",
                                kind="symlink",
                            ),
                        )
                        continue
                    info = os.stat(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    if not (relpath == TAXONOMY_DIR and not prefix):
                        stack.append((relpath, entry.path))
                    continue
                elif not name.lower().endswith(suffixes):
                    continue
                elif not stat_file(relpath) and entry.is_file(follow_symlinks=False):
                    yield relpath, entry.path, (0, 0, 0, 0)
                    continue
                else:
                    info = entry.stat(follow_symlinks=False)
            except OSError as error:
                yield (
                    relpath,
                    entry.path,
                    Problem(relpath, f"cannot read: {error.strerror or error}", kind="unreadable"),
                )
                continue
            if not stat.S_ISREG(info.st_mode):
                yield relpath, entry.path, Problem(relpath, "not a regular file", kind="unreadable")
                continue
            if info.st_size > MAX_FILE_BYTES:
                yield (
                    relpath,
                    entry.path,
                    Problem(
                        relpath,
                        f"file is {info.st_size} bytes, over the {MAX_FILE_BYTES}-byte limit",
                        kind="limit",
                    ),
                )
                continue
            yield relpath, entry.path, (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
