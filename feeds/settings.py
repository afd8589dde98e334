"""Configuration: defaults, overridden by FEEDS_* environment variables, overridden
by command-line options."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

_BUNDLED_CONTENT = Path(__file__).resolve().parent.parent / "content"


def _default_content() -> str:
    return str(_BUNDLED_CONTENT) if _BUNDLED_CONTENT.is_dir() else "content"


@dataclass(frozen=True)
class Settings:
    content: str = field(default_factory=_default_content, metadata={"help": "content folder"})
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=8000, metadata={"help": "port to listen on"})
    base_url: str = field(
        default="",
        metadata={"help": "public URL the feeds are reached at (default: http://HOST:PORT)"},
    )
    workers: int = field(default=1, metadata={"help": "worker processes"})
    site_title: str = field(
        default="Feeds", metadata={"help": "title of the site and its main feed"}
    )
    site_url: str = field(
        default="",
        metadata={
            "help": "URL that site-relative image URLs in the content resolve against "
            "(default: url + baseurl of the content's _config.yml)"
        },
    )
    language: str = field(default="en", metadata={"help": "language of the feeds"})
    items: int = field(default=50, metadata={"help": "items in a feed"})
    max_limit: int = field(default=200, metadata={"help": "largest limit= a request may ask for"})
    max_feed_bytes: int = field(
        default=512 * 1024,
        metadata={"help": "size budget of one feed document; older items are trimmed to fit"},
    )
    max_age: int = field(
        default=300,
        metadata={"help": "shortest Cache-Control max-age (and RSS ttl) of a feed, seconds"},
    )
    max_age_ceiling: int = field(
        default=3600,
        metadata={
            "help": "longest max-age of a feed that rarely gets new items, seconds; "
            "between the two, each feed's follows how often it gets new items"
        },
    )
    stale_while_revalidate: int = field(
        default=3600, metadata={"help": "Cache-Control stale-while-revalidate of feeds, seconds"}
    )
    websub_hub: str = field(
        default="",
        metadata={"help": "WebSub hub to advertise and to notify of changed feeds (off if empty)"},
    )
    retraction_days: int = field(
        default=30,
        metadata={"help": "days a withdrawn article is announced as deleted in Atom feeds"},
    )
    max_in_flight: int = field(
        default=512,
        metadata={"help": "requests handled at once; more get 503 with Retry-After"},
    )
    reload_interval: float = field(
        default=1.0,
        metadata={
            "help": "seconds to group file-system events of the content folder over "
            "(where events cannot be had: seconds between scans)"
        },
    )
    cache_bytes: int = field(
        default=64 * 1024 * 1024,
        metadata={
            "help": "bytes a worker keeps between requests: rendered documents, article "
            "HTML and the table of URLs already answered (see docs/deploy.md)"
        },
    )
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error"})
    access_log: bool = field(
        default=True, metadata={"help": "one line per request on stderr (true or false)"}
    )

    def __post_init__(self) -> None:
        if not self.base_url:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
            object.__setattr__(self, "base_url", f"http://{host}:{self.port}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        """Defaults, then FEEDS_<NAME> variables, then `overrides` (not None)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = environ.get(f"FEEDS_{spec.name.upper()}")
            if raw is not None and raw != "":
                values[spec.name] = _convert(spec.name, spec.type, raw)
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        for spec in fields(cls):
            option = "--" + spec.name.replace("_", "-")
            parser.add_argument(
                option,
                dest=spec.name,
                default=None,
                type=_PARSERS.get(str(spec.type), str),
                help=f"{spec.metadata.get('help', '')} [FEEDS_{spec.name.upper()}]",
            )

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> Settings:
        names = {spec.name for spec in fields(cls)}
        return cls.from_environment(**{k: v for k, v in vars(arguments).items() if k in names})

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(f"must be 1 or more, not {value}")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError(f"must be more than 0, not {value}")
    return value


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, not {raw!r}")


_PARSERS = {"int": _positive_int, "float": _positive_float, "bool": _boolean}


def _convert(name: str, kind: object, raw: str) -> Any:
    try:
        return _PARSERS.get(str(kind), str)(raw)
    except ValueError as error:
        raise SystemExit(f"FEEDS_{name.upper()}={raw!r}: {error}") from None
