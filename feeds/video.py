"""Videos of an article, and the poster that stands for each in a feed's HTML.

Feed readers strip `<iframe>` (and the W3C validator warns on it), so a player
embedded in a body or in `featuredContent` never reaches a subscriber as it is.
Each one becomes a `Video`: the player's URL goes where readers look for it
(Media RSS, the JSON Feed `_media` extension), and the HTML shows a poster: the
thumbnail inside a link to the video's page, with the title, which every reader
can show. An article with no embed whose own link is a video page (a YouTube
watch URL) gets the same.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from feeds.text import is_embed_url, is_web_url


@dataclass(frozen=True, slots=True)
class Video:
    url: str  # the video's page: what the poster links to
    player: str  # the embed URL of its player
    title: str
    thumbnail: str | None = None  # a still of the video, else the article's own image


_YOUTUBE_HOSTS = frozenset({"www.youtube.com", "youtube.com", "m.youtube.com"})
_YOUTUBE_EMBED_HOSTS = _YOUTUBE_HOSTS | {"www.youtube-nocookie.com", "youtube-nocookie.com"}
_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{6,20}")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _youtube(video_id: str) -> tuple[str, str, str]:
    """(page, player, thumbnail) of a YouTube video."""
    return (
        f"https://www.youtube.com/watch?v={video_id}",
        f"https://www.youtube.com/embed/{video_id}",
        f"https://i.ytimg.com/vi/{video_id}/hqdefault.jpg",
    )


def video_of_player(player: str, title: str, image: str | None) -> Video:
    """The video an embedded player (an allow-listed iframe `src`) shows.

    `image` (the article's own) is the thumbnail where the host gives none.
    """
    parts = urlsplit(player)
    host = parts.hostname or ""
    path = parts.path.rstrip("/")
    query = parse_qs(parts.query)
    page = player
    if host in _YOUTUBE_EMBED_HOSTS:
        video_id = path.removeprefix("/embed/")
        if path.startswith("/embed/") and _YOUTUBE_ID.fullmatch(video_id):
            page, _, thumbnail = _youtube(video_id)
            return Video(page, player, title, thumbnail)
        if "list" in query and _ID.fullmatch(query["list"][0]):
            page = f"https://www.youtube.com/playlist?list={query['list'][0]}"
    elif host == "player.vimeo.com" and (found := re.fullmatch(r"/video/([0-9]+)", path)):
        page = f"https://vimeo.com/{found[1]}"
    elif host == "www.loom.com" and (found := re.fullmatch(r"/embed/([0-9a-f]+)", path)):
        page = f"https://www.loom.com/share/{found[1]}"
    elif host == "www.dailymotion.com" and (found := re.fullmatch(r"/embed/video/(\w+)", path)):
        page = f"https://www.dailymotion.com/video/{found[1]}"
    elif host == "player.twitch.tv":
        if _ID.fullmatch(video := query.get("video", [""])[0]):
            page = f"https://www.twitch.tv/videos/{video.removeprefix('v')}"
        elif _ID.fullmatch(channel := query.get("channel", [""])[0]):
            page = f"https://www.twitch.tv/{channel}"
    elif host == "channel9.msdn.com" and path.endswith("/player"):
        page = f"https://channel9.msdn.com{path.removesuffix('/player')}"
    return Video(page, player, title, image)


def video_of_page(url: str | None, title: str, image: str | None) -> Video | None:
    """The video a link leads to, when it is a video page (YouTube, Vimeo,
    Dailymotion, Loom); else None."""
    if not url:
        return None
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = parts.path.rstrip("/")
    video_id = ""
    if host in _YOUTUBE_HOSTS:
        if path == "/watch":
            video_id = parse_qs(parts.query).get("v", [""])[0]
        elif path.startswith(("/shorts/", "/live/")):
            video_id = path.split("/")[2]
    elif host == "youtu.be":
        video_id = path.lstrip("/")
    if video_id:
        if not _YOUTUBE_ID.fullmatch(video_id):
            return None
        page, player, thumbnail = _youtube(video_id)
        return Video(page, player, title, thumbnail)
    if host in ("vimeo.com", "www.vimeo.com") and (found := re.fullmatch(r"/([0-9]+)", path)):
        return Video(url, f"https://player.vimeo.com/video/{found[1]}", title, image)
    if host == "www.dailymotion.com" and (found := re.fullmatch(r"/video/(\w+)", path)):
        return Video(url, f"https://www.dailymotion.com/embed/video/{found[1]}", title, image)
    if host == "www.loom.com" and (found := re.fullmatch(r"/share/([0-9a-f]+)", path)):
        return Video(url, f"https://www.loom.com/embed/{found[1]}", title, image)
    return None


# Sanitized HTML (nh3's output) writes every iframe as `<iframe ...></iframe>`,
# attributes double-quoted and escaped.
_IFRAME = re.compile(r"<iframe\b([^>]*)>.*?</iframe>", re.S | re.I)
_ATTRIBUTE = re.compile(r'\b(src|title)="([^"]*)"')


def with_posters(fragment: str, title: str, image: str | None) -> tuple[str, tuple[Video, ...]]:
    """Sanitized HTML with each embedded player replaced by its poster, and the
    videos, in document order. `title` and `image` are the article's: the
    video's title and thumbnail where the embed gives none."""
    if "<iframe" not in fragment:
        return fragment, ()
    videos: list[Video] = []

    def poster(match: re.Match[str]) -> str:
        attributes = {name: html.unescape(value) for name, value in _ATTRIBUTE.findall(match[1])}
        player = attributes.get("src", "")
        if not is_embed_url(player):
            return ""
        video = video_of_player(player, attributes.get("title", "").strip() or title, image)
        videos.append(video)
        return poster_html(video)

    return _IFRAME.sub(poster, fragment), tuple(videos)


def poster_html(video: Video) -> str:
    """The video's thumbnail inside a link to its page, and a text link with its
    title: what every reader shows (no script, no iframe). Inline, as the
    iframe it replaces was."""
    page = html.escape(video.url)
    label = html.escape(video.title, quote=False)
    link = f'<a href="{page}">Watch the video: {label}</a>'
    if not video.thumbnail or not is_web_url(video.thumbnail):
        return link
    image = f'<img src="{html.escape(video.thumbnail)}" alt="{html.escape(video.title)}">'
    return f'<a href="{page}">{image}</a><br>{link}'
