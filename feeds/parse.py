"""One content file -> one `Article`, or the problems that keep it out.

A file is YAML front matter between two `---` lines, then an optional body
(Markdown, or HTML in `.html` files). Parsing never raises for bad input: every
failure becomes a `Problem` naming the file, the field and the reason.
"""

from __future__ import annotations

import hashlib
import re
import uuid
import zlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any, TypeVar

import yaml

from feeds.model import Article, Image, Problem, Provider, RelatedItem, Retraction, Severity
from feeds.text import (
    image_media_type,
    is_domain,
    is_web_url,
    plain_text,
    slugify,
    truncate,
    xml_safe,
)

# libyaml's loader is several times faster; both are safe loaders.
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ARTICLE_SUFFIXES = (".md", ".markdown", ".html")

# Limits that keep one hostile file from eating the server (also in the README).
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_TITLE_CHARS = 500
MAX_SUMMARY_CHARS = 4000
MAX_TOPICS = 50
MAX_IMAGES = 20
MAX_RELATED = 100  # real articles list up to dozens; none may vanish unsaid
MAX_BODY_CHARS = 512 * 1024
MAX_LIST_EXAMINED = 1000  # entries of a list field looked at; the rest are ignored
MAX_WARNINGS = 9  # per file; then one line says there were more

# `secured` holds an encrypted copy of the full text that must never be emitted.
# Removing the top-level key and every indented line after it (a value that
# continues on the next lines, a block scalar) before YAML sees it keeps it out
# of memory altogether, and skips the largest scalar in most files. A `secured`
# written any other way is still dropped right after parsing.
_SECURED_KEY = re.compile(r"^secured[ \t]*:[^\n]*(?:\n[ \t][^\n]*|\n(?=[ \t]*\n))*", re.M)
_JEKYLL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-")


class FieldError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """What one file yields: an article for the feeds, or why not."""

    article: Article | None = None  # None: rejected, undated or hidden
    hidden_id: str | None = None  # id of an article kept out by published/removed/deleted
    retraction: Retraction | None = None  # for an article removed or deleted
    problems: tuple[Problem, ...] = ()

    @property
    def rejected(self) -> bool:
        return self.article is None and self.hidden_id is None


def split_front_matter(text: str) -> tuple[str, str, int]:
    """(front matter, body, line number where the body starts).

    Raises ValueError when the file does not start with a `---` line or the front
    matter is never closed.
    """
    if not (text.startswith("---\n") or text.startswith("---\r\n") or text == "---"):
        raise ValueError("no front matter: the file must start with a '---' line")
    start = text.index("\n") + 1 if "\n" in text else len(text)
    end = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.M).search(text, start)
    if end is None:
        raise ValueError("front matter is never closed: no second '---' line")
    front = text[start : end.start()]
    body_start = text.find("\n", end.end())
    body = "" if body_start < 0 else text[body_start + 1 :]
    return front, body, front.count("\n") + 3


