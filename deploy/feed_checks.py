"""HTTP checks on a running feeds server, shared by the deploy test scripts.

    python deploy/feed_checks.py serve URL        # one server: routes, feeds, caching headers
    python deploy/feed_checks.py proxy PROXY URL  # a caching proxy (deploy/nginx) in front of URL

Prints one ``PASS: ...`` or ``FAIL: ...`` line per check and a closing
``feed-checks: N passed, M failed`` line; exits 1 when any check failed.
Uses the project venv: httpx, feedparser (test extras) and brotli (a
dependency of the service).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

try:
    import brotli
except ImportError:  # pragma: no cover - brotli is a dependency of feeds
    brotli = None

JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"
# kind -> (path, acceptable media types)
MAIN_FEEDS = {
    "rss": ("/feeds/all.rss", ("application/rss+xml",)),
    "atom": ("/feeds/all.atom", ("application/atom+xml",)),
    "json": ("/feeds/all.json", ("application/feed+json", "application/json")),
}
MEDIA_TYPES = {kind: types for kind, (_, types) in MAIN_FEEDS.items()}


@dataclass
class Report:
    passed: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        line = f"{'PASS' if ok else 'FAIL'}: {name}"
        if detail:
            line += f" ({detail})"
        print(line, flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(name)
        return ok

    def close(self, label: str) -> int:
        print(f"{label}: {self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0


@dataclass
class Fetched:
    status: int
    headers: httpx.Headers
    raw: bytes  # as sent on the wire (possibly compressed)
    body: bytes  # decoded according to Content-Encoding

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def digest(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:16]


def decode(raw: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "br":
        if brotli is None:
            raise RuntimeError("brotli module missing")
        return brotli.decompress(raw)
    raise RuntimeError(f"unexpected Content-Encoding {encoding!r}")


def fetch(
    client: httpx.Client,
    url: str,
    *,
    encoding: str = "identity",
    etag: str | None = None,
    method: str = "GET",
) -> Fetched:
    headers = {"Accept-Encoding": encoding}
    if etag:
        headers["If-None-Match"] = etag
    with client.stream(method, url, headers=headers) as resp:
        raw = b"".join(resp.iter_raw())
    body = decode(raw, resp.headers.get("content-encoding", "")) if raw else b""
    return Fetched(resp.status_code, resp.headers, raw, body)


def kind_of(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def parse_feed(kind: str, body: bytes) -> tuple[bool, str]:
    """Parse a feed body: (ok, detail)."""
    if kind == "json":
        try:
            doc = json.loads(body)
        except ValueError as exc:
            return False, f"invalid JSON: {exc}"
        version, items = doc.get("version"), doc.get("items") or []
        ok = version == JSONFEED_VERSION and len(items) > 0
        return ok, f"version={version} items={len(items)}"
    import feedparser  # the test extras; imported late so `proxy` runs without it

    parsed = feedparser.parse(body)
    expected = {"rss": "rss20", "atom": "atom10"}[kind]
    ok = parsed.bozo == 0 and len(parsed.entries) > 0 and parsed.version == expected
    detail = f"version={parsed.version} bozo={parsed.bozo} entries={len(parsed.entries)}"
    if parsed.bozo:
        detail += f" error={parsed.get('bozo_exception')!r}"
    return ok, detail


def discover(client: httpx.Client, base: str, section: str) -> list[str]:
    """Paths of /feeds/{section}/... feeds listed in /opml.xml (then in /)."""
    found: list[str] = []
    try:
        resp = client.get(base + "/opml.xml")
        if resp.status_code == 200:
            for outline in ET.fromstring(resp.content).iter("outline"):
                url = outline.get("xmlUrl") or ""
                path = urlsplit(url).path
                if path.startswith(f"/feeds/{section}/") and path not in found:
                    found.append(path)
    except (httpx.HTTPError, ET.ParseError):
        pass
    if not found:
        import re

        try:
            html = client.get(base + "/").text
        except httpx.HTTPError:
            html = ""
        for match in re.finditer(rf"/feeds/{section}/[^\s\"'<>?#]+\.(?:rss|atom|json)", html):
            if match.group(0) not in found:
                found.append(match.group(0))
    return found


def same_format(paths: list[str], kind: str) -> str | None:
    return next((p for p in paths if p.endswith("." + kind)), None)


def check_feed(report: Report, client: httpx.Client, base: str, path: str) -> Fetched | None:
    kind = kind_of(path)
    try:
        plain = fetch(client, base + path)
    except (httpx.HTTPError, RuntimeError) as exc:
        report.check(f"GET {path}", False, repr(exc))
        return None
    if not report.check(f"GET {path} -> 200", plain.status == 200, f"status {plain.status}"):
        return None
    report.check(
        f"{path} content-type",
        plain.media_type in MEDIA_TYPES[kind],
        plain.headers.get("content-type", "(none)"),
    )
    ok, detail = parse_feed(kind, plain.body)
    report.check(f"{path} parses as {kind}", ok, detail)

    cache_control = plain.headers.get("cache-control", "")
    report.check(
        f"{path} Cache-Control public/max-age/stale-while-revalidate",
        all(t in cache_control for t in ("public", "max-age=", "stale-while-revalidate=")),
        cache_control or "(none)",
    )
    vary = plain.headers.get("vary", "")
    report.check(f"{path} Vary: Accept-Encoding", "accept-encoding" in vary.lower(), vary)
    last_modified = plain.headers.get("last-modified", "")
    report.check(f"{path} Last-Modified", bool(last_modified), last_modified or "missing")
    etag = plain.etag
    if not report.check(f"{path} strong ETag", bool(etag) and not etag.startswith("W/"), str(etag)):
        return plain
    cond = fetch(client, base + path, etag=etag)
    report.check(
        f"{path} If-None-Match -> 304",
        cond.status == 304 and not cond.raw,
        f"status {cond.status}, {len(cond.raw)} body bytes",
    )
    for encoding in ("gzip", "br"):
        try:
            comp = fetch(client, base + path, encoding=encoding)
            got = comp.headers.get("content-encoding", "identity")
            same = comp.body == plain.body
            report.check(
                f"{path} {encoding} when asked",
                comp.status == 200 and got == encoding and same,
                f"Content-Encoding {got}, {len(comp.raw)} bytes, decoded identical: {same}",
            )
            if comp.etag:
                again = fetch(client, base + path, encoding=encoding, etag=comp.etag)
                report.check(
                    f"{path} {encoding} If-None-Match -> 304",
                    again.status == 304,
                    f"status {again.status}",
                )
        except (httpx.HTTPError, RuntimeError, OSError) as exc:
            report.check(f"{path} {encoding} when asked", False, repr(exc))
    return plain


def cmd_serve(args: argparse.Namespace) -> int:
    report = Report()
    base = args.url.rstrip("/")
    with httpx.Client(timeout=10) as client:
        health = client.get(base + "/healthz")
        report.check("/healthz -> 200", health.status_code == 200, f"status {health.status_code}")
        ready = client.get(base + "/readyz")
        try:
            doc = ready.json()
        except ValueError:
            doc = {}
        report.check(
            "/readyz -> 200 ready with articles",
            ready.status_code == 200
            and doc.get("status") == "ready"
            and int(doc.get("articles") or 0) > 0,
            f"status {ready.status_code}, {ready.text[:120]}",
        )
        for _kind, (path, _types) in MAIN_FEEDS.items():
            check_feed(report, client, base, path)
        topics = discover(client, base, "topics")
        if report.check("a topic feed is listed (/opml.xml or /)", bool(topics), f"{len(topics)}"):
            check_feed(report, client, base, same_format(topics, "rss") or topics[0])
        providers = discover(client, base, "providers")
        if providers:
            check_feed(report, client, base, same_format(providers, "json") or providers[0])
        for path in ("/", "/opml.xml", "/metrics"):
            resp = client.get(base + path)
            report.check(
                f"GET {path} -> 200", resp.status_code == 200, f"status {resp.status_code}"
            )
        missing = client.get(base + "/feeds/topics/no-such-topic-xyz.rss")
        report.check(
            "unknown topic -> 404", missing.status_code == 404, f"status {missing.status_code}"
        )
    return report.close("feed-checks")


def cmd_proxy(args: argparse.Namespace) -> int:
    """The caching proxy honours the origin's caching headers."""
    report = Report()
    proxy, origin = args.proxy.rstrip("/"), args.origin.rstrip("/")
    path = "/feeds/all.rss"
    with httpx.Client(timeout=10) as client:
        direct = fetch(client, origin + path, encoding="gzip")
        first = fetch(client, proxy + path, encoding="gzip")
        second = fetch(client, proxy + path, encoding="gzip")
        s1, s2 = first.headers.get("x-cache-status"), second.headers.get("x-cache-status")
        report.check("proxy: first request goes to the origin", first.status == 200, f"{s1}")
        report.check("proxy: second request is a cache HIT", s2 == "HIT", f"{s2}")
        report.check(
            "proxy: cached bytes and ETag equal the origin's",
            second.body == direct.body and second.etag == direct.etag,
            f"etag {second.etag} vs {direct.etag}",
        )
        for name in ("etag", "last-modified", "cache-control", "vary"):
            report.check(
                f"proxy: passes {name} through",
                second.headers.get(name) == direct.headers.get(name),
                f"{second.headers.get(name)!r}",
            )
        cond = fetch(client, proxy + path, encoding="gzip", etag=direct.etag)
        report.check(
            "proxy: If-None-Match with the origin's ETag -> 304 from the cache",
            cond.status == 304,
            f"status {cond.status}, {cond.headers.get('x-cache-status')}",
        )
        busted = fetch(client, proxy + path + "?utm_source=x&nocache=1", encoding="gzip")
        report.check(
            "proxy: unknown query parameters do not bypass the cache",
            busted.headers.get("x-cache-status") == "HIT" and busted.body == direct.body,
            f"{busted.headers.get('x-cache-status')}",
        )
        plain = fetch(client, proxy + path, encoding="identity")
        report.check(
            "proxy: identity and gzip are separate cache entries",
            plain.status == 200
            and plain.headers.get("content-encoding", "identity") == "identity"
            and plain.body == direct.body,
            f"Content-Encoding {plain.headers.get('content-encoding', 'identity')}, "
            f"{plain.headers.get('x-cache-status')}",
        )
        health = client.get(proxy + "/healthz")
        report.check(
            "proxy: /healthz is not cached",
            health.status_code == 200 and "x-cache-status" not in health.headers,
            f"status {health.status_code}",
        )
        metrics = client.get(proxy + "/metrics")
        report.check(
            "proxy: /metrics is not published", metrics.status_code == 404, f"{metrics.status_code}"
        )
    return report.close("proxy-checks")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="check one server")
    serve.add_argument("url")
    serve.set_defaults(func=cmd_serve)
    proxy = sub.add_parser("proxy", help="check the caching proxy")
    proxy.add_argument("proxy")
    proxy.add_argument("origin")
    proxy.set_defaults(func=cmd_proxy)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except httpx.HTTPError as exc:
        print(f"FAIL: request error {exc!r}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
