"""Every feed of the real corpus (../shared/corpus), in every format, checked
against what the source files say.

Expectations are computed here, independently of `feeds`: the front matter of
each file is read with `yaml.safe_load`, and each entry of a rendered feed is
mapped back to the file it came from by its URL. Only the rendering goes
through `feeds` (loader -> describe -> render).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import posixpath
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import feedparser
import jsonschema
import lxml.etree
import lxml.html
import pytest
import yaml

from feeds.documents import published_paths
from feeds.feed import Format, Kind, Selection, describe
from feeds.loader import ContentLoader
from feeds.render import render
from feeds.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
CORPORA = ("powerapps", "ai-sample")
BASE = "https://feeds.example.org"
NOW = datetime(2025, 1, 1, tzinfo=UTC)  # after every article of both folders
SETTINGS = Settings(base_url=BASE)  # 50 items, 512 KiB budget: the defaults
SITE_TITLE = "Feeds"
ITEMS = 50
SCHEMA = json.loads((Path(__file__).parent / "jsonfeed-1.1.schema.json").read_text())
JSON_VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
EXTENSION_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".avif": "image/avif",
}


def corpus_folder(name: str) -> Path:
    folder = CORPUS / name
    if not folder.is_dir():
        pytest.fail(f"the real corpus is missing: {folder} (expected beside the repository)")
    return folder


# ---- what the files say, read without `feeds` ----


def front_matter(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8-sig")
    match = re.match(r"---\r?\n(.*?)^(?:---|\.\.\.)[ \t]*\r?$", text, re.S | re.M)
    assert match, f"{path}: no front matter"
    fields = yaml.safe_load(match.group(1))
    assert isinstance(fields, dict), path
    return fields


def plain(text: object) -> str:
    text = re.sub(r"<[^>]*>", " ", str(text))
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def slug_of(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def utc(value: object) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip()) if value.strip() else None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def web_url(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.hostname else None


def media_type(url: str) -> str:
    """From the URL path's extension, the query ignored; image/jpeg when unknown."""
    return EXTENSION_TYPES.get(posixpath.splitext(urlsplit(url).path)[1].lower(), "image/jpeg")


def canonical(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


@dataclass(frozen=True)
class Img:
    url: str
    width: int | None
    height: int | None


def images_of(value: object, site_url: str | None) -> list[Img]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    found: list[Img] = []
    for item in items:
        url = item.get("url") if isinstance(item, dict) else item
        if not isinstance(url, str):
            continue
        url = url.strip()
        if site_url and url.startswith("/") and not url.startswith("//"):
            url = site_url + url
        if web_url(url) is None or url in [image.url for image in found]:
            continue
        size = {}
        for key in ("width", "height"):
            number = item.get(key) if isinstance(item, dict) else None
            ok = isinstance(number, int) and not isinstance(number, bool) and 0 < number < 100_000
            size[key] = number if ok else None
        found.append(Img(url, size["width"], size["height"]))
    return found[:20]


@dataclass
class Source:
    relpath: str
    date: datetime
    title: str
    url: str | None
    original: str | None  # originalUrl when it differs from url
    provider_slug: str | None
    provider_name: str | None  # as the file spells it
    provider_domain: str | None
    provider_images: list[Img]
    topics: list[str]
    images: list[Img]
    related: list[dict[str, Any]]
    secured: str | None = None


@dataclass
class Expected:
    """What the folder says every feed must hold."""

    sources: list[Source]  # feedable, newest first, duplicates dropped
    topics: dict[str, str] = field(default_factory=dict)  # slug -> name
    topic_of: dict[str, str] = field(default_factory=dict)  # casefolded name or slug -> slug
    topic_images: dict[str, list[str]] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)  # slug -> name/domain/...
    by_topic: dict[str, list[Source]] = field(default_factory=dict)
    by_provider: dict[str, list[Source]] = field(default_factory=dict)


