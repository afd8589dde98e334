"""A generator of hostile content folders, and what the service must make of each file.

`build_hostile_folder(root, outside)` writes good articles mixed with every kind of
bad file the issue lists: each field missing, empty, of the wrong type or huge;
YAML alias bombs, deep nesting, several documents, tabs, a byte-order mark, CRLF,
Latin-1, invalid UTF-8, NUL bytes, a zero-byte file, a 50 MB sparse file, front
matter never closed; symlink loops and links leading out of the folder; names
with spaces, non-ASCII letters and leading dots; two files claiming one URL.

Every file is a `Case` that says what must come of it, by the rules of
docs/content.md (not by reading feeds/): loaded with a given title, rejected with
a problem naming a field, hidden, undated, a duplicate, or ignored altogether.

Strings that must never reach a response are module constants: the canary
written outside the folder, the `secured` value, the text of hidden and rejected
articles. Nothing here imports feeds/, so the expectations cannot follow its bugs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

# ---- strings that must never appear in any response ----

CANARY = "zq-canary-5d1e9b2c"  # in files outside the content folder
SECURED_MARKER = "zq-secured-0b7f4e11"  # the value of every `secured` field
HIDDEN_MARKER = "zq-hidden-a93c27"  # text of unpublished, removed and deleted articles
REJECTED_MARKER = "zq-rejected-44f0d1"  # body text of every file that must be rejected
NEVER_SHOWN = (CANARY, SECURED_MARKER, HIDDEN_MARKER, REJECTED_MARKER, "secured", "Traceback")

REJECT, LOAD, HIDDEN, UNDATED, DUPLICATE, IGNORED, EITHER = (
    "reject",
    "load",
    "hidden",
    "undated",
    "duplicate",
    "ignored",
    "either",  # rejected with a reason, or loaded with its title: both are fine
)


@dataclass(frozen=True)
class Case:
    """One hostile file (or link) and what must come of it."""

    name: str
    relpath: str  # the path every report names, relative to the content folder
    outcome: str  # REJECT | LOAD | HIDDEN | UNDATED | DUPLICATE | IGNORED | EITHER
    write: Callable[[Path], None] = field(repr=False, compare=False)
    field: str | None = None  # REJECT: the field the problem names (None: the file as a whole)
    reason: str = ""  # REJECT: a fragment of the reason
    title: str | None = None  # LOAD: the title every feed shows
    url: str | None = None  # LOAD: the item's link


# ---- writing files ----


def _put(root: Path, relpath: str, data: bytes) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


def raw(relpath: str, data: str | bytes) -> Callable[[Path], None]:
    blob = data.encode("utf-8") if isinstance(data, str) else data
    return lambda root: _put(root, relpath, blob)


def front(fields: dict[str, Any], body: str = "") -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: the huge cases, fast
    text = yaml.dump(fields, Dumper=dumper, sort_keys=False, allow_unicode=True, width=1 << 30)
    return f"---\n{text}---\n{body}"


def article_file(relpath: str, fields: dict[str, Any], body: str = "") -> Callable[[Path], None]:
    return raw(relpath, front(fields, body))


# ---- good articles ----

GOOD_TOPICS = ("Hostile Safety", "Parsing", "Networking")
GOOD_PROVIDERS = (("Good Wire", "goodwire.example"), ("Calm Post", "calmpost.example"))


def good_fields(n: int) -> dict[str, Any]:
    name, domain = GOOD_PROVIDERS[n % len(GOOD_PROVIDERS)]
    return {
        "title": f"Good article {n:03d}: parsers & feeds",
        "excerpt": f"The {n}th good article, which must survive its neighbours.",
        "publishedDateTime": f"2024-03-{1 + n % 28:02d}T{n % 24:02d}:15:00Z",
        "webUrl": f"https://{domain}/good/{n}",
        "type": "article" if n % 3 else "video",
        "provider": {"name": name, "domain": domain},
        "topics": [GOOD_TOPICS[n % 3], GOOD_TOPICS[(n + 1) % 3]],
        "images": [{"url": f"https://img.{domain}/{n}.png", "width": 1200, "height": 630}],
        "related": [
            {"title": f"Related to {n}", "webUrl": f"https://{domain}/related/{n}"},
        ],
        "secured": SECURED_MARKER,
    }


def good_articles(count: int = 24) -> dict[str, tuple[dict[str, Any], str]]:
    """relpath -> (front matter, expected title) of `count` well-formed articles."""
    return {
        f"_good/2024-03-{1 + n % 28:02d}-good-{n:03d}.md": (
            good_fields(n),
            f"Good article {n:03d}: parsers & feeds",
        )
        for n in range(count)
    }


# ---- the hostile field values ----

DELETE = object()  # the field is left out

VARIANTS: dict[str, object] = {
    "missing": DELETE,
    "null": None,
    "empty": "",
    "list": ["a", "b"],
    "mapping": {"a": 1},
    "number": 12345,
    "float": 3.25,
    "bool": True,
    "date": date(2024, 1, 2),
    "nested": [[{"deep": [1, [2, {"x": None}]]}]],
}

TEXT = ("title", "excerpt", "type", "featuredContent", "length")
URLS = ("webUrl", "originalUrl")
FLAGS = ("published", "removed", "deleted")
FIELDS = (*TEXT, *URLS, *FLAGS, "publishedDateTime", "provider", "topics", "images", "related")
CONTAINERS = ("list", "mapping", "nested")


def _base(name: str) -> dict[str, Any]:
    return {
        "title": f"Hostile {name}",
        "excerpt": f"Excerpt of {name}: still here.",
        "publishedDateTime": "2024-02-01T10:00:00Z",
        "webUrl": f"https://hostile.example/{name}",
        "type": "article",
        "featuredContent": '<iframe src="https://www.youtube.com/embed/x"></iframe>',
        "length": "PT5M",
        "published": True,
        "removed": False,
        "deleted": False,
        "originalUrl": f"https://origin.example/{name}",
        "provider": {"name": "Hostile Times", "domain": "hostile.example"},
        "topics": ["Hostile Safety"],
        "images": ["https://img.hostile.example/a.png"],
        "related": [{"title": "Elsewhere", "webUrl": "https://elsewhere.example/x"}],
        "secured": SECURED_MARKER,
    }


def _expect(name: str, key: str, variant: str) -> tuple[str, str | None]:
    """What docs/content.md says comes of `key` set to `variant`: (outcome, field)."""
    absent = variant in ("missing", "null")
    if key in TEXT:
        if variant in (*CONTAINERS, "bool"):
            return REJECT, key
        return LOAD, None
    if key in URLS:
        if absent or variant == "empty":
            return LOAD, None
        return REJECT, key  # a list, a number, a date, true: never an http(s) URL
    if key in FLAGS:
        if absent:
            return LOAD, None
        if variant == "bool":  # true
            return (LOAD, None) if key == "published" else (HIDDEN, None)
        return REJECT, key
    if key == "publishedDateTime":
        if absent or variant == "empty":
            return UNDATED, key
        if variant == "date":
            return LOAD, None
        return REJECT, key
    if key == "topics":
        if absent or variant in ("empty", "list"):
            return LOAD, None
        return REJECT, key  # a mapping, a scalar that is no name, a list of lists
    if key == "images":
        if variant in ("bool", "number", "float", "date"):
            return REJECT, key
        return LOAD, None  # unusable entries are dropped with a warning
    if key == "provider":
        if absent or variant in ("empty", "mapping"):
            return LOAD, None
        return REJECT, key
    if key == "related":
        if absent or variant in ("list", "nested"):
            return LOAD, None  # unusable entries are dropped with a warning
        return REJECT, key
    raise AssertionError(key)


def field_cases() -> Iterator[Case]:
    """Every known field missing, empty, null and of each wrong type."""
    for key in FIELDS:
        for variant, value in VARIANTS.items():
            name = f"field-{key}-{variant}"
            fields = _base(name)
            if value is DELETE:
                fields.pop(key, None)
            else:
                fields[key] = value
            outcome, named = _expect(name, key, variant)
            body = f"Body of {name}."
            if outcome == REJECT:
                body += f" {REJECTED_MARKER}"
            if outcome == HIDDEN:
                fields["excerpt"] = f"{HIDDEN_MARKER} {name}"
                body += f" {HIDDEN_MARKER}"
            title = f"Hostile {name}"
            if key == "title" and outcome == LOAD:
                title = {
                    "number": "12345",
                    "float": "3.25",
                    "date": "2024-01-02",
                }.get(variant, f"Excerpt of {name}: still here.")
            web = fields["webUrl"] if key != "webUrl" else None
            url = web or (fields["originalUrl"] if key != "originalUrl" else None)
            relpath = f"fields/{key}/{variant}.md"
            if outcome == UNDATED:  # no date, and no date in the file name either
                relpath = f"fields/{key}/undated-{variant}.md"
            yield Case(
                name,
                relpath,
                outcome,
                article_file(relpath, fields, body),
                field=named if outcome in (REJECT, UNDATED) else None,
                title=title if outcome == LOAD else None,
                url=url or None,
            )


def alias_bomb(levels: int = 10) -> tuple[str, str]:
    """The billion laughs: 9**levels strings if ever expanded. Returns the YAML
    lines and the name of the top anchor."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n", f"a{levels - 1}"


