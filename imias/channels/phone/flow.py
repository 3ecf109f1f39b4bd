"""The IVR's menus: one step per webhook call, the call's state in Redis.

Identification on the phone is the web's sign-in with the keypad: the policy number
and the birth date, then the 6-digit code that identity sends by SMS to the phone in
the patient's record, typed on the keypad. The caller id alone is never trusted (it
is easily forged); it only binds the call's later steps to the number that started it
and keys the sign-in rate limit. Then: book the earliest slot of a chosen specialty
(the next one on request), hear and cancel one's appointments. Invalid or missing
input is asked again; the third failure in a row transfers the call to the call
centre (``<Dial>``), and so does 0 in the main menu.

The bookings go through :class:`~imias.booking.service.BookingService` on the
``phone`` channel with the same rules as the API, as the signed-in patient (the audit
log names them as the actor, as for their own web request).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import msgspec

from imias.booking import BookingService, Engine, earliest_for
from imias.channels.phone.calls import Calls, CallState, Offer, Step
from imias.channels.phone.prompts import say, when
from imias.channels.phone.twiml import Answer
from imias.identity import Identity, PatientCodeRequest, PatientTokenRequest, Principal
from imias.platform.audit.writer import Access, access_var, record
from imias.platform.logs import request_id_var
from imias.platform.problems import ProblemError
from imias.registry import Specialty

log = logging.getLogger("imias.channels.phone")

MAX_FAILURES = 3
MAX_OFFERS = 10
# The specialties offered on the keypad (digits 1..), those the city has.
PHONE_SPECIALTIES = (
    "therapist",
    "dentist",
    "ophthalmologist",
    "otolaryngologist",
    "surgeon",
    "gynaecologist",
    "urologist",
    "general_practitioner",
    "dental_surgeon",
)
DIGITS = {
    "language": 1,
    "policy": 16,
    "birth": 8,
    "code": 6,
    "menu": 1,
    "specialty": 1,
    "offer": 1,
    "listing": 1,
}


class Transfer(Exception):
    """End the IVR part of the call: hand it to the call centre."""


@dataclass
class PhoneFlow:
    identity: Identity
    booking: BookingService
    engine: Engine
    calls: Calls
    call_centre: str
    action: str = "/phone"
    demo: bool = False

    # -- one webhook call ------------------------------------------------------------

    async def answer(
        self, call_id: str, caller: str, digits: str | None, client: str | None
    ) -> bytes:
        state = await self.calls.load(call_id)
        if state is None:
            state = CallState(call_id=call_id, caller=caller)
            out = Answer("ru")
            self._prompt(state, out)
            await self.calls.save(state)
            return out.render()
        if state.caller != caller:
            log.warning("a phone step from another number than the call's was refused")
            return Answer(state.lang).hangup().render()
        out = Answer(state.lang)
        try:
            await getattr(self, "_on_" + state.step)(state, digits or None, out, client)
        except Transfer:
            out.say(say("transfer", state.lang)).dial(self.call_centre)
            await self.calls.forget(call_id)
            return out.render()
        await self.calls.save(state)
        return out.render()

    # -- prompts and failures --------------------------------------------------------

    def _prompt(self, state: CallState, out: Answer, extra: str | None = None) -> None:
        lang = state.lang
        texts: list[str] = []
        if state.step == "language":
            out.gather(self.action, [], digits=1)
            gather = out.root.find("Gather")
            out.say(say("welcome", "ru"), gather)
            Answer("en", out.root).say(say("welcome", "en"), gather)
            return
        if state.step == "specialty":
            texts = [
                say("specialty_item", lang, name=self._name(s, lang), digit=i)
                for i, s in enumerate(self._menu(), 1)
            ]
            texts.append(say("back", lang))
        elif state.step in ("offer", "listing"):
            texts = [extra or "", say("back", lang)]
        else:
            texts = [say(state.step, lang)]
        out.gather(self.action, [t for t in texts if t], digits=DIGITS[state.step])

    def _fail(self, state: CallState, out: Answer, why: str, extra: str | None = None) -> None:
        state.failures += 1
        log.info("phone input refused", extra={"step": state.step, "failures": state.failures})
        if state.failures >= MAX_FAILURES:
            raise Transfer
        out.say(say(why, state.lang))
        self._prompt(state, out, extra)

    def _go(self, state: CallState, step: Step, out: Answer, extra: str | None = None) -> None:
        state.step = step
        state.failures = 0
        self._prompt(state, out, extra)

    def _bad(self, digits: str | None) -> str:
        return "missing" if digits is None else "invalid"

    # -- identification --------------------------------------------------------------

    async def _on_language(
        self, state: CallState, digits: str | None, out: Answer, client: str | None
    ) -> None:
        if digits not in (None, "1", "2"):
            return self._fail(state, out, "invalid")
        state.lang = "en" if digits == "2" else "ru"
        out.lang = state.lang
        self._go(state, "policy", out)

    async def _on_policy(
        self, state: CallState, digits: str | None, out: Answer, client: str | None
    ) -> None:
        if digits is None or len(digits) != 16 or not digits.isdigit():
            return self._fail(state, out, self._bad(digits))
        state.policy_number = digits
        self._go(state, "birth", out)

    async def _on_birth(
        self, state: CallState, digits: str | None, out: Answer, client: str | None
    ) -> None:
        born = _birth_date(digits)
        if born is None or state.policy_number is None:
            return self._fail(state, out, self._bad(digits))
        request = PatientCodeRequest(state.policy_number, born, channel="phone")
        try:
            sent = await self.identity.sign_in.send_patient_code(request, _address(state))
        except ProblemError as exc:
            if exc.status == 429:
                out.say(say("too_many", state.lang))
                raise Transfer from None
            raise
        state.challenge = sent.challenge
        state.policy_number = None  # not needed any more
        if self.demo and sent.demo_code:
            out.say(say("demo_code", state.lang, code=" ".join(sent.demo_code)))
        self._go(state, "code", out)

    async def _on_code(
        self, state: CallState, digits: str | None, out: Answer, client: str | None
    ) -> None:
        if digits is None or len(digits) != 6 or not digits.isdigit():
            return self._fail(state, out, self._bad(digits))
        request = msgspec.convert(
            {"challenge": state.challenge, "code": digits}, PatientTokenRequest
        )
        try:
            token = await self.identity.sign_in.patient_token(request, _address(state))
        except ProblemError as exc:
            if exc.status == 429:
                out.say(say("too_many", state.lang))
                raise Transfer from None
            return self._fail(state, out, "wrong_code")
        state.token = token.access_token
        state.challenge = None
        out.say(say("signed_in", state.lang))
        self._go(state, "menu", out)

    async def _principal(self, state: CallState, out: Answer, client: str | None) -> Principal:
        """The signed-in patient of the call, as the audit log will name them; a session
        that ended sends the caller back to identification."""
        try:
            principal = await self.identity.authenticate(f"Bearer {state.token}")
        except ProblemError:
            state.token = None
            out.say(say("session_over", state.lang))
            self._go(state, "policy", out)
            raise
        access_var.set(Access(principal.subject, "patient", None, request_id_var.get(), client))
        return principal

    # -- the main menu ---------------------------------------------------------------

    async def _on_menu(
        self, state: CallState, digits: str | None, out: Answer, client: str | None
    ) -> None:
        if digits == "0":
            raise Transfer
        if digits == "1":
            return self._go(state, "specialty", out)
        if digits == "2":
            try:
                principal = await self._principal(state, out, client)
            except ProblemError:
                return
            state.listing_index = 0
            return await self._list(state, principal.subject, out)
        self._fail(state, out, self._bad(digits))

    # -- booking ---------------------------------------------------------------------

    def _menu(self) -> list[Specialty]:
        by_code = self.engine.directory.by_code
        return [by_code[c] for c in PHONE_SPECIALTIES if c in by_code]

    @staticmethod
    def _name(specialty: Specialty, lang: str) -> str:
        return specialty.name_ru if lang == "ru" else specialty.name_en

    async def _on_specialty(
        self, state: CallState, digits: str | None, out: Answer, client: str | None
    ) -> None:
        menu = self._menu()
        if digits == "*":
            return self._go(state, "menu", out)
        if digits is None or not digits.isdigit() or not 1 <= int(digits) <= len(menu):
            return self._fail(state, out, self._bad(digits))
        try:
            principal = await self._principal(state, out, client)
        except ProblemError:
            return
        state.specialty = menu[int(digits) - 1].code
        state.offer_index = 0
        await self._offer(state, principal.subject, out)

    async def _offer(self, state: CallState, patient: int, out: Answer) -> None:
        assert state.specialty is not None
        specialty = self.engine.directory.by_code[state.specialty]
        slots = await earliest_for(
            self.booking.pool, self.engine, patient, specialty, state.offer_index + 1, "phone"
        )
        if not slots:
            out.say(say("no_slots", state.lang))
            return self._go(state, "menu", out)
        if state.offer_index >= len(slots):
            out.say(say("no_more_slots", state.lang))
            state.offer_index = 0
        slot = slots[state.offer_index]
        state.offer = Offer(slot.doctor_id, slot.starts_at)
        text = say(
            "offer",
            state.lang,
            specialty=self._name(specialty, state.lang),
            when=when(datetime.fromisoformat(slot.local_start), state.lang),
            doctor=slot.doctor_name,
            clinic=slot.clinic_name,
            room=slot.room or "-",
        )
        self._go(state, "offer", out, text)
        state.offer_text = text

    async def _on_offer(
        self, state: CallState, digits: str | None, out: Answer, client: str | None
    ) -> None:
        if digits == "*":
            return self._go(state, "menu", out)
        if digits not in ("1", "2") or state.offer is None:
            return self._fail(state, out, self._bad(digits), state.offer_text)
        try:
            principal = await self._principal(state, out, client)
        except ProblemError:
            return
        patient = principal.subject
        if digits == "2":
            state.offer_index = (state.offer_index + 1) % MAX_OFFERS
            return await self._offer(state, patient, out)
        offer = state.offer
        key = f"phone-{state.call_id}-{offer.doctor_id}-{int(offer.starts_at.timestamp())}"
        try:
            booked = await self.booking.book(
                patient, offer.doctor_id, offer.starts_at, "phone", key
            )
        except ProblemError as exc:
            out.say(say("refused", state.lang, reason=_sentence(exc, state.lang)))
            if exc.code == "slot_taken":
                return await self._offer(state, patient, out)
            return self._go(state, "menu", out)
        log.info("booked by phone", extra={"appointment": booked.id})
        out.say(
            say(
                "booked",
                state.lang,
                when=when(datetime.fromisoformat(booked.local_start), state.lang),
                room=booked.room or "-",
            )
        )
        state.offer = None
        self._go(state, "menu", out)

    # -- my appointments -------------------------------------------------------------

    async def _list(self, state: CallState, patient: int, out: Answer) -> None:
        now = datetime.now(UTC)
        found = await self.booking.patient_appointments(patient)
        await record(self.booking.pool, "read", "appointments", None, patient)
        upcoming = sorted(
            (a for a in found if a.status == "booked" and a.starts_at > now),
            key=lambda a: a.starts_at,
        )
        state.listing = [a.id for a in upcoming]
        if state.listing_index >= len(upcoming):
            if not upcoming:
                out.say(say("no_appointments", state.lang))
            return self._go(state, "menu", out)
        a = upcoming[state.listing_index]
        specialty = self.engine.directory.by_code[a.specialty]
        text = say(
            "appointment",
            state.lang,
            n=state.listing_index + 1,
            total=len(upcoming),
            specialty=self._name(specialty, state.lang),
            when=when(datetime.fromisoformat(a.local_start), state.lang),
            doctor=a.doctor_name or "-",
            clinic=a.clinic_name or "-",
            room=a.room or "-",
        )
        self._go(state, "listing", out, text)
        state.offer_text = text

    async def _on_listing(
        self, state: CallState, digits: str | None, out: Answer, client: str | None
    ) -> None:
        if digits == "*":
            return self._go(state, "menu", out)
        if digits not in ("1", "2") or not state.listing:
            return self._fail(state, out, self._bad(digits), state.offer_text)
        try:
            principal = await self._principal(state, out, client)
        except ProblemError:
            return
        patient = principal.subject
        if digits == "2":
            state.listing_index += 1
            return await self._list(state, patient, out)
        appointment = state.listing[state.listing_index]
        try:
            await self.booking.cancel(patient, appointment)
        except ProblemError as exc:
            out.say(say("refused", state.lang, reason=_sentence(exc, state.lang)))
        else:
            out.say(say("cancelled", state.lang))
        await self._list(state, patient, out)


def _birth_date(digits: str | None) -> date | None:
    if digits is None or len(digits) != 8 or not digits.isdigit():
        return None
    try:
        born = date(int(digits[4:]), int(digits[2:4]), int(digits[:2]))
    except ValueError:
        return None
    return born if date(1900, 1, 1) <= born <= date.today() else None


def _address(state: CallState) -> str:
    """What the sign-in rate limit counts failures per: the calling number."""
    return "phone:" + (state.caller or "unknown")


def _sentence(exc: ProblemError, lang: str) -> str:
    if lang == "ru" and exc.extra.get("message_ru"):
        return str(exc.extra["message_ru"])
    return exc.detail or exc.title


def new_call_id() -> str:
    return "SIM" + uuid.uuid4().hex
