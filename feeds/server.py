"""`feeds serve`: the app under uvicorn, with limits suited to the open internet."""

from __future__ import annotations

import copy
import logging
import os
import signal
import sys
from dataclasses import fields

import uvicorn

from feeds.protocol import GuardedHttpToolsProtocol
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
    # All logs on stderr (uvicorn's default puts its access log on stdout; the
    # service writes its own access log: feeds/accesslog.py).
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again to
    # end the process; a shutdown that went well should exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "feeds.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=log_config,
        access_log=False,  # the app's own, cheaper one (feeds/accesslog.py)
        proxy_headers=True,
        server_header=False,
        # Slow or abusive clients: bounded headers, idle connections closed.
        http=GuardedHttpToolsProtocol,  # bounded request heads, and a deadline for them
        timeout_keep_alive=15,
        timeout_graceful_shutdown=10,
        limit_concurrency=2048,
        backlog=2048,
    )
    return 0