def parse_file(relpath: str, data: bytes, site_url: str | None = None) -> ParsedFile:
    """Parse one article file's bytes. `relpath` names it in every problem;
    site-relative image URLs resolve against `site_url`."""

    def reject(
        reason: str,
        field: str | None = None,
        line: int | None = None,
        kind: str = "invalid",
        column: int | None = None,
    ) -> ParsedFile:
        problem = Problem(relpath, reason, field, line, kind=kind, column=column)
        return ParsedFile(problems=(problem,))

    if len(data) > MAX_FILE_BYTES:
        return reject(
            f"file is {len(data)} bytes, over the {MAX_FILE_BYTES}-byte limit", kind="limit"
        )
    if b"\x00" in data:
        return reject("binary file (contains NUL bytes)", kind="unreadable")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return reject(
            f"not valid UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start})",
            kind="unreadable",
        )
    try:
        front, body, body_line = split_front_matter(text)
    except ValueError as error:
        return reject(str(error), line=1)
    if "secured" in front:
        # Blank lines stand in for the removed ones, so YAML's line numbers still hold.
        front = _SECURED_KEY.sub(lambda match: "\n" * match.group().count("\n"), front)
    try:
        fields = load_fields(front)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 2 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        return reject(f"YAML: {error.problem or error}", line=line, column=column)
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError) as error:
        return reject(f"YAML: {type(error).__name__}: {str(error)[:200]}")
    if not isinstance(fields, dict):
        return reject(f"front matter must be a mapping of fields, not {_kind(fields)}")

    problems: list[Problem] = []

    def warn(field: str, reason: str) -> None:
        if len(problems) > MAX_WARNINGS:
            return
        if len(problems) == MAX_WARNINGS:
            field, reason = "", "more fields were repaired or dropped: fix the ones above first"
        line = lines.get(field) or lines.setdefault(field, _line_of(front, field.split("[")[0]))
        problems.append(Problem(relpath, reason, field or None, line, Severity.WARNING, "repaired"))

    lines: dict[str, int | None] = {}

    try:
        withdrawn = (
            _flag(fields, "removed", default=False) is True
            or _flag(fields, "deleted", default=False) is True
        )
        hidden = withdrawn or _flag(fields, "published", default=True) is False
        web_url = _url(fields, "webUrl")
        original_url = _url(fields, "originalUrl")
        url = web_url or original_url
        canonical = canonical_url(url) if url else ""
        article_id = stable_id(canonical or f"file:{relpath}")
        if hidden:  # in no feed; a withdrawn one (never a draft) is announced as retracted
            draft = _flag(fields, "published", default=True) is False
            retraction = (
                _retraction(relpath, fields, article_id) if withdrawn and not draft else None
            )
            return ParsedFile(hidden_id=article_id, retraction=retraction)
        article = _build_article(
            relpath, fields, body, site_url, warn, article_id, url, original_url
        )
    except FieldError as error:
        line = _line_of(front, error.field.split(".")[0].split("[")[0])
        return ParsedFile(problems=(Problem(relpath, error.reason, error.field, line),))
    if article is None:
        reason = "no publishedDateTime and no YYYY-MM-DD- prefix in the file name"
        return ParsedFile(problems=(Problem(relpath, reason, "publishedDateTime", kind="undated"),))
    return ParsedFile(article=article, problems=tuple(problems))


def _build_article(
    relpath: str,
    fields: dict[Any, Any],
    body: str,
    site_url: str | None,
    warn: Callable[[str, str], None],
    article_id: str,
    url: str | None,
    original_url: str | None,
) -> Article | None:
    """The article, or None when it has no date."""
    title = plain_text(_string(fields, "title") or _string(fields, "name") or "")
    summary = plain_text(_string(fields, "excerpt") or "")
    if not title:
        if not summary:
            raise FieldError("title", "missing, and no excerpt to stand in for it")
        warn("title", "missing or blank: the start of the excerpt stands in")
        title = truncate(summary, 80)
    if len(title) > MAX_TITLE_CHARS:
        warn("title", f"longer than {MAX_TITLE_CHARS} characters: cut")
        title = truncate(title, MAX_TITLE_CHARS)
    if len(summary) > MAX_SUMMARY_CHARS:
        warn("excerpt", f"longer than {MAX_SUMMARY_CHARS} characters: cut")
        summary = truncate(summary, MAX_SUMMARY_CHARS)
    body = body.strip()
    if len(body) > MAX_BODY_CHARS:
        warn("body", f"longer than {MAX_BODY_CHARS} characters: cut")
        body = body[:MAX_BODY_CHARS].strip()

    published = _date(fields, "publishedDateTime")
    if published is None:
        published = _date_from_filename(relpath)
    if published is None:
        return None

    topics = _string_list(fields, "topics")
    if len(topics) > MAX_TOPICS:
        warn("topics", f"{len(topics)} topics: only the first {MAX_TOPICS} kept")
        topics = topics[:MAX_TOPICS]

    return Article(
        id=article_id,
        source=relpath,
        title=title,
        published=published,
        url=url,
        original_url=original_url if original_url and original_url != url else None,
        summary=summary,
        type=_shared(slugify(_string(fields, "type") or "article") or "article"),
        provider=_provider(fields.get("provider"), site_url, warn),
        topics=_shared(tuple(topics)),
        images=_images(fields, "images", site_url, warn),
        related=_related(fields.get("related"), url, warn),
        featured=_string(fields, "featuredContent") or "",
        body_z=_compressed(body),
        body_is_html=relpath.lower().endswith(".html"),
        duration=xml_safe(_string(fields, "length") or "")[:40],
    )


_T = TypeVar("_T", bound=Hashable)


@lru_cache(maxsize=4096)
def _shared(value: _T) -> _T:
    """One object for values many articles repeat (providers, topic lists, types)."""
    return value


def _compressed(body: str) -> bytes:
    # Level 1: a fifth of the bytes, as level 6 gives a sixth, at half its time.
    return zlib.compress(body.encode("utf-8"), 1) if body else b""


