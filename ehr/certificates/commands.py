"""``imias verify`` (a certificate's QR checked against the city's signed lists, kept in
a cache so that it also works with no network) and ``imias certificate-keys`` (the
clinics' signing keys: list, rotate, withdraw).

``imias verify`` needs no database: it is what a verifier runs anywhere. It pins the
city's trust anchor on its first fetch (``/.well-known/imias/anchor``), and from then
on takes a trust list or a revocation list only when the pinned anchor signed it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NoReturn
from zoneinfo import ZoneInfo

import asyncpg
import click
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ehr.certificates import cose
from ehr.certificates.keys import CertificateKeys
from ehr.certificates.model import Check
from ehr.certificates.rules import FORMS, KIND_TITLES, PE_GROUPS, RESTRICTIONS
from ehr.certificates.trust import Revocations, TrustList, check_offline
from imias.identity import resolve_secret
from imias.platform import commands
from imias.platform.embedded import Servers

WELL_KNOWN = "/.well-known/imias"
FETCH_SECONDS = 10.0
ANCHOR_FILE = "anchor.der"
TRUST_FILE = "trust-list.cose"
REVOCATIONS_FILE = "revocations.cose"
SOURCE_FILE = "source.json"
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG

#: The exit status of each verdict (0: valid); 2: nothing could be checked (a usage
#: error, no cached lists, a server out of reach, an unreadable image); 3: the trust
#: anchor or a list is not the one pinned (refused: nothing was checked).
EXIT_CODES: dict[str, int] = {
    "valid": 0,
    "expired": 10,
    "not_yet_valid": 11,
    "revoked": 12,
    "not_genuine": 13,
    "unknown_key": 14,
    "key_withdrawn": 15,
}
CANNOT_CHECK = 2
UNTRUSTED = 3

VERDICTS: dict[str, tuple[str, str]] = {
    "valid": ("ДЕЙСТВИТЕЛЬНА", "VALID"),
    "expired": ("СРОК ДЕЙСТВИЯ ИСТЁК", "EXPIRED"),
    "not_yet_valid": ("ЕЩЁ НЕ ДЕЙСТВУЕТ", "NOT YET VALID"),
    "revoked": ("АННУЛИРОВАНА", "REVOKED"),
    "not_genuine": ("НЕ ПОДЛИННЫЙ ДОКУМЕНТ: подпись не сходится или QR-код повреждён",
                    "NOT GENUINE: the signature does not verify or the QR code is damaged"),
    "unknown_key": ("НЕ ПОДЛИННЫЙ ДОКУМЕНТ: подписан ключом, которому город не доверяет",
                    "NOT GENUINE: signed by a key the city does not trust"),
    "key_withdrawn": ("НЕ ДЕЙСТВУЕТ: ключ медицинской организации отозван",
                      "NOT VALID: the clinic's signing key was withdrawn"),
}  # fmt: skip
#: The driver's is a медицинское заключение (neuter), the others справки (feminine).
NEUTER = {"ДЕЙСТВИТЕЛЬНА": "ДЕЙСТВИТЕЛЬНО", "АННУЛИРОВАНА": "АННУЛИРОВАНО"}
LABELS: dict[str, tuple[str, str]] = {
    "number": ("Номер", "Number"),
    "holder": ("Владелец", "Holder"),
    "birth_date": ("Дата рождения", "Birth date"),
    "categories": ("Категории", "Categories"),
    "restrictions": ("Ограничения", "Restrictions"),
    "none": ("нет", "none"),
    "pe_group": ("Группа для занятий физкультурой", "PE group"),
    "valid_until": ("Действует до", "Valid until"),
    "clinic": ("Медицинская организация", "Clinic"),
    "offline": ("Проверено без связи с сервером; список аннулированных на",
                "Checked offline; revocation list as of"),
    "online": ("Списки получены с", "Lists fetched from"),
    "no_revocations": ("Проверено без связи с сервером; списка аннулированных нет",
                       "Checked offline; no revocation list"),
}  # fmt: skip


def _fail(message: str, status: int = CANNOT_CHECK) -> NoReturn:
    commands.fail(message, status)


def default_cache() -> Path:
    """``$IMIAS_DATA_DIR/verify`` when IMIAS_DATA_DIR is set, else the user's cache
    (``$XDG_CACHE_HOME/imias/verify``, by default ``~/.cache/imias/verify``)."""
    data_dir = os.environ.get("IMIAS_DATA_DIR", "").strip()
    if data_dir:
        return Path(data_dir) / "verify"
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "imias" / "verify"


# -- reading the QR --------------------------------------------------------------------


def read_qr(given: str) -> str:
    """The QR's text: ``given`` itself (``MC1:...``), ``-`` for standard input, or read
    from a text file or an image (PNG or JPEG, decoded with zxing-cpp)."""
    if given.strip().startswith(cose.PREFIX):
        return given.strip()
    if given == "-":
        return sys.stdin.read().strip()
    path = Path(given)
    if not path.is_file():
        prefixed = ":" in given[:5]  # another document's QR (HC1:...): not a path
        if not prefixed and (
            os.sep in given or path.suffix.lower() in (".png", ".jpg", ".jpeg", ".txt")
        ):
            _fail(f"{given}: no such file")
        return given.strip()  # a QR's text that is not ours: its verdict says so
    data = path.read_bytes()
    if data.startswith(IMAGE_MAGIC):
        return _decode_image(path)
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        _fail(f"{given}: neither a QR's text (UTF-8) nor a PNG or JPEG image")


def _decode_image(path: Path) -> str:
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        _fail(
            f"{path}: reading a QR code from an image needs the zxing-cpp package, which is "
            "not installed (pip install zxing-cpp, or .venv/bin/pip install -e '.[test]'); "
            "or give the QR's text"
        )
    try:
        with Image.open(path) as image:
            found = zxingcpp.read_barcodes(image.convert("L"))
    except OSError as exc:
        _fail(f"{path}: not a readable image ({exc})")
    texts = [b.text for b in found if b.text]
    if not texts:
        _fail(f"{path}: no QR code found in the image")
    ours = [t for t in texts if t.startswith(cose.PREFIX)]
    return (ours or texts)[0]


# -- the cache of signed lists ---------------------------------------------------------


def _read_anchor_file(path: Path) -> bytes:
    """The anchor in ``path`` (DER or PEM SubjectPublicKeyInfo) as DER."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        _fail(f"--anchor {path}: {exc.strerror or exc}")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = load_pem_public_key(data)
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise ValueError("not an EC key")
            data = cose.spki(key)
        cose.public_of(data)
    except ValueError:
        _fail(f"--anchor {path}: not a P-256 public key (DER or PEM SubjectPublicKeyInfo)")
    return data


