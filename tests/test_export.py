"""`feeds build`: the static export is byte-for-byte what the server sends, rewrites
only what changed, removes only its own stale files, and never leaves a half export."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import gzip
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import brotli
import pytest
from conftest import CORPUS, write_article
from starlette.testclient import TestClient

import feeds.export as export_module
from feeds.app import create_app
from feeds.cli import main
from feeds.documents import published_paths
from feeds.export import MANIFEST_NAME, TEMP_SUFFIX, ExportError, ExportResult, export, file_for
from feeds.loader import ContentLoader
from feeds.settings import Settings
from feeds.snapshot import Snapshot

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "content"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # after every bundled article
BASE_URL = "https://feeds.example.org"
SUMMARY = re.compile(
    r"^wrote (\d+) of (\d+) files \((\d+) unchanged, (\d+) removed; "
    r"(\d+) of (\d+) documents rendered\) to (.+) in \d+\.\d\d s$"
)


def clock() -> datetime:
    return NOW


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A copy of the bundled content folder, free to change."""
    folder = tmp_path / "content"
    shutil.copytree(BUNDLED, folder)
    return folder


def settings_for(folder: Path, **changes: object) -> Settings:
    # Built directly, not from the environment: FEEDS_* variables must not leak in.
    return Settings(content=str(folder), base_url=BASE_URL).with_changes(**changes)


def load(settings: Settings) -> Snapshot:
    return ContentLoader(settings.content, settings.site_url or None, clock=clock).reload()


