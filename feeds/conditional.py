"""HTTP semantics for a published document: content coding and conditional GET
(RFC 9110 §8.4 and §13)."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache

from feeds.documents import Document

# The ETag of a compressed representation is the document's with a suffix:
# each representation has its own strong validator, and any of them validates
# the others, since they carry the same content.
_SUFFIX = {"identity": "", "gzip": "-gz", "br": "-br"}
MAX_VALIDATOR_LENGTH = 4096  # longer If-None-Match / If-Modified-Since headers are ignored


@lru_cache(maxsize=256)
def choose_encoding(accept_encoding: str) -> str:
    """br, gzip or identity, by the client's Accept-Encoding and our preference."""
    if not accept_encoding or len(accept_encoding) > 512:
        return "identity"
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        weight = 1.0
        params = params.strip().replace(" ", "")
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                weight = 0.0
        weights[name.strip()] = weight
    star = weights.get("*", 0.0)
    for coding in ("br", "gzip"):
        if weights.get(coding, star) > 0:
            return coding
    return "identity"


def body_for(document: Document, encoding: str) -> bytes:
    if encoding == "br":
        return document.br
    if encoding == "gzip":
        return document.gzip
    return document.body


def etag_for(document: Document, encoding: str) -> str:
    return document.etag[:-1] + _SUFFIX[encoding] + '"'


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def not_modified(
    document: Document, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """Whether a GET/HEAD with these headers gets 304 Not Modified.

    If-None-Match takes precedence; If-Modified-Since is only looked at without it.
    """
    if if_none_match is not None:
        return len(if_none_match) <= MAX_VALIDATOR_LENGTH and _matches(document.etag, if_none_match)
    if if_modified_since is None or document.last_modified is None:
        return False
    if len(if_modified_since) > 64:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError, OverflowError):
        return False  # an invalid date is ignored (RFC 9110 §13.1.3)
    if since.tzinfo is None:
        return False
    return document.last_modified.replace(microsecond=0) <= since


def _matches(etag: str, if_none_match: str) -> bool:
    """Weak comparison of our ETag against a list of entity tags, or `*`."""
    if if_none_match.strip() == "*":
        return True
    opaque = etag[1:-1]
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if len(candidate) < 2 or candidate[0] != '"' or candidate[-1] != '"':
            continue
        tag = candidate[1:-1]
        for suffix in ("-gz", "-br"):
            tag = tag.removesuffix(suffix)
        if tag == opaque:
            return True
    return False
