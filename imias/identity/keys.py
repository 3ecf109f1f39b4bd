"""The server's secret key and the keys derived from it.

``IMIAS_SECRET_KEY`` (at least 32 characters) is the key of a deployment; every server
of it needs the same one. Without it the embedded default keeps a random key in
``<IMIAS_DATA_DIR>/secret_key`` (created on first use, readable by its owner only) and
says so in the log, so a demo runs with nothing set and its tokens survive a restart.

One key signs tokens, another hashes one-time codes, a third makes the short keyed
hashes that stand in logs for what must not be logged in clear (a policy number): each
is HMAC-SHA256 of the secret with a label, so one never works in place of another.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("imias.identity")

KEY_FILE = "secret_key"
SECRET_ENV = "IMIAS_SECRET_KEY"


def derive(secret: str | bytes, label: str) -> bytes:
    """A 32-byte key of the deployment's secret for one purpose (``label``): HMAC-SHA256,
    so a key derived for one purpose never works for another."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, b"imias/" + label.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Keys:
    token: bytes
    otp: bytes
    log: bytes

    @classmethod
    def from_secret(cls, secret: str | bytes) -> Keys:
        return cls(derive(secret, "token/v1"), derive(secret, "otp/v1"), derive(secret, "log/v1"))

    def log_hash(self, value: str) -> str:
        """A short keyed hash of ``value`` for logs: the same value gives the same hash
        (so failures of one account can be followed), but it cannot be reversed."""
        return hmac.new(self.log, value.encode(), hashlib.sha256).hexdigest()[:12]


def key_file(data_dir: str | Path) -> Path:
    return Path(data_dir) / KEY_FILE


def read_or_create_key_file(path: Path) -> tuple[str, bool]:
    """The key kept in ``path``, made now (mode 0600) if there is none; two processes
    that start together agree on one key. Returns (key, created)."""
    try:
        return path.read_text("ascii").strip(), False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text("ascii").strip(), False
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key, True


def resolve_secret(secret_key: str | None, data_dir: str | Path, *, announce: bool = True) -> str:
    """``secret_key`` (IMIAS_SECRET_KEY) when set, else the key file of the embedded
    default, which is logged (where it is, never the key itself; ``announce=False``: at
    debug level, for the workers of a server that announced it already)."""
    if secret_key:
        return secret_key
    path = key_file(data_dir)
    key, created = read_or_create_key_file(path)
    if len(key) < 32:
        raise ValueError(f"{path} holds a key shorter than 32 characters; delete it")
    log.log(
        logging.INFO if announce or created else logging.DEBUG,
        "%s is not set: tokens are signed with the key kept in %s (%s); a deployment "
        "of several machines sets the same %s on each",
        SECRET_ENV,
        path,
        "made now" if created else "kept from before",
        SECRET_ENV,
    )
    return key


def server_secret(environ: dict[str, str] | None = None) -> str:
    """The key a running server signs with, for tools beside it (``imias token``,
    ``imias bench booking``): IMIAS_SECRET_KEY, else the key file under
    IMIAS_DATA_DIR (default ``.imias``)."""
    env = os.environ if environ is None else environ
    given = env.get(SECRET_ENV, "").strip()
    if given:
        return given
    key, _ = read_or_create_key_file(key_file(env.get("IMIAS_DATA_DIR") or ".imias"))
    return key
