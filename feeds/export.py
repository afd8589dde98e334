"""The static export: every document the service publishes, written to a folder.

`export()` writes each path of `published_paths()` to the file of the same path
(`/feeds/all.rss` -> `OUT/feeds/all.rss`, `/` -> `OUT/index.html`), with the bytes
of `build_feed` / `build_page`: the very code the HTTP routes call, at one `now`
for the whole export, so a file is byte-for-byte what the server would send.

Design notes:

- Incremental. The manifest records, per document, its inputs (feeds/inputs.py:
  the articles it holds as their files' digests, the taxonomy entries it shows,
  the settings and code that shape it) and the size, mtime and inode of each of
  its files. A document whose inputs are unchanged, and whose files are as the
  last export left them, is not rendered at all; `force` renders every one.
  The manifest also records a digest of the folder's scan, the settings and the
  code, and when time next changes a document: `current_export` tells from
  these alone, loading nothing, that the export is already what it would be.
  A rendered file whose bytes did not change is not touched (it keeps its
  mtime), so a sync to a bucket uploads only what changed.
- Ownership. `OUT/.feeds-manifest.json` lists every file the export wrote. Only
  files listed there are ever deleted (a feed whose topic or provider is gone);
  anything else in the folder is left alone, and a manifest entry that would
  lead out of the folder is ignored.
- All or nothing. Every changed file is first written in full to a temporary
  file in its own folder; only when all of them are on disk (one syncfs, or an
  fsync each) are they renamed into place (`os.replace`, atomic on POSIX), so
  a reader never sees half a feed, and a failure while writing (disk full, no
  permission) leaves the previous export as it was. Should a rename itself fail, the files
  already renamed get their previous bytes back. Before the renames, the
  manifest is extended to every file that may exist afterwards, so even a
  killed export never leaves a file that a later one would not own.
- One export at a time per folder: an exclusive `flock` on the folder itself.
- Every core. Rendering a document, comparing it with the file there and
  writing its temporary file happen together, in forked worker processes when
  this process may fork (feeds/workers.py); only the renames are left to one
  process.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from feeds.documents import INDEX_PATH, build_feed, build_page, published_paths
from feeds.errors import FeedsError
from feeds.feed import Format, Kind, Page, Selection
from feeds.inputs import DocumentInputs, Sources, code_version, settings_key
from feeds.settings import Settings
from feeds.snapshot import Snapshot
from feeds.workers import fork_context, worker_count

log = logging.getLogger("feeds.export")

MANIFEST_NAME = ".feeds-manifest.json"
MANIFEST_VERSION = 2  # 2: with each document's inputs; a version 1 manifest still owns its files
INDEX_FILE = "index.html"
TEMP_SUFFIX = ".feeds-tmp"  # temporary files: `.NAME.RANDOM.feeds-tmp`, beside NAME

_T = TypeVar("_T")

Progress = Callable[[int, int], None]
"""Called as documents are rendered: (done, total)."""


class ExportError(FeedsError):
    """The export could not be completed; the previous export is left in place."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason

    def __reduce__(self) -> tuple[type[ExportError], tuple[str, str]]:
        return ExportError, (self.path, self.reason)  # raised in a worker, re-raised here


@dataclass(frozen=True)
class ExportResult:
    out: Path
    files: tuple[str, ...]  # every file of the export, relative to `out`, sorted
    written: tuple[str, ...]  # the files whose bytes changed (or are new)
    removed: tuple[str, ...]  # files of the previous export that no longer exist
    skipped: tuple[str, ...]  # documents that cannot be a file (a slug with '/'), and why
    seconds: float
    rendered: tuple[str, ...] = ()  # the documents rendered (by file); the others were current
    documents: int = 0  # documents in the export

    @property
    def unchanged(self) -> int:
        return len(self.files) - len(self.written)

    def summary(self, seconds: float | None = None) -> str:
        """One line: what changed, where, and how long it took (`seconds`, else the
        time of the export alone)."""
        took = self.seconds if seconds is None else seconds
        return (f"wrote {len(self.written)} of {len(self.files)} files "
                f"({self.unchanged} unchanged, {len(self.removed)} removed; "
                f"{len(self.rendered)} of {self.documents} documents rendered) "
                f"to {self.out} in {took:.2f} s")  # fmt: skip


