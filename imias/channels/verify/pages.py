"""The officer's page. The session is the officer's token in the ``imias_verify`` cookie
(path ``/verify``). A check posts the form (it works without the script); the script
posts the same form in the background and, when the network is gone, checks a QR
itself (``imias/channels/static/verify.js``) with the lists it kept. The service worker
(``/verify/sw.js``, scope ``/verify``) keeps the page and its scripts for that.

The page shows a verdict in a word and a colour, and for a genuine certificate only
what a traffic stop needs (:class:`ehr.certificates.Shown`): never a diagnosis, never
who examined."""

from __future__ import annotations

import base64
import math
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from ehr import certificates
from imias.channels.pharmacy.pages import typed_date
from imias.channels.web.errors import PAGE_ERRORS, sentence
from imias.channels.web.i18n import N_
from imias.channels.web.pages import end_session, form_of, lang_of, page, say
from imias.channels.web.staff import sign_in_policy, staff_sign_in
from imias.identity import PUBLIC, allow, principal_of
from imias.platform.problems import ProblemError
from imias.platform.requests import client_address

rules = certificates.rules  # the certificates' titles: restrictions, kinds, PE groups

COOKIE = "imias_verify"
PATH = "/verify"
SIGN_IN_PATH = f"{PATH}/sign-in"
OFFICER = allow(
    "police_officer",
    data="police_officer: a certificate's verdict and what it says (holder, birth date, "
    "categories, restrictions, validity, clinic), by its QR or its number with the birth "
    "date; never the record",
    cookie=COOKIE,
    sign_in=SIGN_IN_PATH,
)
SIGN_IN = sign_in_policy("officer's page")
STATIC = Path(__file__).resolve().parent.parent / "static"

#: verdict -> (its word, what it means, its tone: ok, warn or bad)
VERDICTS: dict[str, tuple[str, str, str]] = {
    "valid": (N_("ДЕЙСТВИТЕЛЬНА"), N_("Заключение подлинное и действует."), "ok"),
    "expired": (
        N_("ИСТЁК СРОК"),
        N_("Заключение подлинное, но срок его действия истёк."),
        "warn",
    ),
    "not_yet_valid": (
        N_("ЕЩЁ НЕ ДЕЙСТВУЕТ"),
        N_("Заключение подлинное, но срок его действия ещё не начался."),
        "warn",
    ),
    "revoked": (
        N_("АННУЛИРОВАНА"),
        N_("Заключение аннулировано выдавшей его поликлиникой и недействительно."),
        "bad",
    ),
    "not_genuine": (
        N_("НЕ ПОДЛИННАЯ"),
        N_("Подпись не сходится: QR-код изменён, повреждён или подделан."),
        "bad",
    ),
    "unknown_key": (
        N_("НЕИЗВЕСТНЫЙ КЛЮЧ"),
        N_("Подписано ключом, которого нет в списке доверенных: выдано не поликлиникой города."),
        "bad",
    ),
    "key_withdrawn": (
        N_("КЛЮЧ ОТОЗВАН"),
        N_("Ключ, которым подписано заключение, отозван: заключение недействительно."),
        "bad",
    ),
    "not_found": (
        N_("НЕ НАЙДЕНА"),
        N_("Заключения с таким номером и датой рождения владельца нет."),
        "bad",
    ),
}
#: What the result's lines are called (the script's offline result uses them too).
LABELS: dict[str, str] = {
    "number": N_("Номер"),
    "holder": N_("Владелец"),
    "birth_date": N_("Дата рождения"),
    "categories": N_("Категории"),
    "restrictions": N_("Ограничения"),
    "pe_group": N_("Группа для физкультуры"),
    "valid_from": N_("Действует с"),
    "valid_until": N_("Действует до"),
    "clinic": N_("Выдано"),
    "none": N_("нет"),
    "not_driver": N_("Это не заключение водителя: {title}."),
}
#: The script's sentences (its offline check, the camera, the kept lists).
SENTENCES: dict[str, str] = {
    "offline": N_("Проверено без связи; список аннулированных — на {time}."),
    "offline_no_revocations": N_(
        "Проверено без связи; списка аннулированных на этом устройстве нет: аннулирование "
        "не проверено."
    ),
    "offline_no_trust": N_(
        "Нет связи, а списка ключей на этом устройстве нет: проверить без связи нельзя."
    ),
    "offline_number": N_(
        "Нет связи: по номеру проверяет только сервер. Отсканируйте QR-код — он проверяется "
        "и без связи."
    ),
    "lists": N_(
        "Для проверки без связи сохранены: список ключей на {trust}, список аннулированных "
        "на {revocations}."
    ),
    "lists_missing": N_("Списки для проверки без связи ещё не загружены."),
    "camera_failed": N_("Камера недоступна: введите текст QR-кода или сфотографируйте его."),
    "camera_on": N_("Наведите камеру на QR-код."),
    "photo_failed": N_("На фото не найден QR-код: снимите ближе и ровнее."),
    "place_failed": N_("Место не определилось: введите его."),
    "no_qr": N_("Введите текст QR-кода."),
    "no_place": N_("Укажите место проверки."),
}
TONE_MARK = {"ok": "✓", "warn": "!", "bad": "✗"}
_SCAN_OFF = N_("Выключить камеру")


