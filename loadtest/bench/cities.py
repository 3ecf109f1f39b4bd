"""``imias bench cities``: the booking bench on several cities, side by side.

Each city is a database already seeded (``--database-url NAME=URL``, given twice or
more: e.g. ``demo`` with the default 100,000 patients and ``full`` with 9.5 million).
One city after the other, so that they never share the CPU, the command starts
``imias serve`` (two workers) on a free port against the city's database and a Redis
of the city's own, runs the workloads of :mod:`loadtest.bench.booking` against it
(search, hold, confirm, bookings, and the same search in SQL and in the engine in
process), and stops the server.

The Redis: without ``--redis-url``, a private embedded Redis per city in a temporary
directory, removed after (never the one of the embedded default under
IMIAS_DATA_DIR, which a running ``imias serve`` may use); with ``--redis-url
redis://host:6379/N``, the cities use the databases N, N+1, ... of that server, each
emptied (FLUSHDB) before its city runs. Either way the event stream of one city never
reaches the next one's workers.

stdout: the bench's JSON lines, each with ``city`` (the name) and ``city_size``
(clinics, doctors, patients, appointments before the run, database size). stderr:
progress, then a table of every figure with one column per city and the ratio of
each later city to the first (e.g. full/demo). Each run books real appointments in
the cities' databases, as ``imias bench booking`` does. Timings are a benchmark,
never a test assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis
from rich.console import Console
from rich.table import Table

from imias.citygen import city_is_seeded
from imias.identity import server_secret
from imias.platform.cache import redis_db_number, with_redis_db
from imias.platform.embedded import EmbeddedRedis, EmbeddedServerError
from loadtest.bench import booking as bench
from loadtest.bench.sql import SQL_CITY_SIZE
from loadtest.report import print_line
from loadtest.served import ServeError, served

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")

# What the table shows, in order: (workload, figure). Absent figures are left blank.
FIGURES: tuple[tuple[str, str], ...] = (
    ("baseline", "per_second"),
    ("baseline", "p99_ms"),
    ("baseline", "cpu_ms_per_request.server"),
    ("search", "per_second"),
    ("search", "p50_ms"),
    ("search", "p99_ms"),
    ("hold", "per_second"),
    ("hold", "p50_ms"),
    ("hold", "p99_ms"),
    ("confirm", "per_second"),
    ("confirm", "p50_ms"),
    ("confirm", "p99_ms"),
    ("bookings", "per_second"),
    ("bookings", "ok"),
    ("bookings", "refused"),
    ("bookings", "failed"),
    ("bookings", "baseline_requests_per_booking"),
    ("bookings", "cpu_ms_per_booking.server"),
    ("bookings", "cpu_ms_per_booking.postgres"),
    ("bookings", "cpu_ms_per_booking.bench"),
    ("bookings", "machine_busy"),
    ("bookings", "machine_steal"),
    ("search_sql", "p50_ms"),
    ("search_sql", "p99_ms"),
    ("search_sql", "ratio"),
    ("search_sql", "engine_idle_p50_ms"),
    ("search_sql", "ratio_under_load"),
    ("search_sql", "engine_in_process_p50_ms"),
    ("search_sql", "engine_in_process_p99_ms"),
    ("search_sql", "ratio_in_process"),
    ("search_sql", "same_answer"),
)
SIZES = ("clinics", "doctors", "patients", "appointments")


class CityRefused(Exception):
    """A city that cannot be measured; the message says why and what to do."""


@dataclass
class City:
    name: str
    database_url: str
    size: dict[str, Any] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def shown_url(self) -> str:
        return without_password(self.database_url)

    def figure(self, workload: str, name: str) -> Any:
        """A figure of a workload's line; ``a.b`` names ``b`` inside the line's ``a``."""
        for line in self.lines:
            if line.get("workload") == workload:
                value: Any = line
                for part in name.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                return value
        return None


def without_password(url: str) -> str:
    """``url`` as it may be shown: its password, if any, as ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def log(message: str) -> None:
    print(f"[bench cities] {message}", file=sys.stderr, flush=True)


