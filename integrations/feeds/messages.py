"""HL7 v2.5 messages of the feeds, built with hl7apy (:mod:`integrations.hl7`), pure
(no I/O): SIU for an appointment's changes and ADT A28/A31 for a patient's registration
and update. docs/scheduling.md lists every segment and field sent.

Identifiers: PID-3 repeats the patient's OMS policy number (``<policy>^^^OMS^NH``)
and the IMIAS id (``<id>^^^IMIAS^PI``). SCH-2, the filler's appointment id, is the
appointment's IMIAS id (``<id>^IMIAS``, the id of ``/api/v1`` and of FHIR's
Appointment); SCH-1, the placer's, is the id a
receiver knew before this message: the same in S12, S15 and S26, the moved
appointment's in S13 (a reschedule makes a new appointment, the old one cancelled).
Times are UTC with their offset (``YYYYMMDDHHMMSS+0000``). Text is escaped (``\\F\\``,
``\\S\\``, ...).
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from integrations import hl7

#: The SIU trigger of each appointment change (imias.booking.events' tags).
TRIGGERS = {"booked": "S12", "rescheduled": "S13", "cancelled": "S15", "no_show": "S26"}
#: SCH-25 / AIS-10 filler status (HL7 table 0278) and RGS-2 / AIS-2 action (table 0206).
FILLER_STATUS = {"S12": "Booked", "S13": "Booked", "S15": "Cancelled", "S26": "Noshow"}
ACTION = {"S12": "A", "S13": "U", "S15": "D", "S26": "U"}
#: SCH-6 event reason (a code of our own and its words).
REASONS = {
    "S12": "BOOKED^Записан на приём^IMIAS",
    "S13": "RESCHEDULED^Запись перенесена^IMIAS",
    "S15": "CANCELLED^Запись отменена^IMIAS",
    "S26": "NOSHOW^Пациент не явился^IMIAS",
}


class PatientData(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    policy_number: str
    family_name: str
    given_name: str
    patronymic: str | None = None
    birth_date: date
    sex: str
    phone: str | None = None
    attached_clinic_id: int | None = None


class AppointmentData(msgspec.Struct, frozen=True, kw_only=True):
    clinic_id: int
    id: int
    patient_id: int
    doctor_id: int
    starts_at: datetime
    ends_at: datetime
    status: str
    channel: str
    specialty_code: str
    specialty_name: str
    doctor_family: str
    doctor_given: str
    doctor_patronymic: str | None = None
    room: str | None = None
    clinic_name: str
    time_zone: str

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


_ESCAPES = str.maketrans({"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"})


def esc(text: str | None) -> str:
    """Text as an HL7 value: the separators escaped, line breaks as spaces."""
    if not text:
        return ""
    return text.translate(_ESCAPES).replace("\r", " ").replace("\n", " ")


def appointment_ref(appointment_id: int) -> str:
    """An appointment's id as SCH-1/SCH-2 say it (EI: id^namespace)."""
    return f"{appointment_id}^IMIAS"


def _pid(segment_parent: object, patient: PatientData) -> None:
    pid = segment_parent.add_segment("PID")  # type: ignore[attr-defined]
    pid.pid_1 = "1"
    pid.pid_3 = f"{patient.policy_number}^^^OMS^NH"
    other = pid.add_field("PID_3")
    other.value = f"{patient.id}^^^IMIAS^PI"
    pid.pid_5 = f"{esc(patient.family_name)}^{esc(patient.given_name)}^{esc(patient.patronymic)}"
    pid.pid_7 = patient.birth_date.strftime("%Y%m%d")
    pid.pid_8 = patient.sex
    if patient.phone:
        pid.pid_13 = f"{esc(patient.phone)}^PRN^PH"