PAGES = "pages"  # the index page and OPML, as a kind of document to export


@dataclass(frozen=True)
class Choice:
    """Which documents an export writes: by kind (all, topics, providers, and
    `pages`: index.html and opml.xml), by format (a feed's three formats, its
    preview page `html` and its own `opml`), and whether archive pages."""

    kinds: frozenset[str] = frozenset({Kind.ALL, Kind.TOPIC, Kind.PROVIDER, PAGES})
    formats: frozenset[Format | Page] = frozenset((*Format, *Page))
    archives: bool = True

    def includes(self, selection: Selection | None, fmt: Format | Page | None) -> bool:
        if selection is None or fmt is None:
            return PAGES in self.kinds
        return selection.kind in self.kinds and fmt in self.formats


def file_for(url_path: str, selection: Selection | None = None) -> str | None:
    """The file (relative to the export folder) that serves `url_path`, or None
    when the path cannot be one file inside the folder.

    `selection` is the feed's: a slug holding '/' would make a path of another
    shape, which is no route the server answers either.
    """
    if url_path == INDEX_PATH:
        return INDEX_FILE
    relpath = url_path.removeprefix("/")
    parts = relpath.split("/")
    if not relpath or "\0" in relpath or "?" in relpath or any(p in ("", ".", "..") for p in parts):
        return None
    if selection is not None and "/" in selection.slug:
        return None
    if relpath == MANIFEST_NAME or parts[-1].endswith(TEMP_SUFFIX):
        return None
    return relpath


def export(
    snapshot: Snapshot,
    settings: Settings,
    out: str | os.PathLike[str],
    now: datetime,
    *,
    gzip: bool = False,
    brotli: bool = False,
    progress: Progress | None = None,
    sources: Sources | None = None,
    force: bool = False,
    choice: Choice = Choice(),
    scan_key: str | None = None,
) -> ExportResult:
    """Write every published document of `snapshot` (as of `now`) under `out`,
    or those `choice` selects.

    With `gzip` / `brotli`, also `FILE.gz` / `FILE.br` beside each file: the
    document's own compressed bytes, as the server sends them. With `sources`
    (what the snapshot was parsed from: ContentLoader.sources()), a document
    whose inputs are those the previous export recorded, and whose files are
    as it left them, is not rendered again, unless `force`. Raises
    ExportError, naming the file and the reason, when the export cannot be
    completed; the previous export is then intact. `scan_key`
    (ContentLoader.scan_key()) is recorded, for `current_export`.
    """
    started = time.perf_counter()
    root = Path(out)
    forms = ("",) + ((".gz",) if gzip else ()) + ((".br",) if brotli else ())
    jobs: list[_Job] = []
    skipped: list[str] = []
    paths = published_paths(snapshot, settings if choice.archives else None, now)
    for url_path, selection, fmt in paths:
        if not choice.includes(selection, fmt):
            continue
        relpath = file_for(url_path, selection)
        if relpath is None:
            skipped.append(f"{url_path!r}: not a file name inside the export folder")
        else:
            jobs.append((relpath, url_path, selection, fmt))
    work = _Work(snapshot, settings, now, root, forms)
    inputs = DocumentInputs(snapshot, settings, now, sources) if sources is not None else None
    with _locked(root):
        writer = _Writer(root, [job[0] + form for job in jobs for form in forms])
        if scan_key is not None and not skipped:
            until = snapshot.next_change(now, settings.retraction_days)
            writer.source = {"key": _export_key(scan_key, settings, choice, forms),
                             "until": until.isoformat() if until else None}  # fmt: skip
        recorded = {} if force else writer.recorded_documents()
        to_render: list[_Job] = []
        for job in jobs:
            relpath = job[0]
            known = inputs.of(*job[1:]) if inputs is not None else None
            document = _Document(known, {relpath + form: None for form in forms})
            previous = recorded.get(relpath)
            if known is not None and previous is not None and previous.current(root, document):
                writer.documents[relpath] = previous
            else:
                writer.documents[relpath] = document
                to_render.append(job)
        written, removed = writer.run(_stage_all(to_render, work, progress))
    return ExportResult(root, tuple(sorted(writer.files)), tuple(written), tuple(removed),
                        tuple(skipped), time.perf_counter() - started,
                        tuple(job[0] for job in to_render), len(jobs))  # fmt: skip