def _fingerprint(der: bytes) -> str:
    return cose.key_id(cose.public_of(der)).hex()


def _write(path: Path, data: bytes) -> None:
    """Atomically: a reader never sees half a list."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _get(base: str, path: str) -> bytes:
    url = base.rstrip("/") + path
    try:
        with urllib.request.urlopen(url, timeout=FETCH_SECONDS) as answer:
            return bytes(answer.read())
    except urllib.error.HTTPError as exc:
        _fail(f"{url} answered {exc.code}: is this an IMIAS server with certificates?")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        _fail(
            f"cannot reach {base}: {reason}; to check against the lists kept from the last "
            "fetch, use --offline"
        )


@dataclass(frozen=True)
class Lists:
    trust: TrustList
    revocations: Revocations
    source: str
    fetched_at: datetime | None


def _opened(trust_raw: bytes, revoked_raw: bytes, anchor: bytes, where: str) -> Lists:
    public = cose.public_of(anchor)
    try:
        trust = TrustList.of_body(cose.open_document(trust_raw, public, TrustList.shape))
        revocations = Revocations.of_body(
            cose.open_document(revoked_raw, public, Revocations.shape)
        )
    except (ValueError, KeyError, TypeError, cose.Malformed) as exc:
        _fail(
            f"the lists from {where} are not signed by the pinned trust anchor "
            f"{_fingerprint(anchor)} ({exc}); nothing was checked",
            UNTRUSTED,
        )
    return Lists(trust, revocations, where, None)


def fetch(url: str, cache: Path, given_anchor: bytes | None) -> Lists:
    """Fetch the anchor and the two lists from ``url``, check them against the pinned
    anchor (pinned now if none was), and keep them in ``cache``."""
    served = _get(url, WELL_KNOWN + "/anchor")
    try:
        cose.public_of(served)
    except ValueError:
        _fail(f"{url}{WELL_KNOWN}/anchor is not a P-256 public key: not an IMIAS server?")
    pinned_path = cache / ANCHOR_FILE
    pinned = pinned_path.read_bytes() if pinned_path.is_file() else None
    trusted = given_anchor if given_anchor is not None else pinned
    if trusted is not None and served != trusted:
        where = "--anchor" if given_anchor is not None else str(pinned_path)
        _fail(
            f"REFUSED: the trust anchor {url} serves ({_fingerprint(served)}) is not the one "
            f"pinned in {where} ({_fingerprint(trusted)}). Someone may be impersonating the "
            "city's server. If the city really changed its anchor, get the new one from it "
            "by a channel you trust and give it with --anchor FILE.",
            UNTRUSTED,
        )
    trust_raw = _get(url, WELL_KNOWN + "/trust-list")
    revoked_raw = _get(url, WELL_KNOWN + "/revocations")
    lists = _opened(trust_raw, revoked_raw, served, url)
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.now(UTC)
    if served != pinned:
        _write(pinned_path, served)
    _write(cache / TRUST_FILE, trust_raw)
    _write(cache / REVOCATIONS_FILE, revoked_raw)
    source = {"url": url, "fetched_at": now.isoformat(), "anchor": _fingerprint(served)}
    _write(cache / SOURCE_FILE, json.dumps(source).encode())
    return Lists(lists.trust, lists.revocations, url, now)


def cached_source(cache: Path) -> dict[str, str]:
    try:
        found = json.loads((cache / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def from_cache(cache: Path, given_anchor: bytes | None) -> Lists:
    """The lists kept in ``cache``, checked again against the pinned anchor (or the one
    given: a cache written under another anchor is refused)."""
    paths = [cache / name for name in (ANCHOR_FILE, TRUST_FILE, REVOCATIONS_FILE)]
    if not all(p.is_file() for p in paths):
        _fail(
            f"no trust list is cached in {cache}: fetch it once with --url "
            "http://HOST:PORT (the city's IMIAS server), then --offline works with no network"
        )
    anchor, trust_raw, revoked_raw = (p.read_bytes() for p in paths)
    if given_anchor is not None and given_anchor != anchor:
        _fail(
            f"REFUSED: the lists cached in {cache} were fetched under the trust anchor "
            f"{_fingerprint(anchor)}, not the one given with --anchor "
            f"({_fingerprint(given_anchor)}); fetch them again with --url and --anchor",
            UNTRUSTED,
        )
    source = cached_source(cache)
    lists = _opened(trust_raw, revoked_raw, anchor, str(cache))
    fetched = source.get("fetched_at")
    return Lists(
        lists.trust,
        lists.revocations,
        source.get("url", str(cache)),
        datetime.fromisoformat(fetched) if fetched else None,
    )


# -- the answer ------------------------------------------------------------------------


def render(check: Check, lists: Lists, zone: ZoneInfo, lang: str, offline: bool) -> list[str]:
    """The verdict and what the certificate shows, as lines (Russian or English)."""
    pick = 0 if lang == "ru" else 1

    def label(key: str) -> str:
        return LABELS[key][pick]

    def day(d: date) -> str:
        return d.strftime("%d.%m.%Y")

    shown = check.certificate
    verdict = VERDICTS[check.verdict][pick]
    if shown is not None and shown.kind == "driver" and lang == "ru":
        verdict = NEUTER.get(verdict, verdict)
    lines = [verdict]
    if shown is not None:
        form = FORMS[shown.kind]
        lines.append(f"{KIND_TITLES[shown.kind][pick]} ({form})")
        lines.append(f"{label('number')}: {shown.number}")
        lines.append(f"{label('holder')}: {shown.holder}")
        lines.append(f"{label('birth_date')}: {day(shown.birth_date)}")
        if shown.kind == "driver":
            lines.append(f"{label('categories')}: {', '.join(shown.categories)}")
            named = [
                f"{code} {RESTRICTIONS[code][pick]}" if code in RESTRICTIONS else code
                for code in shown.restrictions
            ]
            lines.append(f"{label('restrictions')}: {'; '.join(named) or label('none')}")
        if shown.pe_group is not None:
            lines.append(f"{label('pe_group')}: {PE_GROUPS[shown.pe_group][pick]}")
        lines.append(f"{label('valid_until')}: {day(shown.valid_until)}")
        lines.append(f"{label('clinic')}: {shown.clinic}")
    as_of = lists.revocations.issued_at
    when = datetime.fromtimestamp(as_of, UTC).astimezone(zone).strftime("%d.%m.%Y %H:%M %Z")
    if offline:
        lines.append(f"{label('offline')} {when}")
    else:
        lines.append(f"{label('online')} {lists.source} ({when})")
    return lines


@click.command("verify")
@click.argument("qr", metavar="QR_OR_FILE")
@click.option("--url", default=None, help="The city's IMIAS server: fetch its signed lists.")
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the pinned anchor and the lists are kept (default: IMIAS_DATA_DIR/verify "
    "when IMIAS_DATA_DIR is set, else ~/.cache/imias/verify).",
)
@click.option("--offline", is_flag=True, help="Use only the cached lists (no network).")
@click.option(
    "--anchor",
    "anchor_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The trust anchor to pin (DER or PEM public key): replaces the pinned one.",
)
@click.option(
    "--on",
    "on_day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Check as of this day (default: today in the city, IMIAS_TIME_ZONE).",
)
@click.option("--lang", type=click.Choice(["ru", "en"]), default="ru", show_default=True)
def verify(
    qr: str,
    url: str | None,
    cache: Path | None,
    offline: bool,
    anchor_file: Path | None,
    on_day: datetime | None,
    lang: str,
) -> None:
    """Check a medical certificate's QR code: its text (MC1:...), a text file, or a
    photo of it (PNG or JPEG), against the city's trust list and revocation list, both
    signed by the city's trust anchor. --url fetches them (the anchor is pinned on the
    first fetch; a different one later is refused) and keeps them for --offline.
    Without --url or --offline the lists are fetched again from the server they came
    from.

    Exit status: 0 valid; 10 expired; 11 not yet valid; 12 revoked; 13 not genuine (a
    bad signature or a damaged code); 14 signed by an unknown key; 15 the clinic's key
    was withdrawn; 2 nothing could be checked (no cached lists, a server out of reach,
    an unreadable image); 3 refused: the anchor or a list is not the pinned one.
    """
    settings = commands.settings()
    if offline and url is not None:
        _fail("--offline checks against the cached lists: give --url or --offline, not both")
    text = read_qr(qr)
    where = cache or default_cache()
    given = None if anchor_file is None else _read_anchor_file(anchor_file)
    if offline:
        lists = from_cache(where, given)
    else:
        source = url or cached_source(where).get("url")
        if not source:
            _fail(
                f"no trust list is cached in {where}: give the city's server with --url "
                "http://HOST:PORT (or --cache DIR where one is kept)"
            )
        lists = fetch(source, where, given)
    zone = ZoneInfo(settings.time_zone)
    today = on_day.date() if on_day is not None else datetime.now(UTC).astimezone(zone).date()
    check = check_offline(text, lists.trust, lists.revocations, today)
    for line in render(check, lists, zone, lang, offline):
        click.echo(line)
    sys.exit(EXIT_CODES[check.verdict])


# -- imias certificate-keys ------------------------------------------------------------

LIST_KEYS = """
SELECT k.kid, k.clinic_id, c.name AS clinic, k.created_at, k.retired_at, k.withdrawn_at,
       k.withdrawn_reason,
       (SELECT count(*) FROM certificates t WHERE t.kid = k.kid) AS certificates
  FROM certificate_keys k JOIN clinics c ON c.id = k.clinic_id
 ORDER BY k.clinic_id, k.created_at, k.kid