def siu(
    trigger: str,
    control_id: str,
    appointment: AppointmentData,
    patient: PatientData,
    *,
    previous: int | None = None,
    at: datetime | None = None,
) -> bytes:
    """An SIU message (S12 new, S13 rescheduled, S15 cancelled, S26 no-show) of the
    appointment: MSH, SCH, PID and PV1 (the patient), RGS with AIS (the service: the
    specialty), AIL (the clinic and room) and AIP (the doctor). ``previous``: the moved
    appointment's id of an S13."""
    if trigger not in FILLER_STATUS:
        raise ValueError(f"not an SIU trigger of ours: {trigger}")
    a = appointment
    status, action = FILLER_STATUS[trigger], ACTION[trigger]
    start, end = hl7.timestamp(a.starts_at), hl7.timestamp(a.ends_at)
    message = hl7.new_message("SIU", trigger, control_id, structure="SIU_S12", at=at)
    sch = message.add_segment("SCH")
    sch.sch_1 = appointment_ref(previous if trigger == "S13" and previous else a.id)
    sch.sch_2 = appointment_ref(a.id)
    sch.sch_6 = REASONS[trigger]
    sch.sch_7 = f"{esc(a.specialty_code)}^{esc(a.specialty_name)}^IMIAS-SPECIALTY"
    sch.sch_8 = "ROUTINE^Плановый приём^HL70276"
    sch.sch_9 = str(a.minutes)
    sch.sch_10 = "min^минут^ISO+"
    sch.sch_11 = f"^^{a.minutes}^{start}^{end}"
    sch.sch_20 = f"{esc(a.channel)}^^^^^^^^IMIAS-CHANNEL"
    sch.sch_25 = status
    group = message.add_group("SIU_S12_PATIENT")
    _pid(group, patient)
    pv1 = group.add_segment("PV1")
    pv1.pv1_1 = "1"
    pv1.pv1_2 = "O"  # outpatient
    pv1.pv1_3 = _location(a)
    pv1.pv1_7 = _doctor(a)
    resources = message.add_group("SIU_S12_RESOURCES")
    rgs = resources.add_segment("RGS")
    rgs.rgs_1, rgs.rgs_2 = "1", action
    service = resources.add_group("SIU_S12_SERVICE").add_segment("AIS")
    service.ais_1, service.ais_2 = "1", action
    service.ais_3 = sch.sch_7.value
    service.ais_4 = start
    service.ais_7, service.ais_8 = str(a.minutes), "min^минут^ISO+"
    service.ais_10 = status
    location = resources.add_group("SIU_S12_LOCATION_RESOURCE").add_segment("AIL")
    location.ail_1, location.ail_2 = "1", action
    location.ail_3 = _location(a)
    location.ail_6 = start
    location.ail_9, location.ail_10 = str(a.minutes), "min^минут^ISO+"
    location.ail_12 = status
    person = resources.add_group("SIU_S12_PERSONNEL_RESOURCE").add_segment("AIP")
    person.aip_1, person.aip_2 = "1", action
    person.aip_3 = _doctor(a)
    person.aip_4 = f"{esc(a.specialty_code)}^{esc(a.specialty_name)}^IMIAS-SPECIALTY"
    person.aip_6 = start
    person.aip_9, person.aip_10 = str(a.minutes), "min^минут^ISO+"
    person.aip_12 = status
    return hl7.encode(message)


def _location(a: AppointmentData) -> str:
    """PL: the clinic (point of care, facility) and the doctor's room, with the clinic's
    name as the location's description."""
    return f"{a.clinic_id}^{esc(a.room)}^^{a.clinic_id}&IMIAS^^^^^{esc(a.clinic_name)}"


def _doctor(a: AppointmentData) -> str:
    """XCN: the doctor as the Practitioner id of /fhir/R4 (``<clinic>-<doctor>``)."""
    return (
        f"{a.clinic_id}-{a.doctor_id}^{esc(a.doctor_family)}^{esc(a.doctor_given)}"
        f"^{esc(a.doctor_patronymic)}^^^^^IMIAS"
    )


def adt(
    trigger: str, control_id: str, patient: PatientData, *, at: datetime | None = None
) -> bytes:
    """ADT A28 (a patient registered) or A31 (a patient's data updated): MSH, EVN, PID,
    PV1 (no visit: class N)."""
    if trigger not in ("A28", "A31"):
        raise ValueError(f"not an ADT trigger of ours: {trigger}")
    message = hl7.new_message("ADT", trigger, control_id, structure="ADT_A05", at=at)
    evn = message.add_segment("EVN")
    evn.evn_1 = trigger
    evn.evn_2 = hl7.timestamp(at)
    _pid(message, patient)
    pv1 = message.add_segment("PV1")
    pv1.pv1_1 = "1"
    pv1.pv1_2 = "N"  # not applicable: no visit
    if patient.attached_clinic_id is not None:
        pv1.pv1_3 = f"{patient.attached_clinic_id}^^^{patient.attached_clinic_id}&IMIAS"
    return hl7.encode(message)