def _retraction(relpath: str, fields: dict[Any, Any], article_id: str) -> Retraction | None:
    """What a retraction needs; None when the file gives no date to put on it."""
    when = None
    for name in ("removedDateTime", "deletedDateTime", "modifiedDateTime", "publishedDateTime"):
        try:
            when = _date(fields, name)
        except FieldError:
            continue
        if when is not None:
            break
    when = when or _date_from_filename(relpath)
    if when is None:
        return None
    try:
        topics = tuple(_string_list(fields, "topics")[:MAX_TOPICS])
        provider = _provider(fields.get("provider"), None, lambda field, reason: None)
    except FieldError:
        topics, provider = (), None
    return Retraction(article_id, when, topics, provider)


# The fields an article is made of; the rest of the front matter is never built
# into Python objects (PyYAML's node composition is in C, construction is not).
ARTICLE_FIELDS = frozenset(
    {
        "title", "name", "excerpt", "publishedDateTime", "webUrl", "originalUrl", "type",
        "published", "removed", "deleted", "provider", "topics", "images", "related",
        "featuredContent", "length", "removedDateTime", "deletedDateTime", "modifiedDateTime",
    }
)  # fmt: skip


def load_fields(front: str) -> object:
    """The front matter's article fields, with PyYAML's safe loader.

    The document is composed whole (so its syntax is checked whole), but only the
    values of `ARTICLE_FIELDS` are constructed: `secured` never is, nor are the
    many fields no feed shows. Anything but a mapping is returned as it loads.
    """
    loader = _FieldsLoader(front)
    try:
        node = loader.get_single_node()
        if not isinstance(node, yaml.MappingNode):
            if node is None:
                return None
            _resolve_tags(node)
            return loader.construct_document(node)
        if any(_maybe_merge(key) for key, _ in node.value):
            _resolve_tags(node)  # merge keys: PyYAML's flattening reads resolved tags
            loader.flatten_mapping(node)
        fields: dict[str, object] = {}
        built: dict[int, object] = {}  # id(node) -> value: an alias is built once
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key in ARTICLE_FIELDS:
                fields[key] = _build(loader, value_node, built)
        return fields
    finally:
        loader.dispose()


# Composing calls the resolver, in Python, for every node of the document, most of
# which are never built. `_FieldsLoader` leaves plain scalars unresolved, and
# `_build` resolves the ones it builds, with the same table PyYAML would use.
_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_UNRESOLVED = "tag:feeds,unresolved"  # a plain scalar whose tag is not looked up yet
_IMPLICIT = SafeLoader.yaml_implicit_resolvers  # first character -> [(tag, regexp)]
_MERGE = "tag:yaml.org,2002:merge"
_MERGE_OR_VALUE = frozenset({_MERGE, "tag:yaml.org,2002:value"})


class _FieldsLoader(SafeLoader):  # type: ignore[valid-type,misc]
    def resolve(self, kind: type[yaml.Node], value: object, implicit: tuple[bool, bool]) -> str:
        # What Resolver.resolve returns for a safe loader (it has no path
        # resolvers), with the implicit-scalar lookup put off.
        if kind is yaml.ScalarNode:
            return _UNRESOLVED if implicit[0] else _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP

    def descend_resolver(self, current_node: object, current_index: object) -> None:
        pass  # only path resolvers need these, and a safe loader has none

    def ascend_resolver(self) -> None:
        pass


def _maybe_merge(key: yaml.Node) -> bool:
    """Whether a key is `<<` (plain, or tagged `!!merge`)."""
    return key.tag == _MERGE or (key.tag == _UNRESOLVED and key.value == "<<")


def _tag(node: yaml.ScalarNode) -> str:
    """A scalar's tag, looked up now if it was put off, with the table PyYAML uses."""
    if node.tag == _UNRESOLVED:
        value = node.value
        node.tag = _STR
        for tag, regexp in _IMPLICIT.get(value[:1], ()):
            if regexp.match(value):
                node.tag = tag
                break
    return node.tag  # type: ignore[no-any-return]


