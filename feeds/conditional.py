"""HTTP semantics for a published document: content coding and conditional GET
(RFC 9110 §8.4 and §13)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache

from feeds.documents import Document

# The ETag of a compressed representation is the document's with a suffix:
# each representation has its own strong validator, and any of them validates
# the others, since they carry the same content.
_SUFFIX = {"identity": "", "gzip": "-gz", "br": "-br"}
MAX_VALIDATOR_LENGTH = 4096  # longer If-None-Match / If-Modified-Since headers are ignored


_CODINGS = ("br", "gzip")  # in order of preference


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
    # The client's highest qvalue wins; on a tie, our preference (smaller first).
    offers = [(weights.get(coding, star), -rank, coding) for rank, coding in enumerate(_CODINGS)]
    weight, _, coding = max(offers)
    return coding if weight > 0 else "identity"


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
    since = parse_http_date(if_modified_since)
    if since is None:
        return False  # an invalid date is ignored (RFC 9110 §13.1.3)
    return document.last_modified.replace(microsecond=0) <= since


# The three forms a recipient must accept (RFC 9110 §5.6.7).
_HTTP_DATE = re.compile(
    r"[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT"  # IMF-fixdate
    r"|[A-Z][a-z]{5,8}, [0-9]{2}-[A-Z][a-z]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT"  # rfc850
    r"|[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}"  # asctime
)


def parse_http_date(value: str) -> datetime | None:
    """An HTTP date in any of its three forms, in UTC; None when it is not one."""
    if len(value) > 64 or not _HTTP_DATE.fullmatch(value.strip()):
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