"""


class _Refused(Exception):
    """A keys command's refusal: its sentence and exit status (raised in the coroutine,
    reported after the pool is closed)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


KeysWork = Callable[[asyncpg.Pool, CertificateKeys], Awaitable[None]]


@click.group("certificate-keys")
def certificate_keys() -> None:
    """The clinics' certificate-signing keys (made on a clinic's first certificate)."""


def _run_keys(body: KeysWork) -> None:
    """Migrate, then run ``body(pool, keys)`` over a small pool of the database."""
    settings = commands.settings()
    secret = resolve_secret(settings.secret_key, settings.data_dir, announce=False)

    def run(servers: Servers) -> None:
        async def work() -> None:
            pool = await asyncpg.create_pool(servers.database_url, min_size=1, max_size=2)
            try:
                keys = CertificateKeys(pool, secret, settings.city_code)
                await body(pool, keys)
            finally:
                await pool.close()

        commands.migrate(servers.database_url)
        try:
            asyncio.run(work())
        except _Refused as exc:
            _fail(str(exc), exc.status)

    commands.run_with_servers(settings, run)


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@certificate_keys.command("list")
def keys_list() -> None:
    """Every key that ever signed certificates: its id, clinic, when made, retired or
    withdrawn (with the reason) and how many certificates it signed; and the city's
    trust anchor's id. Private keys are never shown."""

    async def body(pool: asyncpg.Pool, keys: CertificateKeys) -> None:
        rows = await pool.fetch(LIST_KEYS)
        click.echo(f"trust anchor {keys.anchor_kid.hex()} (GET {WELL_KNOWN}/anchor)")
        if not rows:
            click.echo("no clinic has a certificate key yet (one is made on its first certificate)")
            return
        click.echo(
            f"{'key id':<16}  {'clinic':>6}  {'state':<9}  {'made':<20}  {'until':<20}  "
            f"{'certs':>6}  clinic name / reason"
        )
        for r in rows:
            state = (
                "withdrawn" if r["withdrawn_at"] else "retired" if r["retired_at"] else "current"
            )
            until = r["withdrawn_at"] or r["retired_at"]
            note = r["clinic"] + (f" / {r['withdrawn_reason']}" if r["withdrawn_reason"] else "")
            click.echo(
                f"{bytes(r['kid']).hex():<16}  {r['clinic_id']:>6}  {state:<9}  "
                f"{_when(r['created_at']):<20}  {_when(until):<20}  {r['certificates']:>6}  {note}"
            )

    _run_keys(body)


