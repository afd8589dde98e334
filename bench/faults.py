"""Faults injected into a running `feeds serve`: what it serves, what /readyz says,
and whether it recovers by itself.

    .venv/bin/python bench/faults.py                 # every case, a table at the end
    .venv/bin/python bench/faults.py --case half-written --case export-disk-full
    .venv/bin/python bench/faults.py --list

Each case starts its own server (reload interval 0.1 s) on a private copy of the
bundled content, injects one fault, and checks:

- the last good feeds keep serving: 200 with the same ETag as before the fault;
- /readyz tells the truth: 200, `last_reload_error` set while the fault lasts;
- the service recovers by itself once the fault is gone (error cleared, same or
  the expected new ETag), without a restart;
- no response ever holds a local path, `secured`, a stack trace or a 500.

A case prints PASS when all of that held; FAIL with what did not. Findings that
are not the case's own subject (e.g. the content path in /readyz) are listed as
leaks. Needs root for the unprivileged-user and tmpfs cases (setpriv, mount).
Loopback only; every server is stopped at the end of its case.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PROJECT = Path(__file__).resolve().parents[1]
BUNDLED = PROJECT / "content"
RELOAD = 0.1  # seconds between reloads in every case
ARTICLE = """---
title: {title}
publishedDateTime: 2024-05-01T12:00:00Z
webUrl: https://faults.example/{slug}
topics: [Databases]
provider: {{name: Fault Wire, domain: faults.example}}
---
A body.
"""


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    log: Path
    work: Path  # folder to scrub from every response
    bodies: list[tuple[str, bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def get(self, path: str, **headers: str) -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=10) as client:
            response = client.get(self.base_url + path, headers=headers)
        self.bodies.append((path, response.content))
        self.statuses.append(response.status_code)
        return response

    def ready(self) -> dict:
        return self.get("/readyz").json()

    def etag(self, path: str = "/feeds/all.json") -> tuple[int, str | None]:
        response = self.get(path)
        return response.status_code, response.headers.get("etag")

    def wait(self, condition: Callable[[], object], what: str, within: float = 10.0) -> float:
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > within:
                raise CaseFailed(f"not within {within}s: {what}")
            time.sleep(0.05)
        return time.monotonic() - started

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def leaks(self) -> list[str]:
        """Responses holding something private (path, stack trace, secured, a 500)."""
        private = [str(self.work), "/tmp/", "Traceback", "secured"]
        found = []
        for path, body in self.bodies:
            text = body.decode("utf-8", "replace")
            for secret in private:
                if secret in text:
                    found.append(f"{path} shows {secret!r}")
        if 500 in self.statuses:
            found.append(f"{self.statuses.count(500)} responses were 500")
        return sorted(set(found))


class CaseFailed(AssertionError):
    pass


def check(condition: object, message: str) -> None:
    if not condition:
        raise CaseFailed(message)


@contextlib.contextmanager
def serve(content: Path, work: Path, user: str | None = None) -> Iterator[Server]:
    port = free_port()
    log = work / f"server-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    command = [sys.executable, "-m", "feeds.cli", "serve", "--content", str(content),
               "--port", str(port), "--reload-interval", str(RELOAD)]  # fmt: skip
    if user:
        command = ["setpriv", "--reuid", user, "--regid", "nogroup", "--clear-groups", *command]
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=handle, cwd=PROJECT, env=env, start_new_session=True
        )
    server = Server(process, f"http://127.0.0.1:{port}", log, work)
    try:
        deadline = time.monotonic() + 60
        while True:
            check(process.poll() is None, f"feeds serve exited:\n{server.log_text()[-2000:]}")
            check(time.monotonic() < deadline, "feeds serve not ready in 60 s")
            try:
                if server.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def copy_content(work: Path, name: str = "content") -> Path:
    return Path(shutil.copytree(BUNDLED, work / name, symlinks=True))


def point(link: Path, target: Path) -> None:
    """Swap a symlink atomically, as git-sync does."""
    temporary = link.with_name(link.name + ".new")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(target)
    os.replace(temporary, link)


def fault_and_recover(
    server: Server, inject: Callable[[], None], repair: Callable[[], None], expect: str
) -> str:
    """The shared shape of the folder faults: serve, break, check, repair, check."""
    status, etag = server.etag()
    check(status == 200 and etag, "no feed before the fault")
    inject()
    took = server.wait(lambda: server.ready().get("last_reload_error"), "a reload error")
    error = server.ready()["last_reload_error"]
    check(expect in error, f"/readyz last_reload_error {error!r} lacks {expect!r}")
    during = [server.etag() for _ in range(5)]
    check(all(pair == (200, etag) for pair in during), f"during the fault: {during}")
    for path in ("/feeds/all.rss", "/feeds/topics/databases.atom", "/", "/opml.xml"):
        check(server.get(path).status_code == 200, f"{path} not 200 during the fault")
    ready = server.ready()
    check(ready["status"] == "ready" and ready["articles"] == 18, f"/readyz {ready}")
    repair()
    back = server.wait(lambda: server.ready().get("last_reload_error") is None, "recovery")
    check(server.etag() == (200, etag), "after recovery the ETag changed")
    return f"error seen in {took:.2f}s: {error!r}; recovered {back:.2f}s after the repair"


# ---- the cases ----


def case_folder_deleted(work: Path) -> str:
    content = copy_content(work)
    with serve(content, work) as server:
        result = fault_and_recover(
            server,
            lambda: shutil.rmtree(content),
            lambda: shutil.copytree(BUNDLED, content),
            "missing or not a folder",
        )
        return result + "; " + ", ".join(server.leaks() or ["no leak"])


def case_folder_replaced_by_file(work: Path) -> str:
    content = copy_content(work)
    aside = work / "aside"

    def inject() -> None:
        content.rename(aside)
        content.write_text("not a folder\n")

    def repair() -> None:
        content.unlink()
        aside.rename(content)

    with serve(content, work) as server:
        result = fault_and_recover(server, inject, repair, "not a folder")
        return result + "; " + ", ".join(server.leaks() or ["no leak"])


def case_dangling_symlink(work: Path) -> str:
    content = copy_content(work)
    live = work / "live"
    point(live, content)
    with serve(live, work) as server:
        result = fault_and_recover(
            server, lambda: point(live, work / "nowhere"), lambda: point(live, content), "missing"
        )
        return result + "; " + ", ".join(server.leaks() or ["no leak"])


def case_folder_unreadable(work: Path) -> str:
    """chmod 000 does not stop root: the server runs as `nobody` for this one."""
    os.chmod(work, 0o755)
    content = copy_content(work)
    for path in [content, *content.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    with serve(content, work, user="nobody") as server:
        result = fault_and_recover(
            server,
            lambda: os.chmod(content, 0o000),
            lambda: os.chmod(content, 0o755),
            "Permission denied",
        )
        return result + "; " + ", ".join(server.leaks() or ["no leak"])


def case_file_unreadable(work: Path) -> str:
    """One article rewritten unreadable (as `nobody`; mode 000 and a new mtime,
    as an editor with a bad umask leaves it): it leaves the feeds with a problem;
    the others stay; it comes back when readable again. (A chmod alone changes
    no stat key the loader looks at, so the cached parse keeps being served.)"""
    os.chmod(work, 0o755)
    content = copy_content(work)
    victim = next(p for p in sorted(content.rglob("*.md")) if "_data" not in p.parts)
    with serve(content, work, user="nobody") as server:
        _, etag = server.etag()
        before = server.ready()
        os.chmod(victim, 0o000)
        os.utime(victim, (time.time() + 5, time.time() + 5))
        server.wait(lambda: server.ready()["rejected_files"] == before["rejected_files"] + 1,
                    "the unreadable file counted as rejected")  # fmt: skip
        ready = server.ready()
        check(ready["last_reload_error"] is None, "one file is not a failed reload")
        check(ready["articles"] in (before["articles"], before["articles"] - 1), str(ready))
        os.chmod(victim, 0o644)
        server.wait(lambda: server.ready()["rejected_files"] == before["rejected_files"],
                    "the file is read again")  # fmt: skip
        server.wait(lambda: server.etag() == (200, etag), "the same feed as before")
        relpath = victim.relative_to(content).as_posix()
        count = server.log_text().count(f"{relpath}: error: cannot read: Permission denied")
        check(count == 1, f"the log reported the unreadable file {count} times")
        return (
            f"{relpath} unreadable: rejected ({ready['articles']} articles served), "
            f"reported once in the log, back with the same ETag when readable; "
            + ", ".join(server.leaks() or ["no leak"])
        )


def case_swap_mid_reload(work: Path) -> str:
    """The folder is swapped between two versions every 37 ms through a symlink
    (git-sync style) while a client reads: every answer is one version or the
    other, never a mix, never an error."""
    a = copy_content(work, "a")
    b = copy_content(work, "b")
    (b / "_news/2024-05-01-extra.md").write_text(ARTICLE.format(title="Extra in B", slug="b"))
    live = work / "live"
    etags = {}
    point(live, a)
    with serve(live, work) as server:
        etags["a"] = server.etag()[1]
        point(live, b)
        server.wait(lambda: server.etag()[1] != etags["a"], "version B")
        etags["b"] = server.etag()[1]
        seen: dict[str | None, int] = {}
        statuses: set[int] = set()
        deadline = time.monotonic() + 5
        flips = 0
        while time.monotonic() < deadline:
            point(live, a if flips % 2 == 0 else b)
            flips += 1
            for _ in range(3):
                status, etag = server.etag()
                statuses.add(status)
                seen[etag] = seen.get(etag, 0) + 1
            time.sleep(0.037)
        point(live, b)
        server.wait(lambda: server.etag()[1] == etags["b"], "settles on B")
        check(statuses == {200}, f"statuses {statuses}")
        check(set(seen) <= set(etags.values()), f"ETags of neither version: {set(seen)}")
        check(server.ready()["last_reload_error"] is None, "a reload error")
        return (
            f"{flips} swaps in 5 s, {sum(seen.values())} reads: "
            f"A {seen.get(etags['a'], 0)}, B {seen.get(etags['b'], 0)}, other 0; "
            + ", ".join(server.leaks() or ["no leak"])
        )


def case_replaced_non_atomically(work: Path) -> str:
    """rm -rf + cp -r of a larger folder under the server's feet (what the README
    says not to do): transient states are served, but never an error, and the
    final state is the new folder's."""
    content = copy_content(work)
    bigger = work / "bigger"
    shutil.copytree(BUNDLED, bigger)
    for n in range(300):
        (bigger / f"_news/2024-05-01-more-{n:03d}.md").write_text(
            ARTICLE.format(title=f"More {n}", slug=f"more-{n}")
        )
    with serve(content, work) as server:
        seen: dict[str | None, int] = {}
        statuses: dict[int, int] = {}
        stop = time.monotonic() + 4

        import threading

        def read() -> None:
            while time.monotonic() < stop:
                status, etag = server.etag()
                statuses[status] = statuses.get(status, 0) + 1
                seen[etag] = seen.get(etag, 0) + 1

        reader = threading.Thread(target=read)
        reader.start()
        for _ in range(3):
            shutil.rmtree(content)
            shutil.copytree(bigger, content)
            time.sleep(0.3)
        reader.join()
        server.wait(lambda: server.ready()["articles"] == 318, "all 318 articles")
        server.wait(lambda: server.ready()["last_reload_error"] is None, "no reload error")
        check(set(statuses) == {200}, f"statuses {statuses}")
        return (
            f"3 replacements while reading: {sum(statuses.values())} reads all 200, "
            f"{len(seen)} distinct ETags (transient partial folders), settled on 318 articles; "
            + ", ".join(server.leaks() or ["no leak"])
        )


