"""Booking's values as FHIR resources, and back: Appointment, Schedule (one per doctor),
Slot (a free time of a doctor's), and the ids they carry.

Ids: a Schedule is its doctor's, ``<clinic>-<doctor>`` like the record's Practitioner;
a Slot ``<clinic>-<doctor>-<start>`` with the start as Unix minutes; an Appointment
is its IMIAS id (``/api/v1``'s). A held appointment carries its hold token as an
identifier (:data:`HOLD_SYSTEM`) and its expiry as an extension (:data:`HOLD_EXPIRES`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ehr import fhir_resources as r
from imias.booking import Appointment as Booked
from imias.booking import FreeSlot, Hold
from imias.platform.problems import ProblemError
from imias.registry import Directory
from integrations.scheduling import resources as s

SPECIALTY_SYSTEM = "urn:imias:specialty"
HOLD_SYSTEM = "urn:imias:hold-token"
HOLD_EXPIRES = "https://imias.example.org/fhir/StructureDefinition/hold-expires"
CHANNEL_EXTENSION = "https://imias.example.org/fhir/StructureDefinition/booking-channel"
PROFILE = "https://profiles.ihe.net/ITI/Scheduling/StructureDefinition/ihe-sched-appt"

#: appointments.status -> Appointment.status
STATUS = {
    "held": "pending",
    "booked": "booked",
    "arrived": "arrived",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
    "expired": "cancelled",
}


def instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def specialty_concept(directory: Directory, code: str) -> r.CodeableConcept:
    found = directory.by_code.get(code)
    return r.CodeableConcept(
        coding=[
            r.Coding(system=SPECIALTY_SYSTEM, code=code, display=found.name_ru if found else None)
        ]
    )


def practitioner_ref(directory: Directory, doctor_id: int) -> r.Reference:
    doctor = directory.doctors.get(doctor_id)
    if doctor is None:
        return r.Reference(reference=f"Practitioner/0-{doctor_id}")
    return r.Reference(
        reference=f"Practitioner/{doctor.clinic_id}-{doctor.id}", display=doctor.full_name
    )


def organization_ref(directory: Directory, clinic_id: int) -> r.Reference:
    clinic = directory.clinics.get(clinic_id)
    return r.Reference(
        reference=f"Organization/{clinic_id}", display=clinic.name if clinic else None
    )


def slot_id(clinic_id: int, doctor_id: int, starts_at: datetime) -> str:
    return f"{clinic_id}-{doctor_id}-{int(starts_at.timestamp()) // 60}"


def parse_slot_id(key: str) -> tuple[int, int, datetime]:
    """(clinic, doctor, start) of a Slot id; 404 when it is not one."""
    parts = key.split("-")
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 18 for p in parts):
        raise ProblemError(404, "not_found", "There is no such slot.")
    clinic, doctor, minutes = (int(p) for p in parts)
    try:
        return clinic, doctor, datetime.fromtimestamp(minutes * 60, UTC)
    except (OverflowError, OSError, ValueError):
        raise ProblemError(404, "not_found", "There is no such slot.") from None


def schedule_key(key: str) -> tuple[int, int]:
    clinic, _, doctor = key.partition("-")
    if not (clinic.isdigit() and doctor.isdigit() and len(clinic) < 19 and len(doctor) < 19):
        raise ProblemError(404, "not_found", "There is no such schedule.")
    return int(clinic), int(doctor)


def participants(
    directory: Directory, patient_id: int, doctor_id: int, clinic_id: int, status: str
) -> list[s.AppointmentParticipant]:
    return [
        s.AppointmentParticipant(
            actor=r.Reference(reference=f"Patient/{patient_id}"), required="required", status=status
        ),
        s.AppointmentParticipant(
            actor=practitioner_ref(directory, doctor_id), required="required", status="accepted"
        ),
        s.AppointmentParticipant(
            actor=organization_ref(directory, clinic_id), required="required", status="accepted"
        ),
    ]


def proposed(directory: Directory, slot: FreeSlot, patient_id: int) -> s.Appointment:
    """A free slot found for the patient, as ITI-115 answers it (status proposed)."""
    minutes = int((slot.ends_at - slot.starts_at).total_seconds() // 60)
    return s.Appointment(
        status="proposed",
        service_type=[specialty_concept(directory, slot.specialty)],
        specialty=[specialty_concept(directory, slot.specialty)],
        start=instant(slot.starts_at),
        end=instant(slot.ends_at),
        minutes_duration=minutes,
        slot=[
            r.Reference(reference=f"Slot/{slot_id(slot.clinic_id, slot.doctor_id, slot.starts_at)}")
        ],
        participant=participants(
            directory, patient_id, slot.doctor_id, slot.clinic_id, "needs-action"
        ),
    )


def appointment(directory: Directory, a: Booked, hold: Hold | None = None) -> s.Appointment:
    """A booking's appointment (or a hold's, with its token and expiry)."""
    status = "pending" if hold is not None else STATUS.get(a.status, "booked")
    minutes = int((a.ends_at - a.starts_at).total_seconds() // 60)
    extension = [s.Extension(url=CHANNEL_EXTENSION, value_string=a.channel)]
    identifier = None
    if hold is not None:
        extension.append(s.Extension(url=HOLD_EXPIRES, value_date_time=instant(hold.expires_at)))
        identifier = [r.Identifier(system=HOLD_SYSTEM, value=hold.token)]
    return s.Appointment(
        id=str(a.id),
        extension=extension,
        identifier=identifier,
        status=status,
        service_type=[specialty_concept(directory, a.specialty)],
        specialty=[specialty_concept(directory, a.specialty)],
        start=instant(a.starts_at),
        end=instant(a.ends_at),
        minutes_duration=minutes,
        slot=[r.Reference(reference=f"Slot/{slot_id(a.clinic_id, a.doctor_id, a.starts_at)}")],
        participant=participants(
            directory,
            a.patient_id,
            a.doctor_id,
            a.clinic_id,
            "tentative" if hold is not None else "accepted",
        ),
    )


def schedule(directory: Directory, doctor_id: int, first: date, last: date) -> s.Schedule:
    doctor = directory.doctors[doctor_id]
    code = directory.specialties[doctor.specialty_id].code
    return s.Schedule(
        id=f"{doctor.clinic_id}-{doctor.id}",
        active=True,
        service_type=[specialty_concept(directory, code)],
        specialty=[specialty_concept(directory, code)],
        actor=[
            practitioner_ref(directory, doctor_id),
            organization_ref(directory, doctor.clinic_id),
        ],
        planning_horizon=r.Period(
            start=first.isoformat(), end=(last + timedelta(days=1)).isoformat()
        ),
        comment=f"{doctor.full_name}, {doctor.room}" if doctor.room else doctor.full_name,
    )


def free_slot(directory: Directory, slot: FreeSlot) -> s.Slot:
    return s.Slot(
        id=slot_id(slot.clinic_id, slot.doctor_id, slot.starts_at),
        service_type=[specialty_concept(directory, slot.specialty)],
        specialty=[specialty_concept(directory, slot.specialty)],
        schedule=r.Reference(reference=f"Schedule/{slot.clinic_id}-{slot.doctor_id}"),
        status="free",
        start=instant(slot.starts_at),
        end=instant(slot.ends_at),
    )