@certificate_keys.command("rotate")
@click.option("--clinic", type=click.IntRange(1), required=True, help="The clinic's id.")
def keys_rotate(clinic: int) -> None:
    """Give the clinic a new signing key: the old one signs no more (every server signs
    its next certificate with the new one) and its certificates stay valid."""

    async def body(pool: asyncpg.Pool, keys: CertificateKeys) -> None:
        if not await pool.fetchval("SELECT EXISTS (SELECT 1 FROM clinics WHERE id = $1)", clinic):
            raise _Refused(f"no clinic {clinic}")
        kid = await keys.rotate(clinic)
        click.echo(
            f"clinic {clinic} signs with the new key {kid.hex()} from its next certificate; "
            "the certificates of its old key stay valid"
        )

    _run_keys(body)


@certificate_keys.command("withdraw")
@click.option("--kid", required=True, help="The key's id (16 hex digits, as listed).")
@click.option("--reason", required=True, help="Why (kept with the key, e.g. 'exposed').")
def keys_withdraw(kid: str, reason: str) -> None:
    """Withdraw a key (exposed, or its certificates are in doubt): every certificate it
    signed is no longer valid, online within 10 s and offline once a verifier fetches
    the trust list again; the clinic's next certificate gets a new key. Exit 1 when no
    such key is in use."""
    try:
        raw = bytes.fromhex(kid)
    except ValueError:
        raw = b""
    if len(raw) != cose.KID_BYTES:
        _fail(f"--kid: a key id is {2 * cose.KID_BYTES} hex digits (imias certificate-keys list)")
    if len(reason.strip()) < 3:
        _fail("--reason: say why the key is withdrawn")

    async def body(pool: asyncpg.Pool, keys: CertificateKeys) -> None:
        signed = await pool.fetchval("SELECT count(*) FROM certificates WHERE kid = $1", raw)
        if not await keys.withdraw(raw, reason.strip()):
            raise _Refused(f"no key {kid} in use (unknown, or withdrawn already)")
        click.echo(
            f"key {kid} withdrawn: its {signed} certificate(s) are no longer valid (every "
            "server within 10 s; offline verifiers once they fetch the trust list again)"
        )

    _run_keys(body)
