"""Topic and provider taxonomies from `_data/topics/` and `_data/organizations/`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from feeds.model import Image, Problem, Provider, Severity, Topic
from feeds.parse import MAX_FILE_BYTES, SafeLoader, parse_image, split_front_matter
from feeds.text import is_domain, plain_text, slugify

TAXONOMY_DIR = "_data"


@dataclass(frozen=True)
class Taxonomy:
    topics: dict[str, Topic] = field(default_factory=dict)  # by slug
    providers: dict[str, Provider] = field(default_factory=dict)  # by slug (domain)
    problems: tuple[Problem, ...] = ()


def load_taxonomy(root: Path, site_url: str | None) -> Taxonomy:
    """Read the taxonomies under `root/_data`; a missing folder is an empty taxonomy.

    Site-relative logo URLs (`/assets/...`) resolve against `site_url`; without
    one they are dropped, since a feed needs absolute URLs.
    """
    problems: list[Problem] = []
    topics: dict[str, Topic] = {}
    providers: dict[str, Provider] = {}
    raw_parents: dict[str, str] = {}

    for path, fields in _entries(root / TAXONOMY_DIR / "topics", root, problems):
        relpath = path.relative_to(root).as_posix()
        name = plain_text(_text(fields.get("name")) or _text(fields.get("_id")))
        slug = slugify(_text(fields.get("_id")) or name)
        if not slug:
            problems.append(Problem(relpath, "needs an _id or a name", "_id"))
            continue
        parent = fields.get("parent")
        if isinstance(parent, str) and parent.strip():
            raw_parents[slug] = parent
        topics[slug] = Topic(
            slug=slug,
            name=name or slug,
            keywords=tuple(
                str(k) for k in _list(fields.get("keywords")) if isinstance(k, (str, int))
            ),
            images=_images(fields.get("images"), site_url),
        )

    # `parent` may name a topic by name or by _id.
    by_name = {topic.name.casefold(): slug for slug, topic in topics.items()}
    for slug, parent in raw_parents.items():
        parent_slug = by_name.get(parent.strip().casefold()) or slugify(parent)
        topic = topics[slug]
        topics[slug] = Topic(topic.slug, topic.name, parent_slug, topic.keywords, topic.images)

    for path, fields in _entries(root / TAXONOMY_DIR / "organizations", root, problems):
        relpath = path.relative_to(root).as_posix()
        domain = (_text(fields.get("domain")) or _text(fields.get("_id"))).strip().lower()
        if not is_domain(domain):
            problems.append(Problem(relpath, "needs a domain name (or an _id)", "domain"))
            continue
        providers[domain] = Provider(
            slug=domain,
            name=plain_text(_text(fields.get("name")) or domain),
            domain=domain,
            description=plain_text(_text(fields.get("description"))),
            images=_images(fields.get("images"), site_url),
        )
    return Taxonomy(topics, providers, tuple(problems))


def site_url_from_config(root: Path) -> str | None:
    """The site URL a Jekyll `_config.yml` gives (`url` + `baseurl`), if any."""
    try:
        config = yaml.load((root / "_config.yml").read_text(encoding="utf-8"), Loader=SafeLoader)
    except (OSError, ValueError, yaml.YAMLError):
        return None
    if not isinstance(config, dict) or not isinstance(config.get("url"), str):
        return None
    base = config.get("baseurl") if isinstance(config.get("baseurl"), str) else ""
    return config["url"].rstrip("/") + "/" + base.strip("/") if base else config["url"].rstrip("/")


def _entries(
    folder: Path, root: Path, problems: list[Problem]
) -> list[tuple[Path, dict[str, Any]]]:
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.iterdir()):
        if (
            path.name.startswith(".")
            or path.suffix not in (".yaml", ".yml", ".md")
            or not path.is_file()
        ):
            continue
        relpath = path.relative_to(root).as_posix()
        if not path.resolve().is_relative_to(root.resolve()):
            problems.append(Problem(relpath, "symlink leads outside the content folder: not read"))
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"file is over the {MAX_FILE_BYTES}-byte limit")
            text = path.read_text(encoding="utf-8-sig")
            if path.suffix == ".md":
                text = split_front_matter(text)[0]
            fields, extra = _first_document(text)
        except (OSError, ValueError, yaml.YAMLError, RecursionError) as error:
            problems.append(Problem(relpath, f"cannot read taxonomy entry: {error}"[:300]))
            continue
        if extra:
            # Jekyll reads the first document and ignores empty ones after it
            # (a stray `---` line at the end); so do we, and say so.
            problems.append(
                Problem(
                    relpath,
                    "an empty YAML document after the first (a stray '---' line): ignored",
                    severity=Severity.WARNING,
                    kind="repaired",
                )
            )
        if not isinstance(fields, dict):
            problems.append(Problem(relpath, "taxonomy entry must be a mapping"))
            continue
        entries.append((path, fields))
    return entries


def _first_document(text: str) -> tuple[object, int]:
    """The first YAML document of `text`, and how many empty ones follow it.

    Raises ValueError when a later document holds anything: which one counts
    would be a guess.
    """
    documents = yaml.load_all(text, Loader=SafeLoader)  # noqa: S506 - a safe loader
    first = next(documents, None)
    empty = 0
    for document in documents:
        if document is not None:
            raise ValueError("more than one YAML document: only one mapping is read")
        empty += 1
    return first, empty


def _text(value: object) -> str:
    """A scalar as text; "" for anything else (never str() of a container, which
    could expand a YAML alias bomb)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    return str(value)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _images(value: object, site_url: str | None) -> tuple[Image, ...]:
    images = (parse_image(item, site_url) for item in _list(value))
    found = [image for image in images if image is not None]
    # Smallest first, so that `Provider.logo` (the last) is the largest.
    return tuple(sorted(found, key=lambda image: (image.width or 0) * (image.height or 0)))