def current_export(
    out: str | os.PathLike[str],
    scan_key: str | None,
    settings: Settings,
    now: datetime,
    *,
    gzip: bool = False,
    brotli: bool = False,
    choice: Choice = Choice(),
) -> ExportResult | None:
    """The export in `out`, when it is already what `export` would write: the
    folder scans as it did then (`scan_key`: ContentLoader.scan_key(fresh=True)),
    with the same code, settings and choice, `now` is before the next moment
    time changes a document (a scheduled article, a retraction), and every file
    is as that export left it. Else None. Nothing is loaded, parsed or rendered."""
    started = time.perf_counter()
    root = Path(out)
    if scan_key is None:
        return None
    forms = ("",) + ((".gz",) if gzip else ()) + ((".br",) if brotli else ())
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        manifest = json.loads((root / MANIFEST_NAME).read_bytes())
        source, owned = manifest.get("source") or {}, manifest["files"]
        if source.get("key") != _export_key(scan_key, settings, choice, forms):
            return None
        until = source.get("until")
        if until is not None and now >= datetime.fromisoformat(until):
            return None
        documents = [_Document.from_json(entry) for entry in manifest["documents"].values()]
        files = {relpath for document in documents if document for relpath in document.files}
        if None in documents or files != set(owned):
            return None  # a record dropped, or a stale file left to remove
        for document in documents:
            assert document is not None
            if not document.current(root, document):
                return None
        return ExportResult(root, tuple(sorted(files)), (), (), (), time.perf_counter() - started,
                            (), len(documents))  # fmt: skip
    return None


def _export_key(scan_key: str, settings: Settings, choice: Choice, forms: tuple[str, ...]) -> str:
    """What an export is made of, as a whole: the folder as scanned, the code,
    the settings that shape bytes, the documents chosen and their forms."""
    seen = (scan_key, code_version(), settings_key(settings), sorted(map(str, choice.kinds)),
            sorted(map(str, choice.formats)), choice.archives, forms)  # fmt: skip
    return hashlib.blake2b(repr(seen).encode(), digest_size=16).hexdigest()


FileStat = tuple[int, int, int]  # size, mtime in ns, inode: as the export left the file


@dataclass
class _Document:
    """A document as the manifest records it: its inputs (None: not known, so
    always rendered) and the stat of each of its files (None: not known yet)."""

    inputs: str | None
    files: dict[str, FileStat | None]

    def current(self, root: Path, wanted: _Document) -> bool:
        """Whether this record, of the previous export, says the document `wanted`
        is already in place: the same inputs, the same files, each as it was left."""
        if self.inputs != wanted.inputs or self.files.keys() != wanted.files.keys():
            return False
        for relpath, recorded in self.files.items():
            try:
                info = os.lstat(root / relpath)
            except OSError:
                return False
            if recorded != (info.st_size, info.st_mtime_ns, info.st_ino):
                return False
        return True

    def to_json(self) -> dict[str, object]:
        return {"inputs": self.inputs, "files": self.files}

    @classmethod
    def from_json(cls, entry: object) -> _Document | None:
        """The record, or None when it is not one (a manifest of another version)."""
        if not isinstance(entry, dict):
            return None
        inputs, files = entry.get("inputs"), entry.get("files")
        if not isinstance(inputs, str | None) or not isinstance(files, dict):
            return None
        stats: dict[str, FileStat | None] = {}
        for relpath, stat_ in files.items():
            if not (isinstance(stat_, list) and len(stat_) == 3
                    and all(type(n) is int for n in stat_)):  # fmt: skip
                return None
            stats[relpath] = (stat_[0], stat_[1], stat_[2])
        return cls(inputs, stats)


