"""The database a bench reads or writes: the one given, ``IMIAS_DATABASE_URL``, or the
embedded default's (started for the bench's run and stopped after it)."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any


def add_served_options(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--database-url`` of a bench against a served IMIAS."""
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the served instance")
    parser.add_argument(
        "--database-url",
        default=None,
        help="the server's database (default: IMIAS_DATABASE_URL, else the embedded one "
        "under IMIAS_DATA_DIR)",
    )


def database_url(given: str | None) -> tuple[str, Any]:
    """The database's URL, and the embedded server joined for it (to stop afterwards),
    if any."""
    if given:
        return given, None
    env = os.environ.get("IMIAS_DATABASE_URL")
    if env:
        return env, None
    from imias.platform.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(Path(os.environ.get("IMIAS_DATA_DIR") or ".imias"))
    return server.start(), server


def run_on_database(given: str | None, work: Callable[[str], Coroutine[Any, Any, Any]]) -> None:
    """Run ``work(database_url)`` on the database :func:`database_url` finds for
    ``given``, stopping the embedded server afterwards if one was started for it."""
    url, embedded = database_url(given)
    try:
        asyncio.run(work(url))
    finally:
        if embedded is not None:
            embedded.stop()