def _resolve_tags(root: yaml.Node) -> None:
    """Resolve every plain scalar under `root` (without recursion: aliases may loop)."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            _tag(node)
        elif isinstance(node, yaml.MappingNode):
            for pair in node.value:
                stack.extend(pair)
        else:
            stack.extend(node.value)


def _build(loader: yaml.SafeLoader, node: yaml.Node, built: dict[int, object]) -> object:
    """The value PyYAML's safe constructor makes of `node`: strings, lists and
    plain mappings built here, anything else by the constructor itself."""
    if type(node) is yaml.ScalarNode:
        return _scalar(loader, node)
    known = built.get(id(node), built)
    if known is not built:
        return known
    if type(node) is yaml.SequenceNode and node.tag == _SEQ:
        items: list[object] = []
        built[id(node)] = items  # before the items: a list may hold itself
        items.extend([_build(loader, item, built) for item in node.value])
        return items
    if type(node) is yaml.MappingNode and node.tag == _MAP and _plain_keys(node):
        mapping: dict[object, object] = {}
        built[id(node)] = mapping
        for key_node, item in node.value:
            mapping[_scalar(loader, key_node)] = _build(loader, item, built)
        return mapping
    # Other tags, merge keys, keys that are lists or mappings: PyYAML's own way.
    _resolve_tags(node)
    value: object = loader.construct_object(node, deep=True)
    built[id(node)] = value
    return value


def _scalar(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    return node.value if _tag(node) == _STR else loader.construct_object(node)


def _plain_keys(node: yaml.MappingNode) -> bool:
    """Whether every key is a scalar that is neither `<<` nor `=` (those change
    the mapping itself)."""
    for key_node, _ in node.value:
        if type(key_node) is not yaml.ScalarNode or _tag(key_node) in _MERGE_OR_VALUE:
            return False
    return True


def stable_id(key: str) -> str:
    """An id that never changes for the same story: a name-based (version 5) UUID of
    its URL, as `uuid.uuid5(uuid.NAMESPACE_URL, key)` makes it, made directly."""
    digest = bytearray(hashlib.sha1(_URL_NAMESPACE + key.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    hex_digits = digest.hex()
    return (
        f"urn:uuid:{hex_digits[:8]}-{hex_digits[8:12]}-{hex_digits[12:16]}-"
        f"{hex_digits[16:20]}-{hex_digits[20:]}"
    )


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes
_URL_PARTS = re.compile(r"([^:/?#]+):(//[^/?#]*)?([^?#]*)(\?[^#]*)?")


def canonical_url(url: str) -> str:
    """The URL that identifies a story: scheme and host lower-case, no fragment,
    no trailing slash."""
    match = _URL_PARTS.match(url)
    if match is None:
        return url
    scheme, authority, path, query = match.groups()
    return f"{scheme.lower()}:{(authority or '').lower()}{path.rstrip('/')}{query or ''}"


# ---- field readers: each returns the value or raises FieldError ----


def _kind(value: object) -> str:
    names = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "empty",
    }
    return names.get(type(value), type(value).__name__)


def _shown(value: object) -> str:
    """A scalar's value for a message; never str() of a container, which could
    expand a YAML alias bomb."""
    if isinstance(value, (str, int, float, date)):
        return f": {str(value)[:40]!r}"
    return ""


def _string(fields: dict[Any, Any], name: str, value: object = None) -> str | None:
    value = fields.get(name) if value is None else value
    if value is None:
        return None
    if isinstance(value, str):
        return value  # made XML-safe where it is used: plain_text, sanitize_html, URL checks
    if isinstance(value, (int, float, date)) and not isinstance(value, bool):
        return str(value)  # YAML reads `title: 1984` as a number
    raise FieldError(name, f"must be text, not {_kind(value)}")


def _flag(fields: dict[Any, Any], name: str, default: bool) -> bool:
    value = fields.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise FieldError(name, f"must be true or false, not {_kind(value)}{_shown(value)}")


def _url(fields: dict[Any, Any], name: str) -> str | None:
    value = _string(fields, name)
    if not value or not value.strip():
        return None
    value = value.strip()
    if not is_web_url(value):
        raise FieldError(name, f"not an absolute http(s) URL: {value[:80]!r}")
    return value


def _string_list(fields: dict[Any, Any], name: str) -> list[str]:
    value = fields.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise FieldError(name, f"must be a list of names, not {_kind(value)}")
    names: dict[str, None] = {}  # ordered, and a set: a list's `in` made 40k names quadratic
    for index, item in enumerate(value[:MAX_LIST_EXAMINED]):
        text = plain_text(_string(fields, f"{name}[{index}]", item) or "")
        if text:
            names[text] = None
    return list(names)


def _date(fields: dict[Any, Any], name: str) -> datetime | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise FieldError(name, f"not a date: {value[:40]!r}") from None
    else:
        raise FieldError(name, f"must be a date, not {_kind(value)}{_shown(value)}")
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise FieldError(name, f"out of range{_shown(value)}") from None
    if not 1900 <= moment.year <= 9998:
        raise FieldError(name, f"year {moment.year} is out of range")
    return moment


def _date_from_filename(relpath: str) -> datetime | None:
    match = _JEKYLL_DATE.match(relpath.rsplit("/", 1)[-1])
    if not match:
        return None
    try:
        year, month, day = map(int, match.groups())
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def _images(
    fields: dict[Any, Any], name: str, site_url: str | None, warn: Callable[[str, str], None]
) -> tuple[Image, ...]:
    value = fields.get(name)
    if value is None:
        return ()
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list):
        raise FieldError(name, f"must be a list of images, not {_kind(value)}")
    images: list[Image] = []
    for index, item in enumerate(value[:MAX_LIST_EXAMINED]):
        image = parse_image(item, base_url=site_url)
        if image is None:
            if not _site_relative(item):  # those need a site URL, not a fix in the file
                warn(f"{name}[{index}]", "not an image with an absolute http(s) url: dropped")
        elif image.url not in {seen.url for seen in images}:
            if len(images) == MAX_IMAGES:
                warn(name, f"{len(value)} listed: only the first {MAX_IMAGES} images kept")
                break
            images.append(image)
    return tuple(images)


def parse_image(item: object, base_url: str | None) -> Image | None:
    """An image given as a URL string or as {url, width, height}; site-relative
    URLs resolve against `base_url` when one is given."""
    size: dict[str, int | None] = {"width": None, "height": None}
    if isinstance(item, dict):
        url = item.get("url")
        for key in size:
            number = item.get(key)
            if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 100_000:
                size[key] = number
            elif isinstance(number, str) and number.isdigit() and 0 < int(number) < 100_000:
                size[key] = int(number)
    else:
        url = item
    if not isinstance(url, str):
        return None
    url = url.strip()
    if base_url and url.startswith("/") and not url.startswith("//"):
        url = base_url.rstrip("/") + url
    if not is_web_url(url):
        return None
    return Image(url=url, media_type=image_media_type(url), **size)


def _site_relative(item: object) -> bool:
    url = item.get("url") if isinstance(item, dict) else item
    return isinstance(url, str) and url.startswith("/") and not url.startswith("//")


def _provider(
    value: object, site_url: str | None, warn: Callable[[str, str], None]
) -> Provider | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise FieldError("provider", f"must be a mapping with name and domain, not {_kind(value)}")
    name = plain_text(_string(value, "name") or "")
    domain = (_string(value, "domain") or "").strip().lower()
    if domain and not is_domain(domain):
        raise FieldError("provider.domain", f"not a domain name: {domain[:80]!r}")
    slug = domain or slugify(name)
    if not slug:
        warn("provider", "has neither a domain nor a name: ignored")
        return None
    images = _images(value, "images", site_url, lambda f, r: warn(f"provider.{f}", r))
    return _shared(Provider(slug=slug, name=name or domain, domain=domain, images=images))


def _related(
    value: object, own_url: str | None, warn: Callable[[str, str], None]
) -> tuple[RelatedItem, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FieldError("related", f"must be a list of stories, not {_kind(value)}")
    items: list[RelatedItem] = []
    seen = {own_url}
    for index, entry in enumerate(value[:MAX_LIST_EXAMINED]):
        if not isinstance(entry, dict):
            warn(f"related[{index}]", f"must be a mapping, not {_kind(entry)}: dropped")
            continue
        url = entry.get("webUrl") or entry.get("originalUrl")
        title = entry.get("title")
        if not (isinstance(url, str) and is_web_url(url.strip()) and isinstance(title, str)):
            warn(f"related[{index}]", "needs a title and an absolute http(s) webUrl: dropped")
            continue
        url = url.strip()
        if url in seen:
            continue  # the same story listed twice, or the article itself
        seen.add(url)
        if len(items) == MAX_RELATED:
            warn("related", f"{len(value)} listed: only the first {MAX_RELATED} stories kept")
            break
        provider = entry.get("provider")
        provider_name = provider.get("name") if isinstance(provider, dict) else provider
        try:
            published = _date(entry, "publishedDateTime")
        except FieldError:
            published = None
        items.append(
            RelatedItem(
                title=truncate(plain_text(title), MAX_TITLE_CHARS) or url,
                url=url,
                provider_name=plain_text(provider_name) if isinstance(provider_name, str) else "",
                published=published,
            )
        )
    return tuple(items)


def _line_of(front: str, field: str) -> int | None:
    """The file line of a top-level field (front matter starts on line 2)."""
    match = re.search(rf"^{re.escape(field)}[ \t]*:", front, re.M)
    return front.count("\n", 0, match.start()) + 2 if match else None
