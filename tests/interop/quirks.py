"""Every parser quirk the interop suite allows for, in one place.

Two kinds, both listed with their parser version in README.md:

- `undo(parser, item, atom)`: a parser transforms a value our feed states
  correctly (escapes it, decodes it, appends to it); the function reverses that
  one transformation and nothing else, so a wrong value still differs.
- `known_loss(parser, field, expected)`: a parser cannot give a value at all
  (returns it empty) for a reason stated here; the comparison accepts an empty
  value for that parser, that field and values of that shape only, and the
  suite's line counts every such case.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

Item = dict[str, Any]


def _simplepie(item: Item, atom: bool) -> Item:
    """SimplePie 1.3.1 (Debian's libphp-simplepie) returns every value as HTML:

    - titles and links (get_title, get_permalink, get_links) HTML-escaped
      (`&` as `&amp;`);
    - enclosure URLs (SimplePie_Enclosure::get_link) HTML-escaped, with `#`
      appended (`?#` when the URL has no query), then percent-decoded
      (urldecode): here they are unescaped, the suffix removed and the URL
      percent-encoded again, keeping the characters RFC 3986 allows in a URL.
    """
    unescape = _unescape
    return item | {
        "link": unescape(item["link"]),
        "title": unescape(item["title"]),
        "related": None if item["related"] is None else [unescape(u) for u in item["related"]],
        "enclosures": [
            enclosure | {"url": _simplepie_enclosure_url(enclosure["url"])}
            for enclosure in item["enclosures"]
        ],
    }


def _unescape(value: str | None) -> str | None:
    return html.unescape(value) if value else value


def _simplepie_enclosure_url(url: str) -> str:
    if not url:
        return url
    url = html.unescape(url)
    url = url.removesuffix("?#") if url.endswith("?#") else url.removesuffix("#")
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


UNDO: dict[str, Callable[[Item, bool], Item]] = {
    "SimplePie": _simplepie,
}


def undo(parser: str, item: Item, atom: bool) -> Item:
    """The item as the parser would give it without its known transformations."""
    transform = UNDO.get(parser)
    return transform(item, atom) if transform else item


def _path_starts_with_two_slashes(url: str) -> bool:
    """SimplePie 1.3.1's SimplePie_IRI rejects a URL whose path starts with
    `//` (`https://host//a/b.png`, valid under RFC 3986, common in the
    powerapps corpus): the enclosure comes back with an empty URL."""
    return urlsplit(url).path.startswith("//")


LOSSES: dict[tuple[str, str], Callable[[str], bool]] = {
    ("SimplePie", "image enclosure"): _path_starts_with_two_slashes,
}


def known_loss(parser: str, field: str, expected: Any) -> bool:
    """Whether `parser` is known to give `field` empty when it is `expected`."""
    shape = LOSSES.get((parser, field))
    return bool(shape and isinstance(expected, str) and shape(expected))
