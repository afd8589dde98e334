"""Text that is safe to put in a feed: XML-legal, sanitized, plain where it must be."""

from __future__ import annotations

import hashlib
import html
import mimetypes
import re
import unicodedata
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

import nh3
from markdown_it import MarkdownIt

# XML 1.0 allows TAB, LF, CR, U+0020..U+D7FF, U+E000..U+FFFD, U+10000 and up.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# A tag starts with a letter, '/' or '!': "a <= b" and "x < y > z" are text. A
# tag left open at the end is a tag too.
_TAG = re.compile(r"<[A-Za-z/!][^<>]*(?:>|(?=<)|$)")
# C1 controls are legal XML but never meant in text: a sign of garbled encoding.
_C1_CONTROLS = re.compile("[\x7f-\x9f]")
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
_SPACE = re.compile(r"\s+")


def xml_safe(text: str) -> str:
    """Drop every character XML 1.0 does not allow."""
    return _XML_ILLEGAL.sub("", text)


def plain_text(text: str) -> str:
    """Text for a title or summary: tags removed, entities decoded, spaces folded.

    Excerpts arrive with HTML, entities and trailing newlines; a title must never
    show a raw tag or a double-escaped entity.
    """
    # Controls go before tags are looked for ("<\x1fimg ...>" is a tag once the
    # control is gone), and entities are decoded before, too, so that an escaped
    # tag (&lt;script&gt;) is removed as a tag.
    text = _without_controls(text)
    if "&" in text:
        text = html.unescape(text)
        if "&" in text and _ENTITY.search(text):
            text = html.unescape(text)  # escaped twice, as some excerpts are
        text = _without_controls(text)  # &#1; decodes to one
    if "<" in text:
        text = _TAG.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def _without_controls(text: str) -> str:
    return _C1_CONTROLS.sub(" ", xml_safe(text))


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut + "…"


_WORD = re.compile(r"\w+")


def search_words(text: str) -> list[str]:
    """The words of `text` as searches compare them: case-folded, accents removed
    ("Résumé" -> "resume"), split at anything that is not a letter or digit."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    if not folded.isascii():
        folded = "".join(char for char in folded if not unicodedata.combining(char))
    return _WORD.findall(folded)


def slugify(name: str) -> str:
    """A URL-safe slug: lower-case ASCII letters, digits and single hyphens.

    A name with no Latin letter or digit (e.g. "人工知能") gets a slug made from
    a hash of it, so that two such names never share a slug.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:80].strip("-")
    if not slug and name.strip():
        slug = "x-" + hashlib.blake2b(name.strip().encode(), digest_size=5).hexdigest()
    return slug


# Video hosts whose players may be embedded; any other iframe is dropped.
EMBED_HOSTS = frozenset(
    {
        "www.youtube.com",
        "youtube.com",
        "www.youtube-nocookie.com",
        "player.vimeo.com",
        "www.loom.com",
        "player.twitch.tv",
        "www.dailymotion.com",
        "channel9.msdn.com",
        "learn.microsoft.com",
        "docs.microsoft.com",
    }
)

_ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "iframe",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "iframe": {"src", "width", "height", "title", "allow", "allowfullscreen", "frameborder"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "abbr": {"title"},
    "q": {"cite"},
    "blockquote": {"cite"},
}
_URL_SCHEMES = {"http", "https", "mailto"}


def _keep_attribute(element: str, attribute: str, value: str) -> str | None:
    if element == "iframe" and attribute == "src":
        value = _unwrapped_embed(value)
        return value if is_embed_url(value) else None
    return value


def _unwrapped_embed(src: str) -> str:
    """The player inside an Embedly wrapper (`cdn.embedly.com/widgets/media.html?src=...`),
    as some sites embed YouTube; any other `src` as it is."""
    parts = urlsplit(src.strip())
    if parts.hostname == "cdn.embedly.com":
        return parse_qs(parts.query).get("src", [""])[0]
    return src


