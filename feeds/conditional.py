"""HTTP semantics for a published document: content coding and conditional GET
(RFC 9110 §8.4 and §13)."""

from __future__ import annotations

import re
from dataclasses import dataclass
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


# ---- a document ready to answer with: its headers built once, not per request ----

Headers = list[tuple[bytes, bytes]]
PREPARED_OVERHEAD = 4096  # bytes of a Prepared besides its bodies
IMMUTABLE_AGE = 365 * 24 * 3600  # a full archive page never changes


@dataclass(frozen=True, slots=True)
class Prepared:
    """A document with the response headers of each content coding, built when it
    is rendered: a cached answer then costs a lookup, not a round of formatting."""

    document: Document
    max_age: int
    ok: dict[str, Headers]  # content coding -> headers of a 200
    not_modified: dict[str, Headers]  # content coding -> headers of a 304

    @property
    def size(self) -> int:
        """Bytes it holds: its three bodies, and its headers and objects (measured
        with tracemalloc: about 3.5 KiB, with the cache's key and entry)."""
        document = self.document
        return len(document.body) + len(document.gzip) + len(document.br) + PREPARED_OVERHEAD


def prepare(document: Document, stale_while_revalidate: int, cors: bool) -> Prepared:
    if document.immutable:
        max_age, cache_control = IMMUTABLE_AGE, f"public, max-age={IMMUTABLE_AGE}, immutable"
    else:
        max_age = document.max_age
        cache_control = (
            f"public, max-age={max_age}, stale-while-revalidate={stale_while_revalidate}"
        )
    shared = [(b"cache-control", cache_control.encode()), (b"vary", b"Accept-Encoding")]
    if document.last_modified is not None:
        shared.append((b"last-modified", http_date(document.last_modified).encode()))
    if document.link:
        shared.append((b"link", document.link.encode()))
    if cors:
        shared.append((b"access-control-allow-origin", b"*"))
        shared.append((b"access-control-expose-headers", b"ETag, Last-Modified"))
    ok: dict[str, Headers] = {}
    not_modified: dict[str, Headers] = {}
    for coding in _SUFFIX:
        etag = [(b"etag", etag_for(document, coding).encode())]
        not_modified[coding] = etag + shared
        body = [
            (b"content-type", document.media_type.encode()),
            (b"content-length", str(len(body_for(document, coding))).encode()),
        ]
        if coding != "identity":
            body.append((b"content-encoding", coding.encode()))
        ok[coding] = etag + shared + body + [(b"x-content-type-options", b"nosniff")]
    return Prepared(document, max_age, ok, not_modified)


def answer(prepared: Prepared, request_headers: Headers, now: float) -> tuple[int, Headers, bytes]:
    """(status, headers, body) for a GET or HEAD with these raw request headers."""
    accept_encoding = if_none_match = if_modified_since = None
    for name, value in request_headers:
        if name == b"accept-encoding":
            accept_encoding = value.decode("latin-1")
        elif name == b"if-none-match":
            if_none_match = value.decode("latin-1")
        elif name == b"if-modified-since":
            if_modified_since = value.decode("latin-1")
    coding = choose_encoding(accept_encoding or "")
    expires = (b"expires", _expires(int(now), prepared.max_age))
    if not_modified(prepared.document, if_none_match, if_modified_since):
        return 304, [*prepared.not_modified[coding], expires], b""
    return 200, [*prepared.ok[coding], expires], body_for(prepared.document, coding)


@lru_cache(maxsize=64)
def _expires(second: int, max_age: int) -> bytes:
    return http_date(datetime.fromtimestamp(second + max_age, UTC)).encode()