def related_of(value: object, own_url: str | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    seen = {own_url}
    # Every story an author listed (the corpus stays under the cap): none dropped.
    for entry in value if isinstance(value, list) else []:
        if not isinstance(entry, dict):
            continue
        url = web_url(entry.get("webUrl") or entry.get("originalUrl"))
        if url is None or not isinstance(entry.get("title"), str) or url in seen:
            continue
        seen.add(url)
        item: dict[str, Any] = {"title": plain(entry["title"]) or url, "url": url}
        provider = entry.get("provider")
        name = provider.get("name") if isinstance(provider, dict) else provider
        if isinstance(name, str) and plain(name):
            item["provider"] = plain(name)
        published = entry.get("publishedDateTime")
        try:
            moment = utc(published)
        except ValueError:
            moment = None
        if moment is not None:
            item["date_published"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        found.append(item)
    return found


def read_source(root: Path, path: Path, site_url: str | None) -> Source | None:
    """The file as a feed item, or None when it must stay out of every feed."""
    relpath = path.relative_to(root).as_posix()
    fields = front_matter(path)
    if fields.get("published") is False or fields.get("removed") is True:
        return None
    if fields.get("deleted") is True:
        return None
    moment = utc(fields.get("publishedDateTime"))
    if moment is None:
        prefix = re.match(r"(\d{4})-(\d{2})-(\d{2})-", path.name)
        if not prefix:
            return None
        moment = datetime(*map(int, prefix.groups()), tzinfo=UTC)
    web, original = web_url(fields.get("webUrl")), web_url(fields.get("originalUrl"))
    url = web or original
    title = plain(fields.get("title") or fields.get("name") or "")
    if not title:
        title = plain(fields.get("excerpt") or "")  # stands in, cut to 80 characters
    provider = fields.get("provider")
    if isinstance(provider, str):
        provider = {"name": provider}
    slug = name = domain = None
    provider_images: list[Img] = []
    if isinstance(provider, dict):
        name = plain(provider.get("name") or "")
        domain = str(provider.get("domain") or "").strip().lower()
        slug = domain or slug_of(name) or None
        name = name or domain
        domain = domain or slug
        provider_images = images_of(provider.get("images"), site_url)
    topics: list[str] = []
    raw_topics = fields.get("topics") or []
    for topic in [raw_topics] if isinstance(raw_topics, str) else raw_topics:
        if plain(topic) and plain(topic) not in topics:
            topics.append(plain(topic))
    return Source(
        relpath=relpath,
        date=moment,
        title=title,
        url=url,
        original=original if original and original != url else None,
        provider_slug=slug,
        provider_name=name,
        provider_domain=domain,
        provider_images=provider_images,
        topics=topics,
        images=images_of(fields.get("images"), site_url),
        related=related_of(fields.get("related"), url),
        secured=fields.get("secured") if isinstance(fields.get("secured"), str) else None,
    )


def site_url_of(root: Path) -> str | None:
    config = root / "_config.yml"
    if not config.is_file():
        return None
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    base = str(settings.get("baseurl") or "").strip("/")
    return settings["url"].rstrip("/") + (f"/{base}" if base else "")


def expectations(root: Path) -> Expected:
    site_url = site_url_of(root)
    sources = []
    for path in sorted(root.rglob("*")):
        relpath = path.relative_to(root).as_posix()
        if relpath.startswith("_data/") or path.suffix not in (".md", ".markdown", ".html"):
            continue
        source = read_source(root, path, site_url)
        if source is not None:
            sources.append(source)
    sources.sort(key=lambda s: (s.date, s.relpath), reverse=True)
    winners: dict[str, Source] = {}
    for source in sources:  # the newest file of a story wins
        winners.setdefault(canonical(source.url) if source.url else source.relpath, source)
    expected = Expected(
        sources=[s for s in sources if winners.get(canonical(s.url) if s.url else s.relpath) is s]
    )
    assert all(s.date <= NOW for s in expected.sources), "NOW must be after every article"

    for path in sorted((root / "_data" / "topics").glob("*.y*ml")):
        fields = yaml.safe_load(path.read_text(encoding="utf-8"))
        name = plain(fields.get("name") or fields.get("_id"))
        slug = slug_of(str(fields.get("_id") or name))
        expected.topics[slug] = name
        expected.topic_of[name.casefold()] = expected.topic_of[slug] = slug
        images = images_of(fields.get("images"), site_url)
        images.sort(key=lambda image: (image.width or 0) * (image.height or 0))
        expected.topic_images[slug] = [image.url for image in images]
    for path in sorted((root / "_data" / "organizations").glob("*.md")):
        fields = front_matter(path)
        domain = str(fields.get("domain") or fields.get("_id")).strip().lower()
        images = images_of(fields.get("images"), site_url)
        images.sort(key=lambda image: (image.width or 0) * (image.height or 0))
        expected.providers[domain] = {
            "name": plain(fields.get("name") or domain),
            "domain": domain,
            "description": plain(fields.get("description") or ""),
            "images": [image.url for image in images],
        }
    # A topic or provider without a taxonomy entry is named as most of its articles
    # spell it; on a tie, the spelling whose newest use is the oldest.
    topic_spellings: dict[str, list[str]] = {}
    provider_spellings: dict[str, list[tuple[Any, ...]]] = {}
    taxonomy_providers = set(expected.providers)
    taxonomy_topics = set(expected.topics)
    for source in expected.sources:  # newest first
        for name in source.topics:
            slug = expected.topic_of.get(name.casefold())
            if slug is None:
                slug = slug_of(name) or "topic"
                expected.topic_of[name.casefold()] = slug
            if slug not in taxonomy_topics:
                topic_spellings.setdefault(slug, []).append(name)
            bucket = expected.by_topic.setdefault(slug, [])
            if source not in bucket:
                bucket.append(source)
        if source.provider_slug:
            if source.provider_slug not in taxonomy_providers:
                spelling = (
                    source.provider_name,
                    source.provider_domain,
                    tuple(image.url for image in source.provider_images),
                )
                provider_spellings.setdefault(source.provider_slug, []).append(spelling)
            expected.by_provider.setdefault(source.provider_slug, []).append(source)
    for slug, names in topic_spellings.items():
        expected.topics[slug] = most_common(names)
    for slug, spellings in provider_spellings.items():
        name, domain, images = most_common(spellings)
        expected.providers[slug] = {
            "name": name,
            "domain": domain,
            "description": "",
            "images": list(images),
        }
    return expected


def most_common(seen_newest_first: list[Any]) -> Any:
    """The value seen most often; on a tie, the one whose newest sighting is oldest."""
    first_seen = {}
    for position, value in enumerate(seen_newest_first):
        first_seen.setdefault(value, position)
    return max(first_seen, key=lambda v: (seen_newest_first.count(v), first_seen[v]))


# ---- the feeds, rendered once per folder ----


@dataclass
class Rendered:
    name: str
    expected: Expected
    documents: dict[tuple[str, str, Format], bytes]  # (kind, slug, format) -> bytes
    published: set[tuple[str, str]]


_CACHE: dict[str, Rendered] = {}


def rendered(name: str) -> Rendered:
    if name not in _CACHE:
        root = corpus_folder(name)
        snapshot = ContentLoader(root, clock=lambda: NOW).reload()
        documents = {}
        # Every feed the service publishes (and the static export writes).
        for _, selection, fmt in published_paths(snapshot):
            if selection is not None and isinstance(fmt, Format):  # a feed, not a page
                feed = describe(snapshot, selection, SETTINGS, NOW)
                key = (selection.kind.value, selection.slug, fmt)
                documents[key] = render(feed, fmt, SETTINGS.max_feed_bytes)
        published = {(kind, slug) for kind, slug, _ in documents}
        _CACHE[name] = Rendered(name, expectations(root), documents, published)
    return _CACHE[name]


def everything(expected: Expected, kind: str, slug: str) -> list[Source]:
    if kind == "all":
        return expected.sources
    if kind == "topics":
        return expected.by_topic.get(slug, [])
    return expected.by_provider.get(slug, [])


def wanted(expected: Expected, kind: str, slug: str) -> list[Source]:
    return everything(expected, kind, slug)[:ITEMS]


def feed_meta(expected: Expected, kind: str, slug: str) -> dict[str, Any]:
    """Title, description, home page and logo the feed must announce."""
    if kind == "all":
        return {
            "title": SITE_TITLE,
            "home": f"{BASE}/feeds/all.html",
            "logo": None,
            "icon": None,
            "description": f"Every article on {SITE_TITLE}",
            "path": "/feeds/all",
        }
    if kind == "topics":
        name = expected.topics[slug]
        images = expected.topic_images.get(slug) or [None]
        return {
            "title": f"{name} · {SITE_TITLE}",
            "home": f"{BASE}/feeds/topics/{slug}.html",
            "description": f"Articles about {name} on {SITE_TITLE}",
            "logo": images[0],
            "icon": images[0],
            "path": f"/feeds/topics/{slug}",
        }
    provider = expected.providers[slug]
    return {
        "title": f"{provider['name']} · {SITE_TITLE}",
        "home": f"https://{provider['domain']}/",
        "description": provider["description"]
        or f"Articles from {provider['name']} on {SITE_TITLE}",
        # Logos are listed smallest first: the largest is the logo, the smallest the icon.
        "logo": provider["images"][-1] if provider["images"] else None,
        "icon": provider["images"][0] if provider["images"] else None,
        "path": f"/feeds/providers/{slug}",
    }


def strict_xml(body: bytes) -> lxml.etree._Element:
    parser = lxml.etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
    return lxml.etree.fromstring(body, parser)


def related_in_html(fragment: str) -> list[tuple[str, str]]:
    """(href, text) of the links in the "Related" list of an item's HTML."""
    if not fragment:
        return []
    tree = lxml.html.fromstring(f"<div>{fragment}</div>")
    links = tree.xpath("//h3[normalize-space()='Related']/following-sibling::ul[1]/li/a")
    return [(link.get("href"), link.text_content()) for link in links]


def title_ok(got: str, want: str) -> bool:
    """Equal, or cut at a word with an ellipsis (a title from the excerpt, or a long one)."""
    return got == want or (got.endswith("…") and want.startswith(got[:-1].rstrip()))


def secured_ok(source: Source, body: bytes) -> bool:
    return not source.secured or source.secured[:32].encode() not in body


def expected_author(expected: Expected, source: Source) -> dict[str, Any] | None:
    if not source.provider_slug:
        return None
    return expected.providers[source.provider_slug] | {"slug": source.provider_slug}


def tag_names(expected: Expected, source: Source) -> list[tuple[str, str]]:
    slugs = [expected.topic_of[name.casefold()] for name in source.topics]
    return [(slug, expected.topics[slug]) for slug in dict.fromkeys(slugs)]


# ---- the tests ----


@pytest.mark.parametrize("name", CORPORA)
def test_every_topic_and_provider_has_a_feed(name: str) -> None:
    result = rendered(name)
    expected = result.expected
    want = {("all", "")}
    want |= {("topics", slug) for slug in expected.topics}
    want |= {("providers", slug) for slug in expected.providers}
    assert result.published == want
    assert len(result.documents) == 3 * len(want), "every feed in RSS, Atom and JSON Feed"
    assert len(expected.sources) > 0


def map_entries(
    expected: Expected, keys: list[tuple[str | None, str, datetime]]
) -> list[Source | None]:
    """Entries -> source files: by URL, else (for files without one) by title and date."""
    by_url = {source.url: source for source in expected.sources if source.url}
    by_title = {(s.title, s.date): s for s in expected.sources if not s.url}
    return [
        by_url.get(url) if url else by_title.get((title, moment)) for url, title, moment in keys
    ]


def check_order(
    errors: list[str], where: str, got: list[Source | None], want: list[Source]
) -> None:
    if [s.relpath if s else None for s in got] != [s.relpath for s in want]:
        errors.append(
            f"{where}: {len(got)} entries, want {len(want)}; first difference: "
            + next(
                (
                    f"#{i}: {g and g.relpath} != {w and w.relpath}"
                    for i, (g, w) in enumerate(zip(got + [None] * len(want), want, strict=False))
                    if g is not w
                ),
                "(extra entries)",
            )
        )


def when(parsed: Any) -> datetime | None:
    return datetime(*parsed[:6], tzinfo=UTC) if parsed else None


def differences(at: str, got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """One line per field of an item that is not what the file says."""
    return [f"{at}: {key}: got {got[key]!r}, want {value!r}"
            for key, value in want.items() if got[key] != value]  # fmt: skip


@pytest.mark.parametrize("name", CORPORA)
def test_rss_entries_are_what_the_files_say(name: str) -> None:
    result = rendered(name)
    expected = result.expected
    errors: list[str] = []
    for (kind, slug, fmt), body in result.documents.items():
        if fmt is not Format.RSS:
            continue
        where = f"{name}:{kind}/{slug or 'all'}.rss"
        parsed = feedparser.parse(body)
        if parsed.bozo:
            errors.append(f"{where}: bozo {parsed.bozo_exception!r}")
            continue
        meta = feed_meta(expected, kind, slug)
        channel = strict_xml(body).find("channel")
        assert channel is not None
        if (parsed.feed.title, parsed.feed.link, parsed.feed.get("language")) != (
            meta["title"],
            meta["home"],
            "en",
        ):
            errors.append(
                f"{where}: title/link/language {parsed.feed.title!r} {parsed.feed.link!r}"
            )
        self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
        if self_links != [f"{BASE}{meta['path']}.rss"]:
            errors.append(f"{where}: self links {self_links}")
        if parsed.feed.get("image", {}).get("href") != meta["logo"]:
            errors.append(f"{where}: image {parsed.feed.get('image')} != {meta['logo']}")
        sources = map_entries(
            expected,
            [(e.get("link"), e.title, when(e.get("published_parsed"))) for e in parsed.entries],
        )
        want = wanted(expected, kind, slug)
        check_order(errors, where, sources, want)
        if want and when(parsed.feed.get("updated_parsed")) != want[0].date.replace(microsecond=0):
            errors.append(f"{where}: lastBuildDate {parsed.feed.get('updated')} != newest item")
        items = channel.findall("item")
        for entry, item, source in zip(parsed.entries, items, sources, strict=True):
            if source is None:
                errors.append(
                    f"{where}: entry {entry.get('link') or entry.title!r} maps to no file"
                )
                continue
            at = f"{where} <- {source.relpath}"
            got: dict[str, Any] = {
                "title": title_ok(entry.title, source.title),
                "link": entry.get("link"),
                "date": when(entry.published_parsed),
                "author": entry.get("author"),
                "source": (
                    entry.get("source", {}).get("href"),
                    entry.get("source", {}).get("title"),
                ),
                "categories": [(t.term, t.scheme) for t in entry.get("tags", [])],
                "enclosures": [(e.href, e.type, e.length) for e in entry.get("enclosures", [])],
                "media": [
                    (m.get("url"), m.get("type"), m.get("medium"), m.get("width"), m.get("height"))
                    for m in entry.get("media_content", [])
                    if m.get("medium") == "image"  # videos: tests/test_video.py
                ],
                "dc:source": item.findtext("{http://purl.org/dc/elements/1.1/}source"),
                "via": [
                    link.get("href")
                    for link in item.iter("{http://www.w3.org/2005/Atom}link")
                    if link.get("rel") == "via"
                ],
                "author element": item.find("author"),  # RSS <author> must be an e-mail
                "related": related_in_html(
                    item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded") or ""
                ),
                "secured": secured_ok(source, body),
            }
            author = expected_author(expected, source)
            first = source.images[:1]
            want_item: dict[str, Any] = {
                "title": True,
                "link": source.url,
                "date": source.date.replace(microsecond=0),
                "author": author and author["name"],
                "source": (f"{BASE}/feeds/providers/{author['slug']}.rss", author["name"])
                if author
                else (None, None),
                "categories": [
                    (topic, f"{BASE}/feeds/topics/{tslug}.rss")
                    for tslug, topic in tag_names(expected, source)
                ],
                "enclosures": [(i.url, media_type(i.url), "0") for i in first],
                "media": [
                    (i.url, media_type(i.url), "image", str(i.width), str(i.height))
                    for i in source.images
                    if i.width and i.height
                ],
                "dc:source": None,  # one source element: <source> (W3C)
                "via": [source.original] if source.original else [],
                "author element": None,
                "related": [(r["url"], r["title"]) for r in source.related],
                "secured": True,
            }
            errors += differences(at, got, want_item)
    assert not errors, f"{len(errors)} problems:\n" + "\n".join(errors[:30])


@pytest.mark.parametrize("name", CORPORA)
def test_atom_entries_are_what_the_files_say(name: str) -> None:
    result = rendered(name)
    expected = result.expected
    errors: list[str] = []
    for (kind, slug, fmt), body in result.documents.items():
        if fmt is not Format.ATOM:
            continue
        where = f"{name}:{kind}/{slug or 'all'}.atom"
        parsed = feedparser.parse(body)
        if parsed.bozo or parsed.version != "atom10":
            errors.append(f"{where}: bozo {parsed.get('bozo_exception')!r} {parsed.version}")
            continue
        strict_xml(body)
        meta = feed_meta(expected, kind, slug)
        links = {(link.rel, link.href, link.get("type")) for link in parsed.feed.links}
        want_links = {
            ("self", f"{BASE}{meta['path']}.atom", "application/atom+xml"),
            ("alternate", meta["home"], "text/html"),
        }
        full_pages = len(everything(expected, kind, slug)) // ITEMS  # RFC 5005 archive pages
        if full_pages:
            archive = f"{BASE}{meta['path']}/archive/{full_pages}.atom"
            want_links.add(("prev-archive", archive, "application/atom+xml"))
        if links != want_links:
            errors.append(f"{where}: feed links {links}")
        if (parsed.feed.title, parsed.feed.get("subtitle")) != (meta["title"], meta["description"]):
            errors.append(
                f"{where}: title/subtitle {parsed.feed.title!r} {parsed.feed.get('subtitle')!r}"
            )
        if (parsed.feed.get("icon"), parsed.feed.get("logo")) != (meta["icon"], meta["logo"]):
            errors.append(f"{where}: icon/logo {parsed.feed.get('icon')} != {meta['logo']}")
        if parsed.feed.get("language") != "en":
            errors.append(f"{where}: language {parsed.feed.get('language')}")
        sources = map_entries(
            expected,
            [(e.get("link"), e.title, when(e.get("published_parsed"))) for e in parsed.entries],
        )
        want = wanted(expected, kind, slug)
        check_order(errors, where, sources, want)
        # An empty feed reports the site's newest article (never 1970, never "now").
        newest = (want or wanted(expected, "all", ""))[0].date.replace(microsecond=0)
        if when(parsed.feed.get("updated_parsed")) != newest:
            errors.append(f"{where}: updated {parsed.feed.get('updated')} != {newest}")
        if (not want or any(not s.provider_slug for s in want)) and parsed.feed.get(
            "author"
        ) != meta["title"]:
            errors.append(
                f"{where}: an entry without provider needs the feed author"
            )  # RFC 4287 4.1.2
        for entry, source in zip(parsed.entries, sources, strict=True):
            if source is None:
                errors.append(
                    f"{where}: entry {entry.get('link') or entry.title!r} maps to no file"
                )
                continue
            at = f"{where} <- {source.relpath}"

            def links_of(rel: str, *keys: str, entry: Any = entry) -> list[tuple[Any, ...]]:
                return [
                    tuple(link.get(k) for k in ("href", *keys))
                    for link in entry.links
                    if link.get("rel") == rel
                ]

            author = expected_author(expected, source)
            got = {
                "title": title_ok(entry.title, source.title),
                "alternate": links_of("alternate", "type"),
                "via": links_of("via"),
                "published": (when(entry.published_parsed), when(entry.updated_parsed)),
                "author": (entry.get("author"), entry.get("author_detail", {}).get("href")),
                "categories": [(t.term, t.label, t.scheme) for t in entry.get("tags", [])],
                "enclosure": links_of("enclosure", "type", "length"),
                "related": links_of("related", "title", "type"),
                "secured": secured_ok(source, body),
            }
            want_item = {
                "title": True,
                "alternate": [(source.url, "text/html")] if source.url else [],
                "via": [(source.original,)] if source.original else [],
                "published": (source.date.replace(microsecond=0),) * 2,
                "author": (author["name"], f"https://{author['domain']}/")
                if author
                else (None, None),
                "categories": [
                    (tslug, topic, f"{BASE}/feeds/topics/")
                    for tslug, topic in tag_names(expected, source)
                ],
                "enclosure": [(i.url, media_type(i.url), "0") for i in source.images],
                "related": [(r["url"], r["title"], "text/html") for r in source.related],
                "secured": True,
            }
            errors += differences(at, got, want_item)
    assert not errors, f"{len(errors)} problems:\n" + "\n".join(errors[:30])


@pytest.mark.parametrize("name", CORPORA)
def test_json_items_are_what_the_files_say(name: str) -> None:
    result = rendered(name)
    expected = result.expected
    errors: list[str] = []
    for (kind, slug, fmt), body in result.documents.items():
        if fmt is not Format.JSON:
            continue
        where = f"{name}:{kind}/{slug or 'all'}.json"
        document = json.loads(body)
        schema_errors = [error.message for error in JSON_VALIDATOR.iter_errors(document)]
        if schema_errors:
            errors.append(f"{where}: not JSON Feed 1.1: {schema_errors[:3]}")
        meta = feed_meta(expected, kind, slug)
        got_meta = {
            key: document.get(key)
            for key in (
                "title",
                "home_page_url",
                "feed_url",
                "description",
                "language",
                "icon",
                "favicon",
            )
        }
        want_meta = {
            "title": meta["title"],
            "home_page_url": meta["home"],
            "feed_url": f"{BASE}{meta['path']}.json",
            "description": meta["description"],
            "language": "en",
            "icon": meta["logo"],
            "favicon": meta["icon"],
        }
        if got_meta != want_meta:
            errors.append(f"{where}: feed fields {got_meta} != {want_meta}")
        items = document["items"]
        sources = map_entries(
            expected,
            [
                (i.get("url"), i["title"], datetime.fromisoformat(i["date_published"]))
                for i in items
            ],
        )
        check_order(errors, where, sources, wanted(expected, kind, slug))
        for item, source in zip(items, sources, strict=True):
            if source is None:
                errors.append(f"{where}: item {item.get('url') or item['title']!r} maps to no file")
                continue
            at = f"{where} <- {source.relpath}"
            author = expected_author(expected, source)
            want_author = None
            if author:
                want_author = [
                    {"name": author["name"], "url": f"https://{author['domain']}/"}
                    | ({"avatar": author["images"][0]} if author["images"] else {})
                ]
            got = {
                "title": title_ok(item["title"], source.title),
                "url": item.get("url"),
                "external_url": item.get("external_url"),
                "date_published": item["date_published"],
                "authors": item.get("authors"),
                "tags": item.get("tags"),
                "image": item.get("image"),
                "attachments": item.get("attachments"),
                "_related": item.get("_related"),
                "content_html": bool(item.get("content_html")),
                "secured": secured_ok(source, body),
            }
            want_item = {
                "title": True,
                "url": source.url,
                "external_url": source.original,
                "date_published": source.date.isoformat().replace("+00:00", "Z"),
                "authors": want_author,
                "tags": [topic for _, topic in tag_names(expected, source)] or None,
                "image": source.images[0].url if source.images else None,
                "attachments": [
                    {"url": i.url, "mime_type": media_type(i.url)} for i in source.images
                ]
                or None,
                "_related": {"items": source.related} if source.related else None,
                "content_html": True,
                "secured": True,
            }
            errors += differences(at, got, want_item)
    assert not errors, f"{len(errors)} problems:\n" + "\n".join(errors[:30])


def test_the_corpus_exercises_what_the_checks_look_at() -> None:
    """Guards the guards: the checks above compare real values, not empty lists."""
    seen = {"related": 0, "images": 0, "multi_image": 0, "via": 0, "no_provider": 0, "topics": 0}
    for name in CORPORA:
        for source in rendered(name).expected.sources:
            seen["related"] += bool(source.related)
            seen["images"] += bool(source.images)
            seen["multi_image"] += len(source.images) > 1
            seen["via"] += bool(source.original)
            seen["no_provider"] += not source.provider_slug
            seen["topics"] += bool(source.topics)
    assert all(count > 0 for key, count in seen.items() if key != "multi_image"), seen
    empty = [
        key
        for key, body in rendered("powerapps").documents.items()
        if key[2] is Format.JSON and not json.loads(body)["items"]
    ]
    assert empty, "some taxonomy provider has no article: its feed must still render"


# ---- the same bytes from separate processes ----

HASH_SCRIPT = """
import hashlib, logging, sys
from datetime import datetime
logging.disable(logging.CRITICAL)
from feeds.documents import published_paths
from feeds.feed import Format, describe
from feeds.loader import ContentLoader
from feeds.render import render
from feeds.settings import Settings
now = datetime.fromisoformat(sys.argv[1])
settings = Settings(base_url=sys.argv[2])
for folder in sys.argv[3:]:
    snapshot = ContentLoader(folder, clock=lambda: now).reload()
    for path, selection, fmt in published_paths(snapshot):
        if selection is not None and isinstance(fmt, Format):  # a feed, not a page
            feed = describe(snapshot, selection, settings, now)
            body = render(feed, fmt, settings.max_feed_bytes)
            print(folder.rsplit("/", 1)[-1] + path, hashlib.sha256(body).hexdigest())
"""


def test_separate_processes_render_the_same_bytes() -> None:
    folders = [str(corpus_folder(name)) for name in CORPORA]
    folders.append(str(Path(__file__).parent / "golden" / "content"))
    environments = [
        {"PYTHONHASHSEED": "0", "TZ": "UTC"},
        {"PYTHONHASHSEED": "0", "TZ": "UTC"},
        {"PYTHONHASHSEED": "4242", "TZ": "Pacific/Chatham"},  # a +12:45 zone: naive dates stay UTC
    ]
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", HASH_SCRIPT, NOW.isoformat(), BASE, *folders],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **extra},
        )
        for extra in environments
    ]
    outputs = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr[-2000:]
        outputs.append(stdout.splitlines())
    first = outputs[0]
    for other in outputs[1:]:
        assert other == first
    there = dict(line.split() for line in first)
    assert len(set(there.values())) > len(there) // 2, "hashes of real, distinct feeds"
    assert any(key.startswith("content/feeds/") for key in there), "the golden folder too"
    # And the same bytes as this process renders, for every feed of both corpora.
    here = {
        name + Selection(Kind(kind), slug).path(fmt): hashlib.sha256(body).hexdigest()
        for name in CORPORA
        for (kind, slug, fmt), body in rendered(name).documents.items()
    }
    assert {key: digest for key, digest in there.items() if not key.startswith("content/")} == here