def _city(text: str) -> City:
    name, sep, url = text.partition("=")
    if not sep or not NAME.match(name) or not url:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected NAME=URL, e.g. full=postgresql://postgres@127.0.0.1/imias_full "
            "(a name of letters, digits, '_', '.', '-')"
        )
    if not url.startswith(("postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError(f"{name}: not a PostgreSQL URL (postgresql://...)")
    return City(name, url)


def _redis_url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise argparse.ArgumentTypeError("expected redis://host:6379/N (or rediss://, unix://)")
    try:
        redis_db_number(text)
    except ValueError:
        message = f"{without_password(text)!r}: the database number is not a number"
        raise argparse.ArgumentTypeError(message) from None
    return text


async def measure_size(city: City) -> dict[str, Any]:
    """The city's size; :class:`CityRefused` when the database cannot be reached or
    holds no city."""
    seed_hint = f"IMIAS_DATABASE_URL={city.shown_url} imias seed"
    try:
        conn = await asyncpg.connect(city.database_url, timeout=10)
    except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        message = f"city {city.name}: cannot connect to {city.shown_url}: {reason}"
        raise CityRefused(message) from None
    try:
        if await conn.fetchval("SELECT to_regclass('clinics')") is None:
            raise CityRefused(
                f"city {city.name}: {city.shown_url} is not an IMIAS database (no clinics "
                f"table); seed a city into it first: {seed_hint}"
            )
        if not await city_is_seeded(conn):
            raise CityRefused(
                f"city {city.name}: {city.shown_url} holds no city; seed one first: {seed_hint}"
                " (the full city: --patients 9500000)"
            )
        row = await conn.fetchrow(SQL_CITY_SIZE)
        assert row is not None  # a SELECT without FROM returns one row
    finally:
        await conn.close()
    return dict(row)


def redis_of_city(index: int, base_url: str) -> str:
    """The Redis database of the ``index``-th city: N+index, N that of ``base_url``."""
    return with_redis_db(base_url, redis_db_number(base_url) + index)


def _redis_call(url: str, call: Callable[[redis.Redis], Any]) -> None:
    client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    try:
        call(client)
    except (redis.RedisError, OSError) as exc:
        raise CityRefused(f"Redis at {without_password(url)}: {exc}") from None
    finally:
        client.close()


@contextmanager
def city_redis(index: int, base_url: str | None, scratch: Path) -> Iterator[str]:
    """The Redis of the ``index``-th city: database N+index of ``base_url``, emptied
    first, or (no ``base_url``) a private embedded Redis under ``scratch``."""
    if base_url is not None:
        url = redis_of_city(index, base_url)
        _redis_call(url, lambda client: client.flushdb())
        log(f"Redis {without_password(url)} (emptied)")
        yield url
        return
    server = EmbeddedRedis(scratch / f"redis-{index}")
    try:
        url = server.start()
    except EmbeddedServerError as exc:
        raise CityRefused(str(exc)) from None
    try:
        yield url
    finally:
        server.stop()


def run_city(
    city: City, index: int, args: argparse.Namespace, scratch: Path, log_dir: Path
) -> None:
    """Serve the city, run the workloads against it, stop; its lines are printed (with
    the city's name and size) and kept in ``city.lines``."""

    def emit(line: dict[str, Any]) -> None:
        tagged = {"city": city.name, **line, "city_size": city.size}
        print_line(tagged)
        city.lines.append(line)

    log_path = log_dir / f"serve-{city.name}.log"
    with city_redis(index, args.redis_url, scratch) as redis_url:
        log(f"city {city.name}: starting imias serve ({args.workers} workers); log {log_path}")
        with served(
            city.database_url,
            redis_url,
            log_path=log_path,
            workers=args.workers,
            timeout=args.start_timeout,
        ) as url:
            log(f"city {city.name}: serving on {url}")
            workload_args = copy.copy(args)
            workload_args.url = url
            asyncio.run(bench.run_workloads(workload_args, city.database_url, emit=emit))
        log(f"city {city.name}: server stopped")


# -- the table -------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def _ratio(value: Any, base: Any) -> str:
    if not isinstance(value, int | float) or not isinstance(base, int | float) or not base:
        return ""
    return f"{value / base:.2f}x"


def table(cities: list[City]) -> Table:
    """Every figure, a column per city and the ratio of each later city to the first."""
    first = cities[0]
    result = Table(title="imias bench cities", title_justify="left")
    result.add_column("workload")
    result.add_column("figure")
    for city in cities:
        result.add_column(city.name, justify="right")
    for city in cities[1:]:
        result.add_column(f"{city.name}/{first.name}", justify="right")

    def row(workload: str, figure: str, values: list[Any], shown: list[str]) -> None:
        ratios = [_ratio(v, values[0]) for v in values[1:]]
        result.add_row(workload, figure, *shown, *ratios)

    for name in SIZES:
        values = [c.size.get(name) for c in cities]
        row("city", name, values, [_shown(v) for v in values])
    sizes = [c.size.get("database_bytes") for c in cities]
    row("city", "database size", sizes, [str(c.size.get("database_size", "")) for c in cities])
    result.add_section()
    previous = None
    for workload, figure in FIGURES:
        if previous is not None and workload != previous:
            result.add_section()
        previous = workload
        values = [c.figure(workload, figure) for c in cities]
        row(workload, figure, values, [_shown(v) for v in values])
    return result


# -- the command -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imias bench cities",
        description="The booking bench on each city given (each served in turn by its own "
        "imias serve), side by side: JSON lines with the city's name and size on stdout, "
        "a table with the ratios to the first city on stderr.",
    )
    parser.add_argument(
        "--database-url",
        dest="cities",
        metavar="NAME=URL",
        type=_city,
        action="append",
        required=True,
        help="a seeded city's database, e.g. demo=postgresql://postgres@127.0.0.1/imias; "
        "give it once per city (the first is the one the others are compared with)",
    )
    parser.add_argument(
        "--redis-url",
        type=_redis_url,
        default=None,
        help="a Redis whose databases N, N+1, ... (N from the URL) the cities use, each "
        "emptied first (default: a private embedded Redis per city)",
    )
    parser.add_argument("--workers", type=int, default=2, help="workers of each server")
    parser.add_argument(
        "--start-timeout", type=float, default=600.0, help="seconds a server may take to start"
    )
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="keep the servers' logs here (default: dropped)"
    )
    bench.add_workload_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = [c.name for c in args.cities]
    problem = bench.settle_workload_options(args)
    if problem is None and args.workers < 1:
        problem = "workers >= 1"
    if problem is None and len(set(names)) != len(names):
        problem = f"each city needs a name of its own (got {', '.join(names)})"
    if problem:
        print(f"bench cities: {problem}", file=sys.stderr)
        return 2
    cities: list[City] = args.cities
    try:
        for city in cities:
            city.size = asyncio.run(measure_size(city))
            log(
                f"city {city.name}: {city.size['patients']:,} patients, "
                f"{city.size['doctors']:,} doctors, {city.size['appointments']:,} "
                f"appointments, {city.size['database_size']}"
            )
        if args.redis_url is not None:  # every city's database answers, before any run
            for index in range(len(cities)):
                _redis_call(redis_of_city(index, args.redis_url), lambda client: client.ping())
        server_secret()  # the key file of the embedded default made now, if it is missing
        with tempfile.TemporaryDirectory(prefix="imias-bench-") as scratch:
            log_dir = args.log_dir or Path(scratch)
            log_dir.mkdir(parents=True, exist_ok=True)
            for index, city in enumerate(cities):
                run_city(city, index, args, Path(scratch), log_dir)
    except (CityRefused, ServeError) as exc:
        print(f"bench cities: {exc}", file=sys.stderr)
        return 1
    Console(stderr=True).print(table(cities))
    return 0


if __name__ == "__main__":
    sys.exit(main())