def _certificates(request: Request[Any, Any, Any]) -> certificates.Certificates:
    service: certificates.Certificates = request.app.state.certificates
    return service


def _zone(request: Request[Any, Any, Any]) -> str:
    zone: str = request.app.state.settings.time_zone
    return zone


def _day(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def restriction_names(lang: str) -> dict[str, str]:
    return {code: (ru if lang == "ru" else en) for code, (ru, en, _) in rules.RESTRICTIONS.items()}


def _facts(
    request: Request[Any, Any, Any], shown: certificates.Shown, verdict: str
) -> list[tuple[str, str, str]]:
    """The certificate's lines as the officer reads them, in order: (key, label, value)."""
    lang = lang_of(request)
    names = restriction_names(lang)
    none = say(request, LABELS["none"])
    restrictions = [f"{code} — {names.get(code, '')}".rstrip(" —") for code in shown.restrictions]
    facts = [
        ("holder", shown.holder),
        ("birth_date", _day(shown.birth_date)),
        ("categories", ", ".join(shown.categories) or "—"),
        ("restrictions", "; ".join(restrictions) or none),
    ]
    if shown.pe_group is not None:
        ru, en = rules.PE_GROUPS.get(shown.pe_group, (shown.pe_group, shown.pe_group))
        facts.append(("pe_group", ru if lang == "ru" else en))
    if verdict == "not_yet_valid":
        facts.append(("valid_from", _day(shown.valid_from)))
    facts += [
        ("valid_until", _day(shown.valid_until)),
        ("clinic", shown.clinic),
        ("number", shown.number),
    ]
    return [(key, say(request, LABELS[key]), value) for key, value in facts]


def result_of(request: Request[Any, Any, Any], check: certificates.Check) -> dict[str, Any]:
    """What the result box shows of an online check."""
    word, meaning, tone = VERDICTS[check.verdict]
    shown = check.certificate
    not_driver = None
    if shown is not None and shown.kind != "driver":
        ru, en = rules.KIND_TITLES[shown.kind]
        title = ru if lang_of(request) == "ru" else en
        not_driver = say(request, LABELS["not_driver"]).format(title=title)
    at = datetime.now(UTC).astimezone(ZoneInfo(_zone(request))).strftime("%H:%M")
    return {
        "verdict": check.verdict,
        "word": say(request, word),
        "meaning": say(request, meaning),
        "tone": tone,
        "mark": TONE_MARK[tone],
        "facts": [] if shown is None else _facts(request, shown, check.verdict),
        "not_driver": not_driver,
        "how": say(request, "Проверено на сервере в {time}.").format(time=at),
    }


@cache
def _anchor_b64(spki: bytes) -> str:
    return base64.b64encode(spki).decode()


def script_config(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """What the page's script needs, rendered into the page: the trust anchor it pins
    (so the pin comes with the page, not from the network it distrusts), the city's time
    zone, and its words in the page language."""
    lang = lang_of(request)
    anchor = certificates.cose.spki(_certificates(request).keys.anchor_public)
    return {
        "anchor": _anchor_b64(anchor),
        "zone": _zone(request),
        "lang": lang,
        "verdicts": {
            v: {
                "word": say(request, w),
                "meaning": say(request, m),
                "tone": t,
                "mark": TONE_MARK[t],
            }
            for v, (w, m, t) in VERDICTS.items()
        },
        "labels": {k: say(request, v) for k, v in LABELS.items()},
        "sentences": {k: say(request, v) for k, v in SENTENCES.items()},
        "restrictions": restriction_names(lang),
        "kinds": {k: (ru if lang == "ru" else en) for k, (ru, en) in rules.KIND_TITLES.items()},
        "pe_groups": {k: (ru if lang == "ru" else en) for k, (ru, en) in rules.PE_GROUPS.items()},
        "scan_off": say(request, _SCAN_OFF),
    }


class Asked(msgspec.Struct, frozen=True):
    """The form as typed, given back with the answer."""

    place: str = ""
    qr: str = ""
    number: str = ""
    birth_date: str = ""


def asked_of(form: dict[str, str]) -> Asked:
    return Asked(
        place=form.get("place", "").strip(),
        qr=form.get("qr", "").strip(),
        number=form.get("number", "").strip().lstrip("№ ").upper(),
        birth_date=form.get("birth_date", "").strip(),
    )


def verify_in(request: Request[Any, Any, Any], asked: Asked, way: str) -> certificates.VerifyIn:
    """The check the form asks for (by the QR's text unless the number's button was
    pressed or only the number is filled); a sentence for the officer else."""
    if len(asked.place) < 2:
        raise ProblemError(422, "no_place", say(request, "Укажите место проверки."))
    by_number = way == "number" or (not asked.qr and bool(asked.number))
    body: dict[str, Any] = {"place": asked.place[:200]}
    if by_number:
        born = typed_date(asked.birth_date)
        if not asked.number or born is None:
            raise ProblemError(
                422,
                "bad_number",
                say(request, "Введите номер заключения и дату рождения владельца."),
            )
        body |= {"number": asked.number[:40], "birth_date": born.isoformat()}
    elif asked.qr:
        body["qr"] = asked.qr
    else:
        raise ProblemError(
            422,
            "nothing_to_check",
            say(request, "Введите текст QR-кода или номер заключения с датой рождения владельца."),
        )
    try:
        return msgspec.convert(body, certificates.VerifyIn)
    except msgspec.ValidationError:
        raise ProblemError(
            422, "bad_check", say(request, "Текст QR-кода слишком длинный: это не заключение.")
        ) from None


def refusal(request: Request[Any, Any, Any], exc: ProblemError) -> str:
    if exc.code == "too_many_checks":
        wait = int(exc.extra.get("retry_after") or 60)
        return say(
            request, "Слишком много проверок подряд. Следующая — через {minutes} мин."
        ).format(minutes=max(1, math.ceil(wait / 60)))
    return sentence(exc, request)


@cache
def _static(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _script(name: str, **headers: str) -> Response[bytes]:
    return Response(
        _static(name),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", **headers},
    )


@get(f"{PATH}/sw.js", opt=PUBLIC, operation_id="verifyServiceWorker", include_in_schema=False)
async def verify_worker() -> Response[bytes]:
    """The officer's page's service worker, its scope ``/verify`` (one level above its
    own folder: the header allows it); never cached by the browser."""
    return _script("verify-sw.js", **{"Service-Worker-Allowed": PATH})


@get(f"{PATH}/verify.js", opt=PUBLIC, operation_id="verifyScript", include_in_schema=False)
async def verify_script() -> Response[bytes]:
    """The page's script: the form posted in the background, the camera, and the check
    with no network."""
    return _script("verify.js")


@get(f"{PATH}/jsqr.js", opt=PUBLIC, operation_id="verifyQrDecoder", include_in_schema=False)
async def verify_qr_decoder() -> Response[bytes]:
    """The vendored QR decoder (jsQR), loaded when the browser has no barcode detector."""
    return _script("vendor/jsQR.js")


class VerifyController(Controller):
    path = PATH
    tags = ["verify"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get("/sign-in", opt=SIGN_IN, operation_id="verifySignInPage")
    async def sign_in_page(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "verify/sign_in.html")

    @post("/sign-in", opt=SIGN_IN, operation_id="verifySignIn", status_code=200)
    async def sign_in(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await staff_sign_in(
            request,
            role="police_officer",
            cookie=COOKIE,
            path=PATH,
            template="verify/sign_in.html",
            home=PATH,
            wrong_role=say(request, "Эта страница для сотрудников полиции."),
        )

    @post("/sign-out", opt=SIGN_IN, operation_id="verifySignOut", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Response[Any]:
        await form_of(request)
        return await end_session(request, COOKIE, PATH, to=SIGN_IN_PATH)

    def _page(
        self,
        request: Request[Any, Any, Any],
        *,
        asked: Asked | None = None,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        return page(
            request,
            "verify/check.html",
            status_code=status_code,
            asked=asked or Asked(),
            result=result,
            form_error=error,
            config=script_config(request),
        )

    @get(opt=OFFICER, operation_id="verifyPage")
    async def start(self, request: Request[Any, Any, Any]) -> Template:
        return self._page(request)

    @post("/check", opt=OFFICER, operation_id="verifyCheck", status_code=200)
    async def check(self, request: Request[Any, Any, Any]) -> Template:
        """A check by the QR's text or by the number with the birth date: the verdict,
        and what a genuine certificate says."""
        form = await form_of(request)
        asked = asked_of(form)
        try:
            data = verify_in(request, asked, form.get("way", ""))
            answer = await _certificates(request).check(
                principal_of(request), data, client_address(request)
            )
        except ProblemError as exc:
            if exc.status == 401:
                raise
            return self._page(
                request, asked=asked, error=refusal(request, exc), status_code=exc.status
            )
        # The next check starts clean but for the place (and a number, to correct it).
        kept = (
            Asked(place=asked.place)
            if data.qr is not None
            else Asked(place=asked.place, number=asked.number, birth_date=asked.birth_date)
        )
        return self._page(request, asked=kept, result=result_of(request, answer))