def run_export(settings: Settings, out: Path, **options: bool) -> ExportResult:
    return export(load(settings), settings, out, NOW, **options)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root`, dot files included, by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def exported(root: Path) -> dict[str, bytes]:
    """The export's files, not its manifest (which records where each file is on
    this disk, so it differs between two folders of the same export)."""
    return {path: data for path, data in tree(root).items() if path != MANIFEST_NAME}


def mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns
            for p in root.rglob("*") if p.is_file()}  # fmt: skip


def age(root: Path) -> None:
    """Set every file's mtime an hour back, so a rewrite cannot go unnoticed."""
    for path in root.rglob("*"):
        if path.is_file():
            info = path.stat()
            os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns - 3600 * 10**9))


def served(
    settings: Settings, clock: Callable[[], datetime] = clock
) -> dict[str, dict[str, bytes]]:
    """Every published document as the running app sends it: {file: {encoding: raw bytes}}."""
    app = create_app(settings, clock=clock, watch=False)
    documents: dict[str, dict[str, bytes]] = {}
    with TestClient(app) as client:
        snapshot = app.state.service.loader.snapshot
        for path, selection, _ in published_paths(snapshot, settings, clock()):
            relpath = file_for(path, selection)
            assert relpath is not None, path
            documents[relpath] = {}
            for encoding in ("identity", "gzip", "br"):
                with client.stream("GET", path, headers={"accept-encoding": encoding}) as response:
                    assert response.status_code == 200, (path, response.status_code)
                    assert response.headers.get("content-encoding", "identity") == encoding
                    documents[relpath][encoding] = b"".join(response.iter_raw())
    return documents


# ---- byte for byte what the server sends ----


def test_every_document_is_the_servers_bytes(content: Path, tmp_path: Path) -> None:
    settings = settings_for(content, items=5)  # 18 articles: archive pages too
    out = tmp_path / "out"
    result = run_export(settings, out, gzip=True, brotli=True)
    expected = served(settings)

    files = tree(out)
    suffixed = {f"{relpath}{suffix}" for relpath in expected for suffix in ("", ".gz", ".br")}
    assert set(files) == suffixed | {MANIFEST_NAME}  # nothing missing, nothing extra
    assert set(result.files) == suffixed and set(result.written) == suffixed
    assert {"index.html", "opml.xml", "feeds/all.rss", "feeds/topics/cloud.atom",
            "feeds/providers/bytecast.example.json", "feeds/all/archive/1.rss",
            "feeds/all/archive/3.json", "feeds/all.html", "feeds/topics/cloud.html",
            "feeds/providers/bytecast.example.opml", "feeds/all/archive/2.html",
            } <= expected.keys()  # fmt: skip
    assert [f for f in expected if f.startswith("feeds/topics/") and "/archive/" in f]
    for relpath, bodies in expected.items():
        assert files[relpath] == bodies["identity"], relpath
        assert files[relpath + ".gz"] == bodies["gzip"], relpath
        assert gzip.decompress(files[relpath + ".gz"]) == files[relpath], relpath
        assert files[relpath + ".br"] == bodies["br"], relpath
        assert brotli.decompress(files[relpath + ".br"]) == files[relpath], relpath
    assert b"https://feeds.example.org/feeds/all.rss" in files["feeds/all.rss"]


@pytest.mark.skipif(not (CORPUS / "powerapps").is_dir(), reason="../shared/corpus not present")
def test_real_corpus_is_the_servers_bytes(tmp_path: Path) -> None:
    """`feeds build` as a user runs it: in its own process, which parses and renders
    on every core (worker processes) when the machine has more than one."""
    out = tmp_path / "out"
    done = build("--content", str(CORPUS / "powerapps"), "--out", str(out),
                 "--base-url", BASE_URL, "--gzip")  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = served(settings_for(CORPUS / "powerapps"), clock=lambda: datetime.now(UTC))
    files = tree(out)
    assert set(files) == {f"{relpath}{suffix}" for relpath in expected
                          for suffix in ("", ".gz")} | {MANIFEST_NAME}  # fmt: skip
    assert len(expected) > 200
    for relpath, bodies in expected.items():
        assert files[relpath] == bodies["identity"], relpath
        assert files[relpath + ".gz"] == bodies["gzip"], relpath


def test_file_for_maps_routes_to_files() -> None:
    assert file_for("/") == "index.html"
    assert file_for("/opml.xml") == "opml.xml"
    assert file_for("/feeds/topics/x.atom") == "feeds/topics/x.atom"
    for bad in ("/feeds/providers/../../x.rss", "/feeds/./a.rss", "//a", "/a\0b", "/a?b=1",
                "/" + MANIFEST_NAME, f"/feeds/.a.rss.1234{TEMP_SUFFIX}"):  # fmt: skip
        assert file_for(bad) is None, bad


def test_a_slug_that_is_no_file_name_is_skipped(content: Path, tmp_path: Path) -> None:
    """A provider slug such as ../../x must not lead the export out of its folder, nor
    one such as a/b to a file no route serves. (The taxonomy refuses such domains
    today; the export does not rely on it.)"""
    settings = settings_for(content)
    snapshot = load(settings)
    some = next(iter(snapshot.providers.values()))
    providers = dict(snapshot.providers)
    for slug in ("../../../escaped", "sub/nested"):
        providers[slug] = dataclasses.replace(some, slug=slug, domain=slug)
    snapshot = dataclasses.replace(snapshot, providers=MappingProxyType(providers))
    out = tmp_path / "deep" / "out"

    result = export(snapshot, settings, out, NOW)

    assert len(result.skipped) == 2 * 5, result.skipped  # 3 formats, preview, OPML
    assert all("escaped" in reason or "nested" in reason for reason in result.skipped)
    assert not list(tmp_path.rglob("escaped*")) and not list(tmp_path.rglob("nested*"))
    assert "feeds/all.rss" in result.files and len(result.files) > 30


# ---- incremental ----


def test_second_run_rewrites_nothing(content: Path, tmp_path: Path) -> None:
    settings = settings_for(content)
    out = tmp_path / "out"
    first = run_export(settings, out, gzip=True)
    age(out)
    before_bytes, before_times = tree(out), mtimes(out)

    second = run_export(settings, out, gzip=True)

    assert second.written == () and second.removed == ()
    assert second.unchanged == len(first.files) > 50
    # The manifest records each file's stat, which age() changed; no file of the
    # export is written again.
    before_bytes.pop(MANIFEST_NAME), before_times.pop(MANIFEST_NAME)
    assert exported(out) == before_bytes
    assert {path: t for path, t in mtimes(out).items() if path != MANIFEST_NAME} == before_times
    assert second.summary().startswith(f"wrote 0 of {len(first.files)} files ")


def test_changed_article_rewrites_only_the_affected_files(content: Path, tmp_path: Path) -> None:
    settings = settings_for(content)
    out = tmp_path / "out"
    run_export(settings, out, gzip=True)
    age(out)
    before_bytes, before_times = tree(out), mtimes(out)

    article = content / "_news/2026-09-15-spot-instance-pricing-goes-flat.md"
    text = article.read_text(encoding="utf-8")
    article.write_text(text.replace("goes hourly-flat", "goes flat, hourly,"), encoding="utf-8")
    # What changed, worked out apart: a fresh export of the changed folder, compared.
    fresh = tmp_path / "fresh"
    run_export(settings, fresh, gzip=True)
    after = tree(fresh)
    changed = {f for f in after if f != MANIFEST_NAME and after[f] != before_bytes.get(f)}
    assert {"feeds/all.rss", "feeds/all.rss.gz", "feeds/providers/cloudnotes.example.atom",
            "feeds/topics/cloud.json"} <= changed  # fmt: skip
    assert "feeds/providers/dbweekly.example.rss" not in changed

    result = run_export(settings, out, gzip=True)

    assert set(result.written) == changed
    assert result.removed == ()
    assert exported(out) == exported(fresh)
    now_times = mtimes(out)
    assert {f for f in now_times if now_times[f] != before_times[f]} - {MANIFEST_NAME} == changed


def test_changed_options_rewrite_and_remove_compressed_files(content: Path, tmp_path: Path) -> None:
    settings = settings_for(content)
    out = tmp_path / "out"
    run_export(settings, out, gzip=True, brotli=True)
    result = run_export(settings, out)
    assert result.written == ()
    assert len(result.removed) == 2 * len(result.files)
    assert not [f for f in tree(out) if f.endswith((".gz", ".br"))]


# ---- stale files ----


def test_removed_feeds_disappear_and_other_files_stay(content: Path, tmp_path: Path) -> None:
    settings = settings_for(content)
    solo = write_article(content, "_news/2026-10-01-solo.md", {
        "title": "The only article of its provider",
        "publishedDateTime": "2026-10-01T08:00:00Z",
        "webUrl": "https://solo.example/one",
        "published": True,
        "provider": {"name": "Solo", "domain": "solo.example"},
        "topics": ["Lonely Topic"],
    })  # fmt: skip
    out = tmp_path / "out"
    first = run_export(settings, out, gzip=True)
    gone = {f"feeds/{kind}/{slug}.{ext}{gz}" for kind, slug in
            (("providers", "solo.example"), ("topics", "lonely-topic"))
            for ext in ("rss", "atom", "json", "html", "opml") for gz in ("", ".gz")}  # fmt: skip
    assert gone <= set(first.files)
    # Files the export did not write: one beside its feeds, one in the root, one
    # outside the folder that a tampered manifest names.
    (out / "feeds/providers/handmade.rss").write_bytes(b"mine")
    (out / "robots.txt").write_bytes(b"User-agent: *\n")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"keep me")
    manifest = out / MANIFEST_NAME
    manifest.write_text(manifest.read_text().replace('"files": [', '"files": [\n "../victim.txt",'))

    solo.unlink()
    result = run_export(settings, out, gzip=True)

    assert set(result.removed) == gone
    assert not [f for f in gone if (out / f).exists()]
    assert (out / "feeds/providers/handmade.rss").read_bytes() == b"mine"
    assert (out / "robots.txt").exists() and victim.read_bytes() == b"keep me"
    assert set(tree(out)) == set(result.files) | {MANIFEST_NAME, "robots.txt",
                                                  "feeds/providers/handmade.rss"}  # fmt: skip
    assert "../victim.txt" not in manifest.read_text()
    assert '"feeds/providers/solo.example.rss"' not in manifest.read_text()


def test_files_of_an_unknown_manifest_are_never_deleted(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_NAME).write_text("not json")
    (out / "feeds").mkdir()
    (out / "feeds/old.rss").write_text("x")
    with pytest.raises(ExportError, match="not a manifest"):
        run_export(settings_for(content), out)
    assert (out / "feeds/old.rss").read_text() == "x"


# ---- all or nothing ----


def _fail_nth(
    real: Callable[..., object], n: int, only: Callable[..., bool]
) -> Callable[..., object]:
    """`real`, except that its n-th call that `only` accepts raises ENOSPC."""
    calls = 0

    def failing(*args: object) -> object:
        nonlocal calls
        if only(*args):
            calls += 1
            if calls == n:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args)

    return failing


def _is_temp_fd(fd: object, *_: object) -> bool:
    return isinstance(fd, int) and os.readlink(f"/proc/self/fd/{fd}").endswith(TEMP_SUFFIX)


def _to_export(source: object, target: object) -> bool:
    return str(source).endswith(TEMP_SUFFIX) and Path(str(target)).name != MANIFEST_NAME


@pytest.mark.parametrize("where", ["write", "replace"])
def test_failure_midway_leaves_the_previous_export(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    out = tmp_path / "out"
    run_export(settings_for(content), out, gzip=True)
    before = tree(out)
    # Every file changes with the base URL, and a new topic brings new files and folders.
    write_article(content, "_news/2026-10-02-new.md", {
        "title": "New", "publishedDateTime": "2026-10-02T08:00:00Z", "published": True,
        "webUrl": "https://new.example/1", "provider": {"name": "New", "domain": "new.example"},
        "topics": ["Brand New"]})  # fmt: skip
    changed = settings_for(content, base_url="https://elsewhere.example")
    if where == "write":  # the 20th write to a temporary file: the disk is full
        monkeypatch.setattr(os, "write", _fail_nth(os.write, 20, _is_temp_fd))
    else:  # the 7th rename into place: 6 files are already renamed when it fails
        monkeypatch.setattr(os, "replace", _fail_nth(os.replace, 7, _to_export))

    with pytest.raises(ExportError) as failure:
        run_export(changed, out, gzip=True)

    monkeypatch.undo()
    assert tree(out) == before  # byte for byte; no temporary file, no new file or folder left
    assert not (out / "feeds/topics/brand-new.rss").exists()
    assert failure.value.path.startswith(str(out) + "/")  # the file, named
    assert failure.value.reason.endswith("No space left on device")
    assert str(failure.value) == f"{failure.value.path}: {failure.value.reason}"
    # And once the disk has room again, the same export goes through.
    result = run_export(changed, out, gzip=True)
    assert tree(out) != before and (out / "feeds/topics/brand-new.rss").exists()
    assert result.removed == ()


def test_failed_first_export_leaves_nothing(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    monkeypatch.setattr(os, "replace", _fail_nth(os.replace, 7, _to_export))
    with pytest.raises(ExportError, match="No space left on device"):
        run_export(settings_for(content), out, gzip=True)
    assert list(out.iterdir()) == []  # no file, no folder, no manifest


@pytest.mark.parametrize("syncfs", [True, False], ids=["syncfs", "fsync each"])
def test_every_file_is_on_disk_before_it_is_renamed_into_place(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: bool
) -> None:
    """A crash after a rename must never leave a file without its bytes: each
    temporary file is synced (one syncfs of the file system, or an fsync of the
    file where syncfs is missing) before any file is renamed into place."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_syncfs = os.fsync, os.replace, export_module._syncfs

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(source: object, target: object) -> None:
        events.append(("replace", str(source)))
        real_replace(source, target)  # type: ignore[arg-type]

    def syncfs_call(folder: Path) -> bool:
        events.append(("syncfs", str(folder)))
        return real_syncfs(folder) if syncfs else False

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(export_module, "_syncfs", syncfs_call)
    result = run_export(settings_for(content), tmp_path / "out", gzip=True)

    renames = [(i, path) for i, (event, path) in enumerate(events) if event == "replace"]
    documents = [(i, path) for i, path in renames
                 if not Path(path).name.startswith("." + MANIFEST_NAME)]  # fmt: skip
    assert len(documents) == len(result.written) > 0
    before_first_rename = events[: documents[0][0]]
    fsynced = {path for event, path in before_first_rename if event == "fsync"}
    if syncfs:
        assert any(event == "syncfs" for event, _ in before_first_rename)
        assert not fsynced & {path for _, path in documents}  # one syncfs, not an fsync each
    else:
        assert {path for _, path in documents} <= fsynced


def workers_in_this_process(monkeypatch: pytest.MonkeyPatch, third_batch: BaseException) -> None:
    """Make the export believe it forked two workers: a stand-in pool runs each
    batch here, as a worker would (staging its files), and fails the third:
    an OSError raised at its start (no process to be had), or any other exception
    as the batch's result (a worker that died)."""

    class Pool:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.started = 0

        def submit(self, function: Callable[..., object], *args: object) -> Future[object]:
            self.started += 1
            future: Future[object] = Future()
            if self.started != 3:
                future.set_result(function(*args))
            elif isinstance(third_batch, OSError):
                raise third_batch
            else:
                future.set_exception(third_batch)
            return future

        def shutdown(self) -> None:
            pass

    monkeypatch.setattr(export_module, "fork_context", lambda: object())
    monkeypatch.setattr(export_module, "worker_count", lambda: 2)
    monkeypatch.setattr(export_module, "ProcessPoolExecutor", Pool)


@pytest.mark.skipif(not (CORPUS / "powerapps").is_dir(), reason="../shared/corpus not present")
def test_no_worker_processes_to_be_had_renders_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When worker processes cannot be started after some already ran (a process
    limit reached midway), the export renders in its own process instead: the
    same files, and nothing left from the batches the workers had staged."""
    settings = settings_for(CORPUS / "powerapps")
    snapshot = load(settings)
    expected = tree_of_export(snapshot, settings, tmp_path / "expected")
    workers_in_this_process(monkeypatch, OSError(errno.EAGAIN, "Resource temporarily unavailable"))
    out = tmp_path / "out"
    export(snapshot, settings, out, NOW)
    assert exported(out) == {k: v for k, v in expected.items() if k != MANIFEST_NAME}


@pytest.mark.skipif(not (CORPUS / "powerapps").is_dir(), reason="../shared/corpus not present")
def test_a_worker_killed_midway_fails_the_export_and_leaves_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker process killed (the out-of-memory killer) while others have staged
    their batches: the export fails with a clear reason, and the folder is the
    previous export byte for byte, without a temporary file."""
    settings = settings_for(CORPUS / "powerapps")
    out = tmp_path / "out"
    before = tree_of_export(load(settings), settings, out)
    changed = settings.with_changes(base_url="https://elsewhere.example")  # every file changes
    workers_in_this_process(monkeypatch, BrokenProcessPool("a child process terminated abruptly"))
    with pytest.raises(ExportError, match="a worker process died"):
        export(load(changed), changed, out, NOW)
    assert tree(out) == before


def tree_of_export(snapshot: Snapshot, settings: Settings, out: Path) -> dict[str, bytes]:
    export(snapshot, settings, out, NOW)
    return tree(out)


def test_files_are_owned_before_they_exist(
    content: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export killed after its renames (before the final manifest) still leaves
    every file it wrote in the manifest, so the next export can remove it."""
    settings = settings_for(content)
    out = tmp_path / "out"
    run_export(settings, out)
    article = write_article(content, "_news/2026-10-02-new.md", {
        "title": "New", "publishedDateTime": "2026-10-02T08:00:00Z", "published": True,
        "webUrl": "https://new.example/1", "topics": ["Brand New"]})  # fmt: skip

    def killed(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("feeds.export._Writer._remove", killed)
    with pytest.raises(KeyboardInterrupt):
        run_export(settings, out)
    monkeypatch.undo()
    assert (out / "feeds/topics/brand-new.rss").exists()
    assert '"feeds/topics/brand-new.rss"' in (out / MANIFEST_NAME).read_text()

    article.unlink()
    result = run_export(settings, out)
    assert "feeds/topics/brand-new.rss" in result.removed
    assert not (out / "feeds/topics/brand-new.rss").exists()


def test_cli_failure_says_which_file_and_why(
    content: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    arguments = ["build", "--content", str(content), "--out", str(out), "--base-url", BASE_URL]
    assert main(arguments) == 0
    before = tree(out)
    capsys.readouterr()
    monkeypatch.setattr(os, "write", _fail_nth(os.write, 3, _is_temp_fd))

    code = main([*arguments[:-1], "https://elsewhere.example"])

    monkeypatch.undo()
    captured = capsys.readouterr()
    assert code == 1
    assert tree(out) == before
    assert re.fullmatch(rf"feeds build: {re.escape(str(out))}/\S+: cannot write: "
                        r"No space left on device\n", captured.err), captured.err  # fmt: skip
    assert captured.out == ""


def test_only_one_export_at_a_time(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(ExportError, match="another export is writing"):
            run_export(settings_for(content), out)
    finally:
        os.close(fd)
    assert run_export(settings_for(content), out).written


# ---- the command ----


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}


def build(
    *arguments: str, stderr: int = subprocess.PIPE, preexec_fn: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m feeds.cli build ARGUMENTS`, its standard output a pipe (not a terminal)."""
    return subprocess.run([sys.executable, "-m", "feeds.cli", "build", *arguments],
                          stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=120, cwd=REPO,
                          env=_environment(), preexec_fn=preexec_fn)  # fmt: skip


def test_cli_writes_what_the_server_sends_and_one_summary_line(tmp_path: Path) -> None:
    content = tmp_path / "content"
    for n, (provider, topic) in enumerate([("a.example", "Alpha"), ("b.example", "Beta"),
                                           ("a.example", "Beta")]):  # fmt: skip
        fields = {
            "title": f"Story {n}", "publishedDateTime": f"2020-01-0{n + 1}T08:00:00Z",
            "webUrl": f"https://{provider}/{n}", "published": True,
            "provider": {"name": provider, "domain": provider}, "topics": [topic]}  # fmt: skip
        write_article(content, f"_news/2020-01-0{n + 1}-story-{n}.md", fields, "Body *text*.")
    out = tmp_path / "out"
    first = build("--content", str(content), "--out", str(out), "--base-url", BASE_URL, "--gzip")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert len(lines) == 1 and (match := SUMMARY.match(lines[0])), first.stdout
    written, total, unchanged, removed, rendered, documents = map(int, match.groups()[:6])
    assert (written, unchanged, removed) == (total, 0, 0) and match.group(7) == str(out)
    assert rendered == documents == total // 2
    assert "\r" not in first.stderr and "%|" not in first.stderr  # no progress bar off a terminal

    # Articles from 2020: the app's own clock gives the same feeds as the command's.
    expected = served(settings_for(content), clock=lambda: datetime.now(UTC))
    files = tree(out)
    # index and OPML; 3 formats, a preview and an OPML of each feed (all, 2 topics, 2 providers)
    assert total == 2 * len(expected) == 2 * (2 + 5 * (1 + 2 + 2))
    for relpath, bodies in expected.items():
        assert files[relpath] == bodies["identity"], relpath
        assert files[relpath + ".gz"] == bodies["gzip"], relpath

    second = build("--content", str(content), "--out", str(out), "--base-url", BASE_URL, "--gzip")
    assert second.returncode == 0, second.stderr
    # Nothing is rendered: the folder scans as it did, every file is as it was left.
    assert re.match(rf"wrote 0 of {total} files \({total} unchanged, 0 removed; "
                    rf"0 of {total // 2} documents rendered\) ", second.stdout)  # fmt: skip


@pytest.mark.parametrize("rows, columns", [(24, 100), (0, 0)])  # 0 x 0: a terminal of no size
def test_cli_progress_bar_on_a_terminal(
    content: Path, tmp_path: Path, rows: int, columns: int
) -> None:
    primary, secondary = os.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    chunks: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal has no writer left
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    try:
        result = build("--content", str(content), "--out", str(tmp_path / "out"), stderr=secondary)
    finally:
        os.close(secondary)
        reader.join(timeout=10)
        os.close(primary)
    shown = b"".join(chunks)
    assert result.returncode == 0
    assert SUMMARY.match(result.stdout.strip()) and result.stdout.count("\n") == 1
    assert b"rendering" in shown and b"%|" in shown and b"\r" in shown, shown
    assert b"no --base-url given" in shown


@pytest.mark.parametrize(
    "corpus",
    [
        "small",
        pytest.param("powerapps", marks=pytest.mark.skipif(
            not (CORPUS / "powerapps").is_dir(), reason="../shared/corpus not present")),
    ],
)  # fmt: skip
def test_cli_real_write_failure(content: Path, tmp_path: Path, corpus: str) -> None:
    """A write the system refuses (files over a size limit, as a full disk would):
    a message naming the file and the reason, no traceback, the last export intact.
    The real corpus is staged by worker processes: none leaves a file behind."""
    if corpus == "powerapps":
        content = CORPUS / "powerapps"
    out = tmp_path / "out"
    first = build("--content", str(content), "--out", str(out), "--base-url", BASE_URL)
    assert first.returncode == 0, first.stderr
    before = tree(out)
    limit = max(len(data) for data in before.values()) // 2

    def small_files_only() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    failed = build("--content", str(content), "--out", str(out), "--base-url", "https://b.example",
                   preexec_fn=small_files_only)  # fmt: skip

    assert failed.returncode == 1
    assert re.fullmatch(rf"feeds build: {re.escape(str(out))}/\S+: cannot write: File too large\n",
                        failed.stderr), failed.stderr  # fmt: skip
    assert "Traceback" not in failed.stderr and failed.stdout == ""
    assert tree(out) == before


def test_cli_folder_in_the_way(content: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "feeds/all.rss").mkdir(parents=True)
    failed = build("--content", str(content), "--out", str(out), "--base-url", BASE_URL)
    assert failed.returncode == 1
    assert failed.stderr == (
        f"feeds build: {out}/feeds/all.rss: is a folder; the export needs a file there\n"
    )
    assert not (out / MANIFEST_NAME).exists() and not (out / "index.html").exists()


def test_cli_missing_content_folder(tmp_path: Path) -> None:
    failed = build("--content", str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert failed.returncode == 2
    assert "nope" in failed.stderr and "Traceback" not in failed.stderr
    assert not (tmp_path / "out").exists()