BOMB, BOMB_TOP = alias_bomb()

GOOD_FRONT = "publishedDateTime: 2024-02-02T00:00:00Z\n"


def _fm(name: str, extra: str = "", title: str | None = None) -> str:
    """Front matter text (without the --- lines) of a small valid article."""
    title = title or f"Hostile {name}"
    return f"title: {title}\n{GOOD_FRONT}webUrl: https://hostile.example/{name}\n{extra}"


def structural_cases(outside: Path) -> Iterator[Case]:
    """Hand-written files that attack the reader, the YAML parser and the walk.
    `outside`: a folder beside the content folder holding the canary files."""

    def reject(name: str, relpath: str, data: str | bytes, reason: str, field: str | None = None):
        return Case(name, relpath, REJECT, raw(relpath, data), field=field, reason=reason)

    def load(name: str, relpath: str, data: str | bytes, title: str | None = None) -> Case:
        return Case(
            name,
            relpath,
            LOAD,
            raw(relpath, data),
            title=title or f"Hostile {name}",
            url=f"https://hostile.example/{name}",
        )

    bomb_uses = {
        "title": f"title: *{BOMB_TOP}\n",
        "topics": f"title: T\ntopics: *{BOMB_TOP}\n",
        "excerpt": f"title: T\nexcerpt: *{BOMB_TOP}\n",
        "provider": f"title: T\nprovider: *{BOMB_TOP}\n",
    }
    for key, use in bomb_uses.items():
        data = f"---\n{BOMB}{use}{GOOD_FRONT}---\n{REJECTED_MARKER}\n"
        yield reject(f"alias-bomb-{key}", f"yaml/alias-bomb-{key}.md", data, "", field=key)
    # An alias bomb where unusable entries are only dropped: it must load, fast.
    yield load(
        "alias-bomb-related",
        "yaml/alias-bomb-related.md",
        f"---\n{BOMB}{_fm('alias-bomb-related', f'related: *{BOMB_TOP}')}\n---\n",
    )
    yield load(
        "alias-bomb-images",
        "yaml/alias-bomb-images.md",
        f"---\n{BOMB}{_fm('alias-bomb-images', f'images: *{BOMB_TOP}')}\n---\n",
    )
    yield reject(
        "deep-flow-nesting",
        "yaml/deep-flow.md",
        "---\ntitle: T\ndeep: " + "[" * 50_000 + "]" * 50_000 + f"\n---\n{REJECTED_MARKER}\n",
        "YAML",
    )
    deep_block = "".join("  " * i + f"k{i}:\n" for i in range(2000)) + "  " * 2000 + "v\n"
    yield Case(  # libyaml may refuse the depth; either way the file alone is affected
        "deep-block-nesting",
        "yaml/deep-block.md",
        EITHER,
        raw(
            "yaml/deep-block.md",
            f"---\n{_fm('deep-block-nesting')}other:\n"
            + "".join("  " + line + "\n" for line in deep_block.splitlines())
            + "---\n",
        ),
        title="Hostile deep-block-nesting",
        url="https://hostile.example/deep-block-nesting",
    )
    yield reject(
        "multi-document",
        "yaml/multi-document.md",
        f"---\n{_fm('multi-document')}--- !second\nfoo: 1\n---\n{REJECTED_MARKER}\n",
        "",
    )
    yield reject(
        "three-documents",
        "yaml/three-documents.md",
        f"---\n{_fm('three-documents')}--- !b\ntitle: B\n--- !c\ntitle: C\n"
        f"---\n{REJECTED_MARKER}\n",
        "",
    )
    yield reject(
        "tab-indentation",
        "yaml/tab-indent.md",
        f"---\n{_fm('tab-indent')}provider:\n\tname: Tabbed\n---\n{REJECTED_MARKER}\n",
        "YAML",
    )
    yield load(
        "tabs-in-values",
        "yaml/tabs-in-values.md",
        f'---\n{_fm("tabs-in-values")}excerpt: "a\\tb"\t\n---\nbody\twith\ttabs\n',
    )
    yield load(
        "byte-order-mark",
        "enc/bom.md",
        b"\xef\xbb\xbf" + f"---\n{_fm('byte-order-mark')}---\nBody.\n".encode(),
    )
    yield load(
        "crlf",
        "enc/crlf.md",
        f"---\n{_fm('crlf')}excerpt: two\n---\nBody.\n".replace("\n", "\r\n"),
    )
    yield load(
        "crlf-and-bom",
        "enc/crlf-bom.md",
        b"\xef\xbb\xbf" + f"---\n{_fm('crlf-and-bom')}---\nB\n".replace("\n", "\r\n").encode(),
    )
    yield reject(
        "latin-1",
        "enc/latin-1.md",
        f"---\n{_fm('latin-1', 'excerpt: café crème')}---\n{REJECTED_MARKER}\n".encode("latin-1"),
        "not valid UTF-8",
    )
    yield reject(
        "invalid-utf-8",
        "enc/invalid-utf-8.md",
        b"---\ntitle: \xff\xfe\xc3\x28 broken\n---\n" + REJECTED_MARKER.encode(),
        "not valid UTF-8",
    )
    yield reject(
        "utf-16",
        "enc/utf-16.md",
        f"---\n{_fm('utf-16')}---\n{REJECTED_MARKER}\n".encode("utf-16"),
        "",
    )
    yield reject(
        "nul-bytes",
        "enc/nul.md",
        f"---\n{_fm('nul')}---\n".encode() + b"\x00\x01\x02" + REJECTED_MARKER.encode(),
        "binary",
    )
    yield reject("zero-bytes", "enc/zero-bytes.md", b"", "no front matter")
    yield reject("only-dashes", "enc/only-dashes.md", "---", "never closed")
    yield reject(
        "never-closed",
        "yaml/never-closed.md",
        f"---\n{_fm('never-closed')}\nbody {REJECTED_MARKER}\n" + "more body\n" * 1000,
        "never closed",
    )
    yield reject(
        "not-a-mapping",
        "yaml/not-a-mapping.md",
        f"---\n- just\n- a list\n---\n{REJECTED_MARKER}\n",
        "mapping",
    )
    yield reject(
        "python-tag",
        "yaml/python-tag.md",
        "---\ntitle: !!python/object/apply:os.system ['echo pwned']\n"
        f"{GOOD_FRONT}---\n{REJECTED_MARKER}\n",
        "YAML",
    )

    def sparse_50mb(root: Path) -> None:
        path = root / "huge/50mb.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(f"---\n{_fm('fifty')}---\n{REJECTED_MARKER}\n".encode())
            handle.truncate(50 * 1024 * 1024)  # sparse: no blocks written

    yield Case("sparse-50mb", "huge/50mb.md", REJECT, sparse_50mb, reason="limit")

    def symlink(relpath: str, target: Callable[[Path], Path]) -> Callable[[Path], None]:
        def make(root: Path) -> None:
            link = root / relpath
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target(root), link)

        return make

    canary_beside = outside / "canary.md"
    yield Case(
        "symlink-outside",
        "links/escape.md",
        REJECT,
        symlink("links/escape.md", lambda root: canary_beside),
        reason="outside",
    )
    yield Case(
        "symlink-outside-relative",
        "links/escape-relative.md",
        REJECT,
        symlink("links/escape-relative.md", lambda root: Path("../..", outside.name, "canary.md")),
        reason="outside",
    )
    yield Case(
        "symlink-to-etc-passwd",
        "links/passwd.md",
        REJECT,
        symlink("links/passwd.md", lambda root: Path("/etc/passwd")),
        reason="outside",
    )
    yield Case(
        "symlink-loop",
        "links/loop.md",
        REJECT,
        symlink("links/loop.md", lambda root: root / "links/loop.md"),
        reason="cannot read",
    )
    yield Case(
        "symlink-dangling",
        "links/dangling.md",
        REJECT,
        symlink("links/dangling.md", lambda root: root / "links/nowhere.md"),
        reason="",
    )
    # Folder links are never followed, in or out of the folder: no report, no loop.
    yield Case(
        "folder-symlink-loop", "links/self", IGNORED, symlink("links/self", lambda root: root)
    )
    yield Case(
        "folder-symlink-outside",
        "links/outside-folder",
        IGNORED,
        symlink("links/outside-folder", lambda root: outside),
    )
    yield Case(
        "folder-symlink-tmp",
        "links/tmp",
        IGNORED,
        symlink("links/tmp", lambda root: Path("/tmp")),
    )

    # File names.
    yield load("name-with-spaces", "names/a name with spaces.md",
               f"---\n{_fm('name-with-spaces', title='Hostile name with spaces')}---\n",
               title="Hostile name with spaces")  # fmt: skip
    yield load("non-ascii-name", "names/ünïcödé-日本語-😀.md",
               f"---\n{_fm('non-ascii-name', title='Hostile 日本語 name')}---\n",
               title="Hostile 日本語 name")  # fmt: skip
    yield Case(
        "leading-dot",
        "names/.hidden.md",
        IGNORED,
        raw("names/.hidden.md", f"---\n{_fm('dot', title=HIDDEN_MARKER)}---\n{HIDDEN_MARKER}\n"),
    )
    yield Case(
        "leading-dot-folder",
        ".git/COMMIT.md",
        IGNORED,
        raw(".git/COMMIT.md", f"---\n{_fm('dotdir', title=HIDDEN_MARKER)}---\n"),
    )
    yield Case(
        "not-an-article-suffix",
        "names/notes.txt",
        IGNORED,
        raw("names/notes.txt", f"---\n{_fm('txt', title=HIDDEN_MARKER)}---\n"),
    )

    # Two files claim one story: the newer one wins, the older one is a duplicate.
    older = f"---\ntitle: Hostile same-url older\npublishedDateTime: 2024-01-01\n" \
            f"webUrl: https://hostile.example/same-url\n---\n{HIDDEN_MARKER}\n"  # fmt: skip
    newer = "---\ntitle: Hostile same-url newer\npublishedDateTime: 2024-01-09\n" \
            "webUrl: HTTPS://HOSTILE.example/same-url/#frag\n---\n"  # fmt: skip
    yield Case("same-url-older", "dups/older.md", DUPLICATE, raw("dups/older.md", older))
    yield Case(
        "same-url-newer",
        "dups/newer.md",
        LOAD,
        raw("dups/newer.md", newer),
        title="Hostile same-url newer",
        url="HTTPS://HOSTILE.example/same-url/#frag",
    )

    # Unpublished and removed articles: their text must never be served.
    for flag in ("published: false", "removed: true", "deleted: true"):
        slug = flag.split(":")[0]
        yield Case(
            f"hidden-{slug}",
            f"hidden/{slug}.md",
            HIDDEN,
            raw(
                f"hidden/{slug}.md",
                f"---\ntitle: {HIDDEN_MARKER} {slug}\nexcerpt: {HIDDEN_MARKER}\n{flag}\n"
                f"{GOOD_FRONT}webUrl: https://hostile.example/{HIDDEN_MARKER}-{slug}\n"
                # a withdrawn article's topic and provider keep a feed, for its
                # retraction (RFC 6721); a draft's must not even have that
                f"topics: [{HIDDEN_MARKER if slug == 'published' else 'Withdrawn'}]\n"
                f"provider: {{name: P, domain: {slug}.hidden.example}}\n"
                f"---\n{HIDDEN_MARKER}\n",
            ),
        )
    # `secured` in the forms a hand-written file uses: never served.
    yield load(
        "sec-block",
        "private/block.md",
        f"---\n{_fm('sec-block')}secured: |\n  {SECURED_MARKER}\n  more\n---\n",
    )
    yield load(
        "sec-flow",
        "private/flow.md",
        f"---\n{_fm('sec-flow')}nested: {{secured: {SECURED_MARKER}}}\n"
        f'"secured": {SECURED_MARKER}\n---\n',
    )