def case_half_written(work: Path) -> str:
    content = copy_content(work)
    path = content / "_news/2024-05-02-half.md"
    with serve(content, work) as server:
        _, etag = server.etag()
        rejected = server.ready()["rejected_files"]
        full = ARTICLE.format(title="Half then whole", slug="half")
        with open(path, "w") as handle:  # not atomic: a writer caught half-way
            handle.write(full[: len(full) // 2])
            handle.flush()
            os.fsync(handle.fileno())
            server.wait(lambda: server.ready()["rejected_files"] == rejected + 1, "half rejected")
            time.sleep(10 * RELOAD)  # many reloads of the same half file
            check(server.etag() == (200, etag), "the half file changed the feed")
            handle.write(full[len(full) // 2 :])
        server.wait(lambda: "Half then whole" in server.get("/feeds/all.json").text, "whole")
        check(server.ready()["rejected_files"] == rejected, "still rejected")
        reports = server.log_text().count("_news/2024-05-02-half.md:1: error: front matter")
        check(reports == 1, f"the half file was reported {reports} times")
        return (
            "half file: rejected, feed unchanged (same ETag), reported once in 10+ reloads; "
            "completed: served; " + ", ".join(server.leaks() or ["no leak"])
        )


def case_bad_file_name(work: Path) -> str:
    """A file whose name is not UTF-8, added while the server runs (it once made
    every reload raise): reported as that file's problem, the feeds unchanged, no
    reload error, and nothing in any response."""
    content = copy_content(work)
    bad = os.fsencode(content) + b"/_news/2024-05-03-caf\xe9.md"
    with serve(content, work) as server:
        _, etag = server.etag()
        with open(bad, "wb") as handle:
            handle.write(b"---\ntitle: Latin-1 name\n---\n")
        took = server.wait(lambda: "not valid UTF-8" in server.log_text(), "the problem logged")
        time.sleep(1.0)  # several reloads
        check(server.ready().get("last_reload_error") is None, "a reload error")
        check(server.etag() == (200, etag), "the feed changed")
        reported = server.log_text().count("not valid UTF-8")
        check(reported == 1, f"reported {reported} times")
        os.unlink(bad)
        return (
            f"reported once after {took:.2f}s as the file's problem; no reload error; "
            f"feeds kept their ETag; " + ", ".join(server.leaks() or ["no leak"])
        )


def case_reload_raises_in_process(work: Path) -> str:
    """build_snapshot made to raise (monkeypatched) inside an app under TestClient."""
    from datetime import UTC, datetime

    from starlette.testclient import TestClient

    import feeds.loader
    from feeds.app import create_app
    from feeds.settings import Settings

    content = copy_content(work)
    original = feeds.loader.build_snapshot

    def explode(*args: object, **kwargs: object) -> object:
        raise RuntimeError("injected: build_snapshot exploded")

    settings = Settings(content=str(content), reload_interval=RELOAD)
    app = create_app(settings, clock=lambda: datetime.now(UTC), watch=True)
    with TestClient(app) as client:
        etag = client.get("/feeds/all.json").headers["etag"]
        feeds.loader.build_snapshot = explode  # type: ignore[assignment]
        try:
            (content / "_news/2024-05-04-new.md").write_text(ARTICLE.format(title="New", slug="n"))
            deadline = time.monotonic() + 10
            while not client.get("/readyz").json()["last_reload_error"]:
                check(time.monotonic() < deadline, "no reload error")
                time.sleep(0.05)
            error = client.get("/readyz").json()["last_reload_error"]
            response = client.get("/feeds/all.json")
            check((response.status_code, response.headers["etag"]) == (200, etag), "changed")
            check(client.get("/readyz").status_code == 200, "readyz not 200")
        finally:
            feeds.loader.build_snapshot = original
        deadline = time.monotonic() + 10
        while "New" not in [i["title"] for i in client.get("/feeds/all.json").json()["items"]]:
            check(time.monotonic() < deadline, "never recovered")
            time.sleep(0.05)
        check(client.get("/readyz").json()["last_reload_error"] is None, "error not cleared")
    return f"readyz said {error!r} while the last good feed kept its ETag; recovered unpatched"


def _build(content: Path, out: Path, limit: int | None = None) -> subprocess.CompletedProcess:
    def limited() -> None:
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [sys.executable, "-m", "feeds.cli", "build", "--content", str(content),
               "--out", str(out), "--base-url", "https://feeds.example.org", "--gzip"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    return subprocess.run(command, capture_output=True, text=True, cwd=PROJECT, env=env,
                          preexec_fn=limited, timeout=300)  # fmt: skip


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _export_fault(
    work: Path,
    out: Path,
    limit: int | None,
    what: str,
    fill: Callable[[], None] = lambda: None,
    make_room: Callable[[], None] = lambda: None,
) -> str:
    content = copy_content(work)
    first = _build(content, out)
    check(first.returncode == 0, f"first export failed: {first.stderr}")
    before = _digest(out)
    for n in range(40):  # a change that rewrites most files, and makes them bigger
        (content / f"_news/2024-05-05-fill-{n}.md").write_text(
            ARTICLE.format(title=f"Fill {n}", slug=f"fill-{n}").replace(
                "topics:", "excerpt: " + "word " * 780 + "\ntopics:"
            )
        )
    fill()
    second = _build(content, out, limit)
    after = _digest(out)
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".feeds-tmp")]
    check(second.returncode == 1, f"exit {second.returncode}: {second.stderr[-500:]}")
    check("Traceback" not in second.stderr, second.stderr[-1500:])
    check(after == before, "the previous export was changed")
    check(not leftovers, f"temporary files left: {leftovers[:3]}")
    message = second.stderr.strip().splitlines()[-1] if second.stderr.strip() else ""
    make_room()
    third = _build(content, out)
    check(third.returncode == 0 and _digest(out) != before, "the export did not recover")
    return (f"{what}: exit 1, '{message}'; previous export intact ({len(before)} files), no "
            f"temporary file left; the next export with room succeeded")  # fmt: skip


def case_export_file_size_limit(work: Path) -> str:
    return _export_fault(work, work / "out", 64 * 1024, "RLIMIT_FSIZE 64 KiB (SIGXFSZ ignored)")


def case_export_disk_full(work: Path) -> str:
    mount = work / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise CaseFailed(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    filler = mount / "filler"

    def fill() -> None:  # leave 40 KiB free: the next export cannot fit
        free = shutil.disk_usage(mount).free
        with open(filler, "wb") as handle:
            handle.write(b"\0" * max(0, free - 40 * 1024))

    try:
        return _export_fault(
            work, mount / "out", None, "tmpfs of 4 MiB, 40 KiB left free", fill, filler.unlink
        )
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


CASES: dict[str, Callable[[Path], str]] = {
    "folder-deleted": case_folder_deleted,
    "folder-replaced-by-file": case_folder_replaced_by_file,
    "dangling-symlink": case_dangling_symlink,
    "folder-unreadable": case_folder_unreadable,
    "file-unreadable": case_file_unreadable,
    "swap-mid-reload": case_swap_mid_reload,
    "replaced-non-atomically": case_replaced_non_atomically,
    "half-written": case_half_written,
    "bad-file-name": case_bad_file_name,
    "reload-raises-in-process": case_reload_raises_in_process,
    "export-file-size-limit": case_export_file_size_limit,
    "export-disk-full": case_export_disk_full,
}


def run_case(name: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"feeds-fault-{name}-"))
    started = time.monotonic()
    try:
        observed = CASES[name](work)
        outcome = "PASS"
    except CaseFailed as error:
        observed, outcome = str(error), "FAIL"
    finally:
        with contextlib.suppress(OSError):
            for path in [work, *work.rglob("*")]:
                if path.is_dir() and not path.is_symlink():
                    os.chmod(path, 0o755)
        shutil.rmtree(work, ignore_errors=True)
    leaks = [part for part in observed.split("; ") if " shows " in part or "were 500" in part]
    if leaks and outcome == "PASS":
        outcome = "LEAK"
    return {"case": name, "result": outcome, "seconds": round(time.monotonic() - started, 1),
            "observed": observed}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="repeatable")
    parser.add_argument("--list", action="store_true", help="list the cases")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.list:
        for name, function in CASES.items():
            summary = (function.__doc__ or "").strip().split("\n")[0]
            print(f"{name}: {summary}")
        return 0
    results = []
    for name in args.case or list(CASES):
        result = run_case(name)
        results.append(result)
        print(f"{result['result']:4}  {name} ({result['seconds']} s): {result['observed']}",
              flush=True)  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if all(r["result"] == "PASS" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