def is_embed_url(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme == "https" and parts.hostname in EMBED_HOSTS


MAX_NESTING = 256  # elements inside elements; real articles stay far below
_TAG_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^<>]*?(/?)>")
_VOID_ELEMENTS = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)


def _nesting_depth(fragment: str) -> int:
    """How deep elements nest, told from the tags alone (a cheap upper bound)."""
    depth = deepest = 0
    for closing, name, self_closing in _TAG_TOKEN.findall(fragment):
        if closing:
            depth = max(depth - 1, 0)
        elif not self_closing and name.lower() not in _VOID_ELEMENTS:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


_IFRAME_WITHOUT_SRC = re.compile(r"<iframe(?![^>]*\bsrc=)[^>]*>\s*</iframe>")


def sanitize_html(fragment: str, base: str | None = None) -> str:
    """HTML fit for a feed: no script, no event handler, no javascript: URL,
    iframes only from the allow-listed video hosts. Relative URLs resolve against
    `base` (the article's page); without one they are dropped, since a reader
    would resolve them against the feed's URL. Not cached here: an article's
    whole HTML is (feeds.feed.HTML_CACHE), within its share of --cache-bytes."""
    if not fragment:
        return ""
    # A depth is at most the number of tags that open: most fragments have too few
    # for the count of them by tag (as long as the sanitizer's own work) to be needed.
    if fragment.count("<") - fragment.count("</") > MAX_NESTING and (
        _nesting_depth(fragment) > MAX_NESTING
    ):
        # The sanitizer's time grows with the square of the depth: such a body
        # is shown as its text.
        return f"<p>{html.escape(plain_text(fragment), quote=False)}</p>"
    cleaned = nh3.clean(
        xml_safe(fragment),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        attribute_filter=_keep_attribute,
        link_rel="noopener noreferrer",
        strip_comments=True,
        url_relative=("rewrite_with_base", base) if base else "deny",
    )
    # An iframe whose src was refused is an empty box: drop it.
    return _IFRAME_WITHOUT_SRC.sub("", cleaned).strip()


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "linkify": False})


def markdown_to_html(source: str, base: str | None = None) -> str:
    """Markdown body to sanitized HTML (relative URLs as `sanitize_html` does)."""
    if not source.strip():
        return ""
    return sanitize_html(_markdown().render(source), base)


_IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
    ".bmp": "image/bmp",
    ".ico": "image/vnd.microsoft.icon",
}


_URL_PATH_EXTENSION = re.compile(r"^[a-z]+://[^/?#]*[^?#]*?(\.[A-Za-z0-9]{1,5})?(?:[?#]|$)", re.I)


def image_media_type(url: str) -> str:
    """The media type told from the URL's path (query ignored); image/jpeg if unknown."""
    match = _URL_PATH_EXTENSION.match(url)
    extension = (match.group(1) or "").lower() if match else ""
    known = _IMAGE_TYPES.get(extension) or mimetypes.types_map.get(extension, "")
    return known if known.startswith("image/") else "image/jpeg"


# Characters no URL may hold: controls (C0, C1), space, XML-illegal code points,
# and the delimiters RFC 3986 excludes (< > " ` { } | \ ^).
_NOT_IN_URL = '\\x00-\\x20\\x7f-\\x9f<>"`{}|\\\\^\\ud800-\\udfff\\ufffe\\uffff'
_WEB_URL = re.compile(
    rf"https?://[^{_NOT_IN_URL}/?#@:\[\]]+(?::[0-9]{{1,5}})?(?:[/?#][^{_NOT_IN_URL}]*)?", re.I
)
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")


def is_domain(name: str) -> bool:
    return len(name) <= 253 and _DOMAIN.fullmatch(name) is not None


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a host, and no space or control character in
    it: the only kind a feed may link to."""
    return _WEB_URL.fullmatch(url) is not None