# ---- rendering and staging, on every core ----
#
# Each document is rendered, compared with the file already there and, when it
# differs, written to a temporary file beside it, all in one place: a worker
# process when they can be forked (the documents never travel between
# processes), else here. Only the renames into place, all or nothing, are left
# to _Writer.

# A document: its file, URL path, selection and format or page (None: the index or OPML).
_Job = tuple[str, str, Selection | None, Format | Page | None]
STAGE_BATCH = 24  # documents per task: 8 pages of a feed in 3 formats share its items' HTML


@dataclass(frozen=True)
class _Work:
    """What every batch needs: what to render, and where."""

    snapshot: Snapshot
    settings: Settings
    now: datetime
    root: Path
    forms: tuple[str, ...]  # "" for the document, ".gz" and ".br" for compressed copies


_inherited: _Work | None = None  # what forked workers stage from, shared without pickling


def _stage_all(jobs: list[_Job], work: _Work, progress: Progress | None) -> Iterator[list[_Change]]:
    """The changes of each batch of documents, staged, in order."""
    batches = [jobs[start : start + STAGE_BATCH] for start in range(0, len(jobs), STAGE_BATCH)]
    done = 0
    for batch, changes in zip(batches, _stage_batches(batches, work), strict=True):
        yield changes
        done += len(batch)
        if progress is not None:
            progress(done, len(jobs))


def _stage_batches(batches: list[list[_Job]], work: _Work) -> Iterator[list[_Change]]:
    """Each batch staged: in forked worker processes when there are cores and
    enough batches for them, else here. Whatever stops the caller, no batch's
    temporary files are left behind: those not handed over are discarded here."""
    global _inherited
    context = fork_context()
    workers = worker_count()
    if context is None or workers < 2 or len(batches) < 2 * workers:
        yield from (_stage_batch(batch, work) for batch in batches)
        return
    futures: list[Future[list[_Change]]] = []
    pool = ProcessPoolExecutor(workers, mp_context=context)
    _inherited = work
    try:
        for batch in batches:
            futures.append(pool.submit(_stage_inherited, batch))
    except OSError as error:  # no process to be had (a process limit, no /dev/shm)
        log.warning("rendering in one process: %s", error)
        _stop_workers(pool, futures)
        yield from (_stage_batch(batch, work) for batch in batches)
        return
    finally:
        _inherited = None  # the workers are forked at the first submit
    handed = 0
    try:
        for future in futures:
            try:
                changes = future.result()
            except BrokenProcessPool:
                raise ExportError(work.root, "a worker process died (out of memory?)") from None
            handed += 1
            yield changes
    finally:
        _stop_workers(pool, futures[handed:])


def _stop_workers(pool: ProcessPoolExecutor, pending: list[Future[list[_Change]]]) -> None:
    """Stop `pool`; the files staged by the batches in `pending` that ran anyway
    are discarded."""
    for future in pending:
        future.cancel()
    for future in pending:
        if not future.cancelled() and future.exception() is None:
            _discard_staged(future.result())
    pool.shutdown()


def _stage_inherited(batch: list[_Job]) -> list[_Change]:
    assert _inherited is not None, "only called in a worker forked by _stage_batches"
    return _stage_batch(batch, _inherited)


