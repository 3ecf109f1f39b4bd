"""IMIAS settings: one frozen Struct, read from ``IMIAS_*`` environment variables.

Nothing here runs at import. ``load_settings()`` is called by the CLI and by the
ASGI factory; ``create_app(settings)`` receives the result. An invalid value or an
unknown ``IMIAS_*`` variable raises :class:`SettingsError`, whose message is one
line naming the variable, so start-up stops with that line and no traceback.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Mapping
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from msgspec import Meta

PREFIX = "IMIAS_"

DatabaseUrl = Annotated[str, Meta(pattern=r"^postgres(ql)?://\S+$")]
RedisUrl = Annotated[str, Meta(pattern=r"^(redis|rediss|unix)://\S+$")]
Port = Annotated[int, Meta(ge=1, le=65535)]
Workers = Annotated[int, Meta(ge=1, le=256)]
PoolSize = Annotated[int, Meta(ge=1, le=1000)]
SecretKey = Annotated[str, Meta(min_length=32)]
Seconds = Annotated[float, Meta(gt=0, le=3600)]
PhoneNumber = Annotated[str, Meta(pattern=r"^\+?[0-9]{2,15}$")]
WebhookSecret = Annotated[str, Meta(min_length=16)]


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything an IMIAS process may be configured with.

    Each field ``name`` is read from ``IMIAS_NAME``. ``database_url`` and
    ``redis_url`` left unset select the embedded servers under ``data_dir``.
    """

    database_url: DatabaseUrl | None = None
    # The application's own login (role imias_app): unset, the owner's URL with the user
    # changed and no password (the embedded default, trust or peer authentication).
    app_database_url: DatabaseUrl | None = None
    redis_url: RedisUrl | None = None
    data_dir: str = ".imias"
    secret_key: SecretKey | None = None
    host: str = "127.0.0.1"
    port: Port = 8000
    workers: Workers = 1
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    db_pool_size: PoolSize = 10
    health_timeout: Seconds = 1.0
    demo: bool = False
    time_zone: str = "Europe/Moscow"
    # Where patients reach the portal, for links in SMS and e-mails (https://emias.example);
    # unset: http://host:port of this server.
    public_url: Annotated[str, Meta(pattern=r"^https?://\S+$")] | None = None
    # The city's code in the documents it signs (a prescription's QR code): another
    # city's document is refused here (UN/LOCODE: Moscow is MOW).
    city_code: Annotated[str, Meta(pattern=r"^[A-Z]{3}$")] = "MOW"
    # Reverse proxies whose X-Forwarded-For is believed (comma-separated addresses or
    # networks); empty: the connection's own address is the client's.
    trusted_proxies: str = ""
    call_centre_number: PhoneNumber = "122"  # where the IVR transfers a call (<Dial>)
    phone_webhook_secret: WebhookSecret | None = None  # the gateway's signing key
    # /metrics for operators: this bearer token; unset, loopback callers only (no proxy).
    metrics_token: WebhookSecret | None = None
    kiosk_idle_seconds: Annotated[int, Meta(ge=5, le=3600)] = 60  # then it forgets the patient
    # The MLLP listener for HL7 v2 senders (the ambulance dispatch's ADT): off unless a
    # port is given (0: any free port); every worker shares it (SO_REUSEPORT). TLS with
    # the certificate and key; with the CA too, senders must show a certificate it signed.
    mllp_port: Annotated[int, Meta(ge=0, le=65535)] | None = None
    mllp_host: str = "127.0.0.1"
    mllp_tls_cert: str | None = None
    mllp_tls_key: str | None = None
    mllp_tls_ca: str | None = None

    def __post_init__(self) -> None:
        try:
            _ = self.proxy_networks  # parsed once here, so a bad value stops start-up
        except ValueError:
            raise ValueError(
                "not a comma-separated list of IP addresses or networks - at `$.trusted_proxies`"
            ) from None
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "not a known IANA time zone (e.g. Europe/Moscow) - at `$.time_zone`"
            ) from None

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in self.trusted_proxies.split(",")
            if part.strip()
        )

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None


# IMIAS_* variables that are not settings of the service: build, test and
# benchmark switches read by their own tools. They are allowed in the environment.
NON_SETTING_VARIABLES = frozenset(
    {
        "IMIAS_NO_EXTENSIONS",
        "IMIAS_CYTHON_ANNOTATE",
        "IMIAS_TEST_DATABASE_URL",
        "IMIAS_TEST_REDIS_URL",
        "IMIAS_STAFF_PASSWORD",  # the password of `imias staff add`, when not typed
    }
)

# What a person should write, for settings whose check is a pattern.
_EXPECTED = {
    "database_url": "expected a URL like postgresql://user:password@host:5432/imias",
    "app_database_url": "expected a URL like postgresql://imias_app:password@host:5432/imias",
    "redis_url": "expected a URL like redis://host:6379/0 or unix:///path/redis.sock",
}

_FIELD_OF_PATH = re.compile(r"at `\$\.(\w+)`")


class SettingsError(ValueError):
    """A setting is invalid; ``str(error)`` is one line naming the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def _known_variables() -> dict[str, str]:
    return {env_name(f): f for f in Settings.__struct_fields__}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build :class:`Settings` from ``environ`` (default ``os.environ``).

    ``overrides`` (already typed values, e.g. from CLI options) win over the
    environment. Empty variables count as unset.
    """
    env = os.environ if environ is None else environ
    known = _known_variables()
    raw: dict[str, object] = {}
    for name, value in env.items():
        if not name.startswith(PREFIX) or name in NON_SETTING_VARIABLES:
            continue
        field = known.get(name)
        if field is None:
            close = difflib.get_close_matches(name, [*known, *NON_SETTING_VARIABLES], n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise SettingsError(name, f"unknown setting{hint}")
        if value.strip() == "":
            continue
        raw[field] = value.strip()
    for field, override in overrides.items():
        if field not in Settings.__struct_fields__:
            raise TypeError(f"unknown setting override {field!r}")
        if override is not None:
            raw[field] = override
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _FIELD_OF_PATH.search(message)
        field = match.group(1) if match else "?"
        problem = _FIELD_OF_PATH.sub("", message).strip(" -")
        if "regex" in problem and field in _EXPECTED:
            problem = _EXPECTED[field]
        shown = raw.get(field)
        if field in ("secret_key", "phone_webhook_secret", "metrics_token") or shown is None:
            value_text = ""
        else:
            value_text = f" (got {_redact(str(shown))!r})"
        raise SettingsError(env_name(field), problem + value_text) from None


def _redact(value: str) -> str:
    """Hide a password inside a URL before it is echoed in an error."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", value)
