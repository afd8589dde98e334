"""Every error the service raises on purpose, so callers can catch precisely."""

from __future__ import annotations


class FeedsError(Exception):
    """Base of all errors of this package."""


class ContentError(FeedsError):
    """The content folder as a whole cannot be read (missing, not a folder, no permission)."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason  # without the path: fit for a public status page


class NotLoaded(FeedsError):
    """No snapshot has been loaded yet."""


class UnknownFeed(FeedsError, LookupError):
    """No topic or provider of that slug."""


class BadParameter(FeedsError, ValueError):
    """A request parameter with a value the service cannot use."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason
