"""Shared test helpers: where the real corpus is, and how to write an article file."""

from __future__ import annotations

import contextlib
import functools
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

# The real corpus lives beside the project, not in it (see ../shared/corpus/README.md).
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(autouse=True, scope="session")
def _own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`feeds build` keeps a parse cache in the user's cache folder: the tests'
    builds keep theirs in a folder of their own."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


def write_article(
    root: Path,
    relpath: str,
    fields: dict[str, Any] | None = None,
    body: str = "",
    *,
    raw: str | bytes | None = None,
) -> Path:
    """Write `root/relpath` atomically (a hidden temp file, then os.replace), so a
    watching loader never sees half a file. `fields` become the front matter;
    `raw` is written as it is instead (for bad input)."""
    if raw is None:
        front = yaml.safe_dump(fields or {}, sort_keys=False, allow_unicode=True)
        raw = f"---\n{front}---\n{body}"
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)
    return path


# ---- what the corpus files say, worked out without feeds/ (for the corpus tests) ----

# The same safe loader as yaml.safe_load, in C where available: 1419 files in well
# under a second instead of five.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_JEKYLL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}-")


@dataclass(frozen=True)
class Expected:
    feedable: dict[str, dict[str, Any]]  # relpath -> front matter, after dropping duplicates
    hidden: dict[str, dict[str, Any]]  # relpath -> front matter
    undated: frozenset[str]
    duplicates: int
    secured: frozenset[str]  # every `secured` value in the folder's article files


def story_key(fields: dict[str, Any]) -> str | None:
    """webUrl (else originalUrl), scheme and host lower-case, no fragment, no trailing '/'."""
    url = fields.get("webUrl") or fields.get("originalUrl")
    if not url:
        return None
    parts = urlsplit(url.strip())
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, "")
    )


def _when(fields: dict[str, Any], name: str) -> datetime | None:
    value = fields.get("publishedDateTime")
    if isinstance(value, str) and value.strip():
        value = datetime.fromisoformat(value.strip())
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if _JEKYLL_DATE.match(name):
        return datetime.strptime(name[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    return None


@functools.cache
def expected_corpus(folder: Path) -> Expected:
    """Hidden, undated and feedable files of a corpus folder, by the rules of the issue."""
    hidden: dict[str, dict[str, Any]] = {}
    undated: set[str] = set()
    winners: dict[str, tuple[datetime, str, dict[str, Any]]] = {}
    dated = 0
    secured: set[str] = set()
    for path in sorted(folder.rglob("*")):
        relpath = path.relative_to(folder).as_posix()
        if (
            relpath.startswith("_data/")
            or "/." in f"/{relpath}"
            or not path.is_file()
            or not path.name.lower().endswith((".md", ".markdown", ".html"))
        ):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        fields = yaml.load("\n".join(lines[1 : lines.index("---", 1)]), Loader=_SAFE_LOADER)  # noqa: S506
        if isinstance(fields.get("secured"), str):
            secured.add(fields["secured"])
        if fields.get("published") is False or True in (
            fields.get("removed"),
            fields.get("deleted"),
        ):
            hidden[relpath] = fields
            continue
        when = _when(fields, path.name)
        if when is None:
            undated.add(relpath)
            continue
        dated += 1
        key = story_key(fields) or relpath
        if key not in winners or (when, relpath) > winners[key][:2]:
            winners[key] = (when, relpath, fields)
    feedable = {relpath: fields for _, relpath, fields in winners.values()}
    return Expected(feedable, hidden, frozenset(undated), dated - len(winners), frozenset(secured))


# ---- real `feeds serve` processes on loopback (test_e2e_reader.py, test_index_browser.py) ----

import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
BUNDLED_CONTENT = PROJECT / "content"  # the sample content: 18 feedable articles
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A private, writable copy of the bundled sample content."""
    return Path(shutil.copytree(BUNDLED_CONTENT, tmp_path / "content"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class FeedsServer:
    """A `feeds serve` subprocess on 127.0.0.1; remembers every response it got."""

    process: subprocess.Popen[bytes]
    base_url: str
    stdout_path: Path
    stderr_path: Path
    responses: list[tuple[str, str, int]]  # (method, path?query, status) sent through request()

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=10) as client:  # loopback only, no proxy
            response = client.request(method, self.base_url + path, **options)
        self.responses.append((method, path, response.status_code))
        return response

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then the exit code; fails when it does not exit within `timeout`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the server ignored SIGTERM for {timeout}s") from None

    def kill(self) -> None:
        """SIGKILL the server and its worker processes (its own process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


def start_feeds_server(
    content: Path, logs: Path, *options: str, ready_within: float = 30.0
) -> FeedsServer:
    """`python -m feeds.cli serve --content DIR --port FREE *options`, its output in
    the folder `logs`, once /readyz says 200; the caller stops it. No FEEDS_*
    variable nor proxy setting of this environment reaches it."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("FEEDS_") and name.lower() not in _PROXY_VARIABLES
    }
    logs.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):  # another process may take the free port first
        port = free_port()
        out, err = logs / f"server-{port}.out", logs / f"server-{port}.err"
        command = [sys.executable, "-m", "feeds.cli", "serve", "--content", str(content),
                   "--host", "127.0.0.1", "--port", str(port), *options]  # fmt: skip
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            process = subprocess.Popen(
                command, stdout=stdout, stderr=stderr, env=env, cwd=PROJECT, start_new_session=True
            )
        server = FeedsServer(process, f"http://127.0.0.1:{port}", out, err, [])
        deadline = time.monotonic() + ready_within
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if server.request("GET", "/readyz").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        server.kill()
        if "address already in use" in server.stderr().lower() and attempt < 2:
            continue
        log = server.stderr()[-3000:]
        raise AssertionError(f"feeds serve not ready in {ready_within}s:\n{log}")
    raise AssertionError("unreachable")


@pytest.fixture
def feeds_server(tmp_path: Path) -> Iterator[Callable[..., FeedsServer]]:
    """Start `feeds serve` over a folder (start_feeds_server); killed at teardown
    if a test did not stop it."""
    servers: list[FeedsServer] = []

    def start(content: Path, *options: str, ready_within: float = 30.0) -> FeedsServer:
        logs = tmp_path / f"server-{len(servers)}"
        server = start_feeds_server(content, logs, *options, ready_within=ready_within)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()  # workers too, even when the parent has exited


def wait_for(condition: Callable[[], Any], what: str, within: float = 15.0) -> Any:
    """Poll until `condition()` gives something true, and return it; fail (never
    hang) when it has not within `within` seconds."""
    deadline = time.monotonic() + within
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        time.sleep(0.02)
    return value
