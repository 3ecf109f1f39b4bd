"""The pharmacy's pages. The session is the pharmacist's token in the ``imias_pharmacy``
cookie (path ``/pharmacy``); her account names her pharmacy. Every read and dispensing
goes through :class:`prescriptions.Prescriptions` with the proof the holder shows (the
QR code, the number with the birth date, or the policy number at a subsidised
pharmacy), audited there; the proof rides along in the dispensing form."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from imias.channels.kiosk.pages import birth_date as keypad_date
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.pages import form_of, lang_of, page, say
from imias.channels.web.rx_view import refusal_text, rx_helpers, rx_lang, rx_sentence
from imias.channels.web.staff import sign_in_policy, staff_sign_in, staff_sign_out
from imias.identity import allow, principal_of
from imias.platform.problems import ProblemError
from imias.registry import Pharmacy, pharmacy
from prescriptions import CounterView, DispenseIn, Prescriptions, ScanIn

COOKIE = "imias_pharmacy"
PATH = "/pharmacy"
COUNTER = allow(
    "pharmacist",
    data="pharmacist: one prescription at a time, by its QR code, its number with the "
    "holder's birth date, or (subsidised pharmacy) the holder's policy number",
    cookie=COOKIE,
    sign_in=PATH,
)
SIGN_IN = sign_in_policy("pharmacy counter")


@dataclass(frozen=True, slots=True)
class Proof:
    """What the holder showed: the dispensing form carries it back."""

    code: str = ""
    number: str = ""
    birth_date: str = ""
    policy_number: str = ""


def _service(request: Request[Any, Any, Any]) -> Prescriptions:
    service: Prescriptions = request.app.state.prescriptions
    return service


def typed_date(text: str) -> date | None:
    """A birth date as a date field sends it (YYYY-MM-DD) or as typed (DD.MM.YYYY)."""
    text = text.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        return keypad_date(text.replace(".", "").replace("/", ""))


def proof_of(form: dict[str, str]) -> Proof:
    return Proof(
        code=form.get("code", "").strip(),
        number=form.get("number", "").strip().lstrip("№ "),
        birth_date=form.get("birth_date", "").strip(),
        policy_number=form.get("policy_number", "").replace(" ", "").strip(),
    )


async def _place(request: Request[Any, Any, Any]) -> Pharmacy:
    org = principal_of(request).org
    found = None if org is None else await pharmacy(request.app.state.db, org)
    if found is None:
        raise ProblemError(403, "no_pharmacy", refusal_text("no_pharmacy", lang_of(request)))
    return found


async def _views(request: Request[Any, Any, Any], proof: Proof) -> list[CounterView]:
    """The prescriptions the proof reaches (a refusal raises its problem)."""
    service = _service(request)
    principal = principal_of(request)
    if proof.policy_number:
        return await service.by_policy(principal, proof.policy_number, rx_lang(request))
    if proof.code:
        scan = ScanIn(code=proof.code)
    else:
        born = typed_date(proof.birth_date)
        if not proof.number.isdigit() or len(proof.number) > 19 or born is None:
            raise ProblemError(
                422,
                "bad_scan",
                say(request, "Введите номер рецепта (цифры) и дату рождения владельца."),
            )
        scan = ScanIn(number=proof.number, birth_date=born)
    try:
        msgspec.convert(msgspec.to_builtins(scan), ScanIn)  # the code's own length limits
    except msgspec.ValidationError:
        raise ProblemError(422, "bad_code", refusal_text("bad_code", lang_of(request))) from None
    return [await service.scan(principal, scan, rx_lang(request))]


class PharmacyController(Controller):
    path = PATH
    tags = ["pharmacy"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get(opt=SIGN_IN, operation_id="pharmacySignInPage")
    async def start(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "pharmacy/sign_in.html")

    @post("/sign-in", opt=SIGN_IN, operation_id="pharmacySignIn", status_code=200)
    async def sign_in(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await staff_sign_in(
            request,
            role="pharmacist",
            cookie=COOKIE,
            path=PATH,
            template="pharmacy/sign_in.html",
            home=f"{PATH}/counter",
            wrong_role=say(request, "Эта страница для работников аптек."),
        )

    @post("/sign-out", opt=SIGN_IN, operation_id="pharmacySignOut", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await staff_sign_out(request, cookie=COOKIE, path=PATH)

    async def _counter(
        self,
        request: Request[Any, Any, Any],
        *,
        views: list[CounterView] | None = None,
        proof: Proof | None = None,
        error: str | None = None,
        notice: str | None = None,
        searched: bool = False,
        status_code: int = 200,
    ) -> Template:
        return page(
            request,
            "pharmacy/counter.html",
            status_code=status_code,
            place=await _place(request),
            views=views or [],
            proof=proof or Proof(),
            searched=searched,
            error=error,
            notice=notice,
            request_key=lambda: uuid.uuid4().hex,
            **rx_helpers(request),
        )

    @get("/counter", opt=COUNTER, operation_id="pharmacyCounter")
    async def counter(self, request: Request[Any, Any, Any]) -> Template:
        return await self._counter(request)

    @post("/counter/scan", opt=COUNTER, operation_id="pharmacyScan", status_code=200)
    async def scan(self, request: Request[Any, Any, Any]) -> Template:
        """A prescription by its code, or by its number and the holder's birth date; or a
        subsidised pharmacy's search by the policy number."""
        proof = proof_of(await form_of(request))
        try:
            views = await _views(request, proof)
        except ProblemError as exc:
            if exc.status == 401:
                raise
            return await self._counter(
                request, proof=proof, error=rx_sentence(exc, request), status_code=exc.status
            )
        return await self._counter(request, views=views, proof=proof, searched=True)

    @post(
        "/counter/prescriptions/{prescription_id:int}/dispense",
        opt=COUNTER,
        operation_id="pharmacyDispense",
        status_code=200,
    )
    async def dispense(
        self, request: Request[Any, Any, Any], prescription_id: FromPath[int]
    ) -> Template:
        form = await form_of(request)
        proof = proof_of(form)
        lang = rx_lang(request)
        try:
            key = uuid.UUID(form.get("request_id", ""))
        except ValueError:
            key = None
        try:
            data = msgspec.convert(
                {
                    "quantity": int(form.get("quantity", "")),
                    "period": int(form.get("period", "")),
                    "product": form.get("product") or None,
                    "request_id": key,
                    "code": proof.code or None,
                    "birth_date": typed_date(proof.birth_date) if proof.birth_date else None,
                    "policy_number": proof.policy_number or None,
                },
                DispenseIn,
            )
        except (ValueError, msgspec.ValidationError):
            data = None
        error = notice = None
        status = 200
        if data is None:
            error, status = say(request, "Введите количество: целое число от 1."), 422
        else:
            try:
                out, _new = await _service(request).dispense(
                    principal_of(request), prescription_id, data, lang
                )
                notice = say(request, "Отпущено: {quantity}.").format(quantity=out.quantity)
            except ProblemError as exc:
                if exc.status == 401:
                    raise
                error, status = rx_sentence(exc, request), exc.status
        try:
            views = await _views(request, proof)
        except ProblemError as exc:
            if exc.status == 401:
                raise
            views = []
            error = error or rx_sentence(exc, request)
        return await self._counter(
            request,
            views=views,
            proof=proof,
            error=error,
            notice=notice,
            searched=True,
            status_code=status,
        )