def _stage_batch(batch: list[_Job], work: _Work) -> list[_Change]:
    """Render each document; stage each of its forms that differs from the file."""
    snapshot, settings, now = work.snapshot, work.settings, work.now
    codings = [{".gz": "gzip", ".br": "br"}[form] for form in work.forms if form]
    changes: list[_Change] = []
    try:
        for relpath, url_path, selection, fmt in batch:
            if selection is None or fmt is None:
                document = build_page(snapshot, url_path, settings, now, codings)
            else:
                document = build_feed(snapshot, selection, fmt, settings, now, codings)
            for form in work.forms:
                data = {"": document.body, ".gz": document.gzip, ".br": document.br}[form]
                change = _compare(work.root, relpath + form, data)
                if change is not None:
                    changes.append(change)
                    # Durable later, all at once (_make_durable), before any rename.
                    change.temp = _write_temp(work.root / change.relpath, data, sync=False)
    except BaseException:
        _discard_staged(changes)
        raise
    return changes


def _discard_staged(changes: list[_Change]) -> None:
    for change in changes:
        if change.temp is not None:
            _discard(change.temp)


def _compare(root: Path, relpath: str, data: bytes) -> _Change | None:
    """None when the file already holds `data`, else the change to make."""
    path = root / relpath
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return _Change(relpath, None)
    except NotADirectoryError:
        raise ExportError(path, "a parent of this path is a file, not a folder") from None
    except OSError as error:
        raise ExportError(path, f"cannot read: {_why(error)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ExportError(path, "is a folder; the export needs a file there")
    if stat.S_ISLNK(info.st_mode):
        return _Change(relpath, None, link=os.readlink(path))  # replaced by a file
    if not stat.S_ISREG(info.st_mode):
        raise ExportError(path, "is not a regular file; the export needs a file there")
    try:
        previous = path.read_bytes()  # also what a failed export puts back
    except OSError as error:
        raise ExportError(path, f"cannot read: {_why(error)}") from None
    return None if previous == data else _Change(relpath, previous)


class _locked:
    """An exclusive lock on the export folder (created if missing) while writing."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fd = -1

    def __enter__(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as error:
            raise ExportError(self.root, f"cannot create the folder: {_why(error)}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(self.fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise ExportError(self.root, "another export is writing to this folder") from None
            raise ExportError(self.root, f"cannot lock the folder: {_why(error)}") from None

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # releases the lock


@dataclass
class _Change:
    relpath: str
    previous: bytes | None  # None: the file did not exist (or was a symlink)
    link: str | None = None  # the symlink that was there, put back on failure
    temp: Path | None = None
    replaced: bool = False


class _Writer:
    """One export's changes to the folder, applied all or nothing."""

    def __init__(self, root: Path, files: list[str]) -> None:
        self.root = root
        self.files = set(files)  # every file of this export, relative to root
        self.manifest_path = root / MANIFEST_NAME
        self.created_dirs: list[Path] = []
        self.changes: list[_Change] = []
        self.old_manifest: bytes | None = None  # as the previous export left it
        self.manifest: bytes | None = None  # as it is now
        self.owned: set[str] | None = None  # the files the previous export wrote
        self.recorded: dict[str, _Document] = {}  # its documents, by file
        self.documents: dict[str, _Document] = {}  # this export's documents, by file
        self.source: dict[str, object] | None = None  # what it was made of, as a whole

    def run(self, staged: Iterable[list[_Change]]) -> tuple[list[str], list[str]]:
        """Make the folders the files need, take the changes as they are staged,
        then rename them all into place and remove the stale files. Returns the
        files written and the files removed."""
        owned = self._read_manifest()
        recorded = {relpath: doc for relpath, doc in self.recorded.items() if relpath in owned}
        try:
            for folder in sorted({(self.root / relpath).parent for relpath in self.files}):
                self._make_folders(folder)
            for changes in staged:
                self.changes.extend(changes)
            self.changes.sort(key=lambda change: change.relpath)
            _make_durable([change.temp for change in self.changes if change.temp])
            if not self.files <= owned:
                # Own every file that may exist from here on, before it exists.
                # Records checked by stat; no source: the export is not whole yet.
                self._write_manifest(owned | self.files, recorded, None)
            for change in self.changes:
                target = self.root / change.relpath
                _call(target, "cannot rename into place", os.replace, change.temp, target)
                change.replaced = True
        except BaseException:
            self._roll_back()
            raise
        self._sync_dirs(self.root / change.relpath for change in self.changes)
        removed, kept = self._remove(sorted(owned - self.files))
        self._record_files()
        self._write_manifest(self.files | kept, self.documents, self.source)
        return [change.relpath for change in self.changes], removed

    # ---- what is there ----

    def recorded_documents(self) -> dict[str, _Document]:
        """The documents the previous export recorded, by file."""
        self._read_manifest()
        return self.recorded

    def _read_manifest(self) -> set[str]:
        """The files the previous export wrote: only these may be deleted."""
        if self.owned is not None:
            return self.owned
        try:
            self.old_manifest = self.manifest = self.manifest_path.read_bytes()
        except FileNotFoundError:
            self.owned = set()
            return self.owned
        except OSError as error:
            raise ExportError(self.manifest_path, f"cannot read: {_why(error)}") from None
        try:
            manifest = json.loads(self.old_manifest)
            entries = manifest["files"]
            documents = manifest.get("documents", {})
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ExportError(self.manifest_path, "not a manifest of this export; move it away "
                              "or export to another folder") from None  # fmt: skip
        # Never trust a path to lead out of the folder, whoever wrote the manifest.
        self.owned = {e for e in entries if isinstance(e, str) and file_for("/" + e) == e}
        if isinstance(documents, dict):
            for relpath, entry in documents.items():
                document = _Document.from_json(entry)
                if document is not None and document.files.keys() <= self.owned:
                    self.recorded[relpath] = document
        return self.owned

    def _record_files(self) -> None:
        """The stat of each file of the documents rendered, as this export leaves it."""
        for document in self.documents.values():
            for relpath, recorded in document.files.items():
                if recorded is None:
                    try:
                        info = os.lstat(self.root / relpath)
                    except OSError:
                        document.inputs = None  # not known to be current: rendered next time
                        self.source = None
                        continue
                    document.files[relpath] = (info.st_size, info.st_mtime_ns, info.st_ino)

    # ---- writing ----

    def _make_folders(self, folder: Path) -> None:
        """`folder` and its missing parents inside the export folder; each one made
        is removed again should the export fail."""
        missing: list[Path] = []
        while folder != self.root and not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            _call(path, "cannot create folder", os.mkdir, path)
            self.created_dirs.append(path)

    def _write_manifest(self, owned: Iterable[str], documents: dict[str, _Document],
                        source: dict[str, object] | None) -> None:  # fmt: skip
        records = {relpath: document.to_json() for relpath, document in sorted(documents.items())
                   if None not in document.files.values()}  # fmt: skip
        data = (json.dumps({"generator": "feeds build", "version": MANIFEST_VERSION,
                            "source": source, "files": sorted(owned), "documents": records},
                           indent=1) + "\n").encode()  # fmt: skip
        if data == self.manifest:
            return
        temp = _write_temp(self.manifest_path, data)
        try:
            _call(self.manifest_path, "cannot rename into place",
                  os.replace, temp, self.manifest_path)  # fmt: skip
        except BaseException:
            _discard(temp)
            raise
        self.manifest = data
        _sync_dir(self.root)

    def _roll_back(self) -> None:
        """Put the folder back as the previous export left it, as far as possible."""
        problems: list[str] = []
        for change in self.changes:
            target = self.root / change.relpath
            try:
                if change.temp is not None and not change.replaced:
                    _discard(change.temp)
                elif change.replaced and change.previous is None:
                    target.unlink(missing_ok=True)
                    if change.link is not None:
                        os.symlink(change.link, target)
                elif change.replaced and change.previous is not None:
                    temp = _write_temp(target, change.previous)
                    os.replace(temp, target)
            except (OSError, ExportError) as error:
                problems.append(f"{target}: {error}")
        try:
            if self.manifest == self.old_manifest:
                pass
            elif self.old_manifest is None:
                self.manifest_path.unlink()
            else:
                os.replace(_write_temp(self.manifest_path, self.old_manifest), self.manifest_path)
        except (OSError, ExportError) as error:
            problems.append(f"{self.manifest_path}: {error}")
        for folder in reversed(self.created_dirs):
            with contextlib.suppress(OSError):  # not empty (someone else's file): leave it
                folder.rmdir()
        if problems:
            raise ExportError(self.root, "the export failed and the previous one could not be "
                              "fully restored: " + "; ".join(problems))  # fmt: skip

    def _remove(self, stale: list[str]) -> tuple[list[str], set[str]]:
        """Delete the previous export's files that are no longer published;
        return those deleted and those that could not be (still owned)."""
        removed: list[str] = []
        kept: set[str] = set()
        for relpath in stale:
            path = self.root / relpath
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    continue  # the manifest named a file; a folder is not ours to delete
                path.unlink()
                removed.append(relpath)
            except FileNotFoundError:
                removed.append(relpath)
            except OSError:
                kept.add(relpath)  # tried again next time
        self._sync_dirs(self.root / relpath for relpath in removed)
        parents = {(self.root / relpath).parent for relpath in removed}
        for folder in sorted(parents, key=lambda p: -len(p.parts)):
            while folder != self.root and folder.is_relative_to(self.root):
                try:
                    folder.rmdir()  # only when empty: a folder the export alone filled
                except OSError:
                    break
                folder = folder.parent
        return removed, kept

    def _sync_dirs(self, paths: Iterable[Path]) -> None:
        for folder in {path.parent for path in paths}:
            if folder.is_dir():
                _sync_dir(folder)


def _write_temp(target: Path, data: bytes, sync: bool = True) -> Path:
    """`data` in a new temporary file beside `target`, flushed to disk unless
    `sync` is false."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    # 0o666 less the umask: the same permissions as any file the user creates.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    fd = _call(target, "cannot create file", os.open, temp, flags, 0o666)
    try:
        view = memoryview(data)
        while view:
            count = _call(target, "cannot write", os.write, fd, view)
            view = view[count:]
        if sync:
            _call(target, "cannot write", os.fsync, fd)
    except BaseException:
        os.close(fd)
        _discard(temp)
        raise
    _call(target, "cannot write", os.close, fd)
    return temp


def _make_durable(temps: list[Path]) -> None:
    """Put the staged files on disk before any is renamed into place, so that a
    crash never leaves a renamed file without its bytes: one syncfs(2) per file
    system they are on (where the C library has it), else an fsync per file.
    A syncfs costs a few milliseconds; an fsync per file was a tenth of the export."""
    by_device: dict[int, list[Path]] = {}
    for folder in {temp.parent for temp in temps}:
        device = _call(folder, "cannot write", os.stat, folder).st_dev
        by_device.setdefault(device, []).append(folder)
    for folders in by_device.values():
        if _syncfs(folders[0]):
            continue
        for temp in temps:
            if temp.parent in folders:
                _fsync_file(temp)


def _fsync_file(path: Path) -> None:
    fd = _call(path, "cannot write", os.open, path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _call(path, "cannot write", os.fsync, fd)
    finally:
        os.close(fd)


def _syncfs(folder: Path) -> bool:
    """syncfs(2) on the file system holding `folder`; False when not available."""
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):  # not Linux, or a C library without it
        return False
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return bool(syncfs(fd) == 0)
    finally:
        os.close(fd)


def _sync_dir(folder: Path) -> None:
    """Make the renames in `folder` durable; some file systems cannot, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # e.g. EINVAL: this file system does not sync folders
    finally:
        os.close(fd)


def _discard(temp: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(temp)


def _call(path: Path, action: str, function: Callable[..., _T], *args: object) -> _T:
    try:
        return function(*args)
    except OSError as error:
        raise ExportError(path, f"{action}: {_why(error)}") from None


def _why(error: OSError) -> str:
    return error.strerror or str(error)