def huge_cases() -> Iterator[Case]:
    """Big values under the file-size limit: loaded, cut to the documented limits."""

    def huge(name: str, extra: dict[str, Any], title: str | None = None, body: str = "") -> Case:
        fields = {**_base(name), **extra}
        if title is not None:
            fields["title"] = title
        relpath = f"huge/{name}.md"
        return Case(
            name,
            relpath,
            LOAD,
            article_file(relpath, fields, body),
            title=f"Hostile {name}" if title is None else None,
            url=fields["webUrl"],
        )

    yield huge("excerpt-1mb", {"excerpt": "word " * (1024 * 1024 // 5)})
    yield huge("topics-10000", {"topics": [f"Topic {n}" for n in range(10_000)]})
    yield huge(
        "related-5000",
        {
            "related": [
                {"title": f"Story {n}", "webUrl": f"https://related.example/{n}"}
                for n in range(5000)
            ]
        },
    )
    yield huge("images-1000", {"images": [f"https://img.example/{n}.png" for n in range(1000)]})
    yield huge("title-100kb", {}, title="Long " * 20_000)  # cut to 500 characters: title unknown
    yield huge("body-100kb", {}, body="A paragraph of *markdown* text.\n\n" * 3000)


def all_cases(outside: Path) -> list[Case]:
    return [*field_cases(), *structural_cases(outside), *huge_cases()]


def write_canaries(outside: Path) -> list[Path]:
    """Canary files beside the content folder: valid articles, so a loader that
    follows a link out of the folder would serve them."""
    outside.mkdir(parents=True, exist_ok=True)
    canary = outside / "canary.md"
    canary.write_text(
        f"---\ntitle: {CANARY}\nexcerpt: {CANARY}\npublishedDateTime: 2024-02-03\n"
        f"webUrl: https://canary.example/{CANARY}\ntopics: [{CANARY}]\n---\n{CANARY}\n"
    )
    return [canary]


def build_hostile_folder(root: Path, outside: Path, good: int = 24) -> list[Case]:
    """Write good articles and every hostile case under `root`; canaries in `outside`."""
    write_canaries(outside)
    root.mkdir(parents=True, exist_ok=True)
    for relpath, (fields, _) in good_articles(good).items():
        article_file(relpath, fields, "A **good** body.")(root)
    cases = all_cases(outside)
    for case in cases:
        case.write(root)
    return cases


# ---- a real `feeds serve` over a folder, for a whole test module ----


def launch(content: Path, logs: Path, *options: str, ready_within: float = 60.0) -> Any:
    """A `feeds serve` subprocess on a free loopback port, ready (/readyz 200).
    Returns conftest's FeedsServer; the caller stops it."""
    from conftest import start_feeds_server

    return start_feeds_server(content, logs, *options, ready_within=ready_within)


def rss_kib(pid: int, key: str = "VmHWM") -> int:
    """VmHWM (peak) or VmRSS (now) of a process, in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")
