"""`feeds serve`: the app under uvicorn, with limits suited to the open internet."""

from __future__ import annotations

import logging
import os
from dataclasses import fields

import uvicorn

from feeds.settings import Settings

log = logging.getLogger("feeds.server")


def run_server(settings: Settings) -> int:
    """Serve until SIGTERM or SIGINT; uvicorn finishes in-flight requests first."""
    # Worker processes build their app from the environment: hand the settings over.
    for spec in fields(settings):
        os.environ[f"FEEDS_{spec.name.upper()}"] = str(getattr(settings, spec.name))
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        "feeds.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=True,
        proxy_headers=True,
        server_header=False,
        # Slow or abusive clients: bounded headers, idle connections closed.
        h11_max_incomplete_event_size=16 * 1024,
        timeout_keep_alive=15,
        timeout_graceful_shutdown=10,
        limit_concurrency=2048,
        backlog=2048,
    )
    return 0
