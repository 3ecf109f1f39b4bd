"""FHIR R4 scheduling for outside booking apps, as IHE ITI Scheduling defines it, under
``/fhir/R4`` beside the record's FHIR:

- ``POST Appointment/$find`` (ITI-115): Parameters in (``patient``, ``start``, ``end``,
  ``specialty`` or ``service-type``, ``practitioner``, ``organization`` or
  ``location``, ``_count``), a Bundle of proposed Appointments out: the engine's
  earliest free slots that the patient may book (where a specialty is booked only at
  the attached clinic, there; referral-only time when the patient holds a referral);
- ``POST Appointment/$hold`` (ITI-116): the ``appt-resource`` found, held by the
  booking's hold (status pending, the hold's token as an identifier, its expiry as an
  extension);
- ``POST Appointment/$book`` (ITI-117): a held appointment confirmed, or a found one
  booked directly (status booked);
- ``GET Appointment?patient=&date=&status=`` (ITI-118) and ``GET Appointment/<id>``;
- ``GET Schedule?actor=&specialty=``, ``GET Schedule/<id>``, ``GET Slot?schedule=&
  start=ge..&start=lt..&status=free``, ``GET Slot/<id>``.

Every booking goes through :class:`imias.booking.BookingService` and its rules, on the
channel ``fhir``; who may act for whom is the JSON API's (:mod:`imias.booking.caller`):
a patient for themself and a linked child, a registrar for her clinic's patients and
doctors. A refusal is an OperationOutcome with the booking rule's code and status.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency

from ehr import FHIR_EXCEPTIONS, fhir_response
from ehr import fhir_resources as r
from imias.booking import (
    CHANNEL_BITS,
    ENTITLED_BY_REFERRAL,
    BookingService,
    Channel,
    Engine,
    FreeSlot,
    acting_patient,
    bookable_clinics,
    caller,
    clinic_scope,
    doctor_in_scope,
    readable_patient,
    search,
    staff_hold,
)
from imias.identity import PUBLIC, allow
from imias.platform.audit.writer import record
from imias.platform.problems import ProblemError
from imias.registry import patients
from integrations.scheduling import mapping as m
from integrations.scheduling import queries as q
from integrations.scheduling import resources as s

BASE = "/fhir/R4"
CHANNEL: Channel = "fhir"
BITS = CHANNEL_BITS[CHANNEL]
FIND_MAX = 50

BOOKERS = allow(
    "patient",
    "registrar",
    data="as the JSON API's booking: patient: own and a linked child's; registrar: her "
    "clinic's doctors, any patient she names",
)
READERS = allow(
    "patient",
    "registrar",
    "doctor",
    data="as GET /api/v1/patients/{id}/appointments: patient: own, a linked child's; "
    "registrar: her clinic's; doctor: patients booked with her clinic (others: break-glass)",
)

_decode_parameters = msgspec.json.Decoder(s.Parameters)


def bad(code: str, detail: str) -> ProblemError:
    return ProblemError(400, code, detail)


async def parameters(request: Request[Any, Any, Any]) -> dict[str, list[s.Parameter]]:
    """The body's Parameters by name (400 when it is not a Parameters resource)."""
    body = _decode_parameters.decode(await request.body())
    found: dict[str, list[s.Parameter]] = {}
    for p in body.parameter or []:
        found.setdefault(p.name, []).append(p)
    return found


def text_of(p: s.Parameter) -> str | None:
    """A parameter's value as text: a string, code, date, a coding's code, a reference."""
    if p.value_coding is not None:
        return p.value_coding.code
    if p.value_codeable_concept is not None and p.value_codeable_concept.coding:
        return p.value_codeable_concept.coding[0].code
    if p.value_reference is not None:
        return p.value_reference.reference
    for value in (p.value_string, p.value_code, p.value_date, p.value_date_time, p.value_instant):
        if value is not None:
            return value
    if p.value_integer is not None or p.value_positive_int is not None:
        return str(p.value_integer if p.value_integer is not None else p.value_positive_int)
    return None


def one(params: dict[str, list[s.Parameter]], *names: str) -> str | None:
    for name in names:
        for p in params.get(name, []):
            value = text_of(p)
            if value:
                return value
    return None


def ref_id(value: str | None, kind: str) -> str | None:
    """``Kind/<id>`` or ``<id>`` -> ``<id>``; 400 for a reference to another type."""
    if value is None:
        return None
    if "/" in value:
        prefix, _, key = value.rpartition("/")
        if prefix.rsplit("/", 1)[-1] != kind:
            raise bad("invalid_reference", f"{value!r} is not a reference to a {kind}.")
        return key
    return value


def number(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise bad("invalid_reference", f"{value!r} is not a {what} id.")
    return int(value)


def practitioner(value: str | None) -> int | None:
    """The doctor of ``Practitioner/<clinic>-<doctor>`` (or of ``<doctor>``)."""
    key = ref_id(value, "Practitioner")
    if key is None:
        return None
    return number(key.rpartition("-")[2], "practitioner")


def when(value: str, zone: ZoneInfo, what: str) -> datetime:
    """A date (its first instant in the city's zone) or a dateTime with its offset."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=zone)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad("invalid_date", f"{what}: {value!r} is not a date or a dateTime.") from None
    if parsed.tzinfo is None:
        raise bad("invalid_date", f"{what}: a dateTime needs its offset.")
    if not 1900 <= parsed.year <= 2199:
        raise bad("invalid_date", f"{what}: {value!r} is out of range.")
    return parsed


def count_of(value: str | None, default: int = 10) -> int:
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= FIND_MAX:
        raise bad("invalid_count", f"_count is a number from 1 to {FIND_MAX}.")
    return int(value)


def engine_of(request: Request[Any, Any, Any]) -> Engine:
    engine: Engine = request.app.state.engine
    search.ready(engine)
    return engine


def zone_of(request: Request[Any, Any, Any]) -> ZoneInfo:
    return ZoneInfo(request.app.state.settings.time_zone)


def base_of(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/") + BASE


def bundle(
    request: Request[Any, Any, Any], kind: str, found: list[Any], type_: str = "searchset"
) -> Response[bytes]:
    base = base_of(request)
    return fhir_response(
        r.Bundle(
            type=type_,
            total=len(found) if type_ == "searchset" else None,
            entry=[
                r.BundleEntry(
                    full_url=f"{base}/{kind}/{f.id}" if f.id else None,
                    resource=f,
                    search=r.BundleSearch(mode="match") if type_ == "searchset" else None,
                )
                for f in found
            ],
        )
    )


# -- the appointment asked for ($hold, $book) -----------------------------------------


class Wanted(msgspec.Struct, frozen=True):
    doctor_id: int
    starts_at: datetime
    patient: int | None
    token: str | None


def wanted(params: dict[str, list[s.Parameter]]) -> Wanted:
    """The doctor, start, patient and hold token of the ``appt-resource`` parameter."""
    given = [p.resource for p in params.get("appt-resource", []) if p.resource is not None]
    if len(given) != 1:
        raise bad("appointment_required", "Send one Appointment as the appt-resource parameter.")
    appt = given[0]
    token = next(
        (i.value for i in appt.identifier or [] if i.system == m.HOLD_SYSTEM and i.value), None
    )
    doctor: int | None = None
    start: datetime | None = None
    for ref in appt.slot or []:
        key = ref_id(ref.reference, "Slot")
        if key is not None:
            _, doctor, start = m.parse_slot_id(key)
    patient = number(ref_id(one(params, "patient"), "Patient"), "patient")
    for p in appt.participant:
        reference = p.actor.reference if p.actor is not None else None
        if reference and reference.startswith("Practitioner/") and doctor is None:
            doctor = practitioner(reference)
        elif reference and reference.startswith("Patient/") and patient is None:
            patient = number(ref_id(reference, "Patient"), "patient")
    if start is None and appt.start is not None:
        start = when(appt.start, ZoneInfo("UTC"), "start")
    if token is None and (doctor is None or start is None):
        raise bad(
            "slot_required",
            "The appointment names its Slot, or its Practitioner and start, or a hold token.",
        )
    return Wanted(doctor or 0, start or datetime.now(UTC), patient, token)


def idempotency(request: Request[Any, Any, Any], fallback: str) -> str:
    """The client's Idempotency-Key, else one of the request's own (a retried $book of
    the same hold or the same slot is answered as the first)."""
    key = request.headers.get("Idempotency-Key", "")
    if key:
        if not 8 <= len(key) <= 128 or not key.isprintable():
            raise bad("idempotency_key_invalid", "An Idempotency-Key has 8 to 128 characters.")
        return key
    return fallback[:128]


class SchedulingController(Controller):
    path = BASE
    tags = ["fhir"]
    exception_handlers = FHIR_EXCEPTIONS

    @post(
        "/Appointment/$find",
        operation_id="fhirAppointmentFind",
        summary="IHE ITI-115: find potential appointments (a Bundle of proposed ones)",
        status_code=200,
        opt=BOOKERS,
    )
    async def find(
        self, request: Request[Any, Any, Any], booking: NamedDependency[BookingService]
    ) -> Response[bytes]:
        params = await parameters(request)
        patient = await acting_patient(
            request, number(ref_id(one(params, "patient"), "Patient"), "patient")
        )
        if not await patients.exists(booking.pool, patient):
            raise ProblemError(404, "not_found", "There is no such patient.")
        engine = engine_of(request)
        directory = engine.directory
        zone = zone_of(request)
        start_text, end_text = one(params, "start"), one(params, "end")
        not_before = when(start_text, zone, "start") if start_text else None
        before = when(end_text, zone, "end") if end_text else None
        first, last = search.window(
            engine,
            not_before.astimezone(zone).date() if not_before else None,
            before.astimezone(zone).date() if before else None,
        )
        count = count_of(one(params, "_count"))
        doctor = practitioner(one(params, "practitioner"))
        organization = number(
            ref_id(one(params, "organization"), "Organization")
            or ref_id(one(params, "location"), "Location"),
            "organization",
        )
        code = one(params, "specialty", "service-type")
        if doctor is not None:
            doctor_in_scope(request, doctor)
            if doctor not in directory.doctors:
                raise ProblemError(404, "unknown_doctor", f"There is no doctor {doctor}.")
            specialty = directory.specialties[directory.doctors[doctor].specialty_id]
        elif code is None:
            raise bad("specialty_required", "Name a specialty (or service-type) or a practitioner.")
        elif code not in directory.by_code:
            raise ProblemError(404, "unknown_specialty", f"There is no specialty {code!r}.")
        else:
            specialty = directory.by_code[code]
        entitled = 0
        if not specialty.self_referral:
            referrals = await booking.patient_referrals(patient)
            if any(ref["specialty"].id == specialty.id for ref in referrals):
                entitled = ENTITLED_BY_REFERRAL
        await record(booking.pool, "read", "referrals", None, patient)
        slots: list[FreeSlot]
        if doctor is not None:
            slots = search.doctor_slots(
                engine, doctor, FIND_MAX, first=first, last=last, channel=BITS, entitled=entitled
            )
        else:
            clinics = await bookable_clinics(booking.pool, engine, patient, specialty)
            scope = clinic_scope(request) if caller(request).role == "registrar" else None
            for only in (scope, organization):
                if only is not None:
                    clinics = [only] if clinics is None or only in clinics else []
            slots = []
            if clinics is None or clinics:
                slots = search.earliest(
                    engine,
                    FIND_MAX,
                    specialty_id=specialty.id,
                    clinic_ids=clinics,
                    first=first,
                    last=last,
                    channel=BITS,
                    entitled=entitled,
                )
        slots = [
            f
            for f in slots
            if (not_before is None or f.starts_at >= not_before)
            and (before is None or f.starts_at < before)
        ][:count]
        return bundle(request, "Appointment", [m.proposed(directory, f, patient) for f in slots])

    @post(
        "/Appointment/$hold",
        operation_id="fhirAppointmentHold",
        summary="IHE ITI-116: hold a found appointment (status pending, until its expiry)",
        status_code=200,
        opt=BOOKERS,
    )
    async def hold(
        self, request: Request[Any, Any, Any], booking: NamedDependency[BookingService]
    ) -> Response[bytes]:
        want = wanted(await parameters(request))
        if want.token is not None:
            raise bad("already_held", "This appointment is held already: $book it.")
        patient = await acting_patient(request, want.patient)
        doctor_in_scope(request, want.doctor_id)
        held = await booking.hold(patient, want.doctor_id, want.starts_at, CHANNEL)
        found = m.appointment(engine_of(request).directory, held.slot, held)
        return bundle(request, "Appointment", [found], "collection")

    @post(
        "/Appointment/$book",
        operation_id="fhirAppointmentBook",
        summary="IHE ITI-117: book a held appointment, or a found one directly",
        status_code=200,
        opt=BOOKERS,
    )
    async def book(
        self, request: Request[Any, Any, Any], booking: NamedDependency[BookingService]
    ) -> Response[bytes]:
        want = wanted(await parameters(request))
        if want.token is not None:
            if caller(request).role == "registrar":
                patient = await staff_hold(request, want.token, want.patient)
            else:
                patient = await acting_patient(request, want.patient)
            key = idempotency(request, f"fhir-confirm-{want.token}")
            booked = await booking.confirm(patient, want.token, key)
        else:
            patient = await acting_patient(request, want.patient)
            doctor_in_scope(request, want.doctor_id)
            minutes = int(want.starts_at.timestamp()) // 60
            key = idempotency(request, f"fhir-book-{want.doctor_id}-{minutes}")
            booked = await booking.book(patient, want.doctor_id, want.starts_at, CHANNEL, key)
        found = m.appointment(engine_of(request).directory, booked)
        return bundle(request, "Appointment", [found], "collection")

    @get(
        "/Appointment",
        operation_id="fhirAppointmentSearch",
        summary="IHE ITI-118: a patient's appointments (patient, date, status)",
        opt=READERS,
    )
    async def search_appointments(
        self, request: Request[Any, Any, Any], booking: NamedDependency[BookingService]
    ) -> Response[bytes]:
        query = query_of(request, {"patient", "date", "status", "_count"})
        principal = caller(request)
        given = query.get("patient", [None])[0]
        if given is None and principal.role != "patient":
            raise bad("patient_required", "An Appointment search names the patient.")
        patient = number(ref_id(given, "Patient"), "patient") if given else principal.subject
        assert patient is not None
        clinic = await readable_patient(request, patient)
        found = await booking.patient_appointments(patient)
        if clinic is not None:
            found = [a for a in found if a.clinic_id == clinic]
        zone = zone_of(request)
        for value in query.get("date", []):
            found = [a for a in found if date_matches(a.starts_at, value, zone)]
        statuses = {x for v in query.get("status", []) for x in v.split(",") if x}
        directory = engine_of(request).directory
        shown = [m.appointment(directory, a) for a in found]
        if statuses:
            shown = [a for a in shown if a.status in statuses]
        count = count_of(query.get("_count", [None])[0], 100) if "_count" in query else 100
        await record(booking.pool, "read", "appointments", None, patient)
        return bundle(request, "Appointment", shown[:count])

    @get(
        "/Appointment/{key:str}",
        operation_id="fhirAppointmentRead",
        summary="An appointment",
        opt=READERS,
    )
    async def read_appointment(
        self, request: Request[Any, Any, Any], booking: NamedDependency[BookingService], key: str
    ) -> Response[bytes]:
        appointment_id = number(key, "appointment") if key.isdigit() else None
        owner = None
        if appointment_id is not None:
            owner = await booking.pool.fetchrow(q.APPOINTMENT_OWNER, appointment_id)
        if owner is None:
            raise ProblemError(404, "not_found", "There is no such appointment.")
        clinic = await readable_patient(request, owner["patient_id"])
        found = [
            a
            for a in await booking.patient_appointments(owner["patient_id"])
            if a.id == appointment_id and clinic in (None, a.clinic_id)
        ]
        if not found:
            raise ProblemError(404, "not_found", "There is no such appointment.")
        await record(booking.pool, "read", "appointment", appointment_id, owner["patient_id"])
        return fhir_response(m.appointment(engine_of(request).directory, found[0]))

    # -- the directory's time: public, like GET /api/v1/slots ---------------------------

    @get("/Schedule", operation_id="fhirScheduleSearch", summary="Doctors' schedules", opt=PUBLIC)
    async def search_schedules(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        query = query_of(request, {"actor", "specialty", "_id", "_count"})
        engine = engine_of(request)
        directory = engine.directory
        count = count_of(query.get("_count", [None])[0], 20)
        doctors: list[int] = []
        for value in query.get("_id", []):
            doctors.append(m.schedule_key(value)[1])
        for value in query.get("actor", []):
            if "Practitioner/" in value or "-" in value:
                doctors.append(practitioner(value) or 0)
            else:
                clinic = number(ref_id(value, "Organization"), "organization")
                doctors += [d.id for d in directory.doctors_of_clinic.get(clinic or 0, [])]
        code = query.get("specialty", [None])[0]
        if not doctors and code is None:
            raise bad("invalid_search", "A Schedule search names an actor, a specialty or an _id.")
        if not doctors:
            doctors = [d.id for d in directory.doctors.values()]
        if code is not None:
            spec = directory.by_code.get(code)
            doctors = [d for d in doctors if spec and directory.doctors[d].specialty_id == spec.id]
        first, last = search.window(engine, None, None)
        shown = [m.schedule(directory, d, first, last) for d in doctors if d in directory.doctors]
        return bundle(request, "Schedule", shown[:count])

    @get("/Schedule/{key:str}", operation_id="fhirScheduleRead", summary="A schedule", opt=PUBLIC)
    async def read_schedule(self, request: Request[Any, Any, Any], key: str) -> Response[bytes]:
        clinic, doctor = m.schedule_key(key)
        engine = engine_of(request)
        found = engine.directory.doctors.get(doctor)
        if found is None or found.clinic_id != clinic:
            raise ProblemError(404, "not_found", "There is no such schedule.")
        first, last = search.window(engine, None, None)
        return fhir_response(m.schedule(engine.directory, doctor, first, last))

    @get("/Slot", operation_id="fhirSlotSearch", summary="A schedule's free slots", opt=PUBLIC)
    async def search_slots(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        query = query_of(request, {"schedule", "start", "status", "_count"})
        given = query.get("schedule", [None])[0]
        if given is None:
            raise bad("invalid_search", "A Slot search names its schedule.")
        clinic, doctor = m.schedule_key(ref_id(given, "Schedule") or "")
        if any(v != "free" for v in query.get("status", [])):
            raise bad("invalid_search", "Only free slots are searched (status=free).")
        engine = engine_of(request)
        found_doctor = engine.directory.doctors.get(doctor)
        if found_doctor is None or found_doctor.clinic_id != clinic:
            raise ProblemError(404, "not_found", "There is no such schedule.")
        zone = zone_of(request)
        low: datetime | None = None
        high: datetime | None = None
        for value in query.get("start", []):
            prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
            at = when(text, zone, "start")
            if prefix in ("ge", "gt", "eq", "sa"):
                low = at
            if prefix in ("lt", "le", "eb") or (prefix == "eq" and len(text) == 10):
                high = at + timedelta(days=1) if prefix in ("le", "eq") and len(text) == 10 else at
        first, last = search.window(
            engine,
            low.astimezone(zone).date() if low else None,
            high.astimezone(zone).date() if high else None,
        )
        count = count_of(query.get("_count", [None])[0], 20)
        slots = search.doctor_slots(engine, doctor, FIND_MAX, first=first, last=last, channel=BITS)
        slots = [
            f
            for f in slots
            if (low is None or f.starts_at >= low) and (high is None or f.starts_at < high)
        ]
        return bundle(request, "Slot", [m.free_slot(engine.directory, f) for f in slots[:count]])

    @get("/Slot/{key:str}", operation_id="fhirSlotRead", summary="A free slot", opt=PUBLIC)
    async def read_slot(self, request: Request[Any, Any, Any], key: str) -> Response[bytes]:
        clinic, doctor, starts = m.parse_slot_id(key)
        engine = engine_of(request)
        found_doctor = engine.directory.doctors.get(doctor)
        if found_doctor is None or found_doctor.clinic_id != clinic:
            raise ProblemError(404, "not_found", "There is no such slot.")
        zone = ZoneInfo(engine.directory.clinics[clinic].time_zone)
        day = starts.astimezone(zone).date()
        try:
            first, last = search.window(engine, day, day)
        except ProblemError:
            raise ProblemError(404, "not_found", "There is no such free slot.") from None
        slots = search.doctor_slots(engine, doctor, 500, first=first, last=last, channel=BITS)
        for f in slots:
            if f.starts_at == starts:
                return fhir_response(m.free_slot(engine.directory, f))
        raise ProblemError(404, "not_found", "There is no such free slot (taken, or none then).")


def query_of(request: Request[Any, Any, Any], known: set[str]) -> dict[str, list[str]]:
    """The query's parameters; an unknown one is refused (400), as the record's FHIR does."""
    found: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        if name not in known:
            raise bad("invalid_search", f"Unknown search parameter {name!r}.")
        found.setdefault(name, []).append(value)
    return found


def date_matches(at: datetime, value: str, zone: ZoneInfo) -> bool:
    """An appointment's start against a ``date`` parameter (eq by day, ge, gt, le, lt)."""
    prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
    bound = when(text, zone, "date")
    day = len(text) == 10
    if prefix == "eq":
        return bound <= at < bound + timedelta(days=1) if day else at == bound
    if prefix in ("ge", "sa"):
        return at >= bound
    if prefix == "gt":
        return at >= bound + timedelta(days=1) if day else at > bound
    if prefix in ("lt", "eb"):
        return at < bound
    if prefix == "le":
        return at < bound + timedelta(days=1) if day else at <= bound
    raise bad("invalid_date", f"date: unknown prefix {prefix!r}.")
