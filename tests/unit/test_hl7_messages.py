"""The feeds' HL7 v2 messages as built (integrations.feeds.messages), parsed back with
hl7apy: every SIU trigger and both ADT ones, their fields, and text escaped."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from imias.booking import AppointmentBooked, decode_appointment_change
from imias.booking.events import booked_json_sql
from integrations import hl7
from integrations.feeds import messages as m

APPOINTMENT = m.AppointmentData(
    clinic_id=7, id=100, patient_id=42, doctor_id=55,
    starts_at=datetime(2026, 12, 5, 5, 30, tzinfo=UTC),
    ends_at=datetime(2026, 12, 5, 5, 45, tzinfo=UTC),
    status="booked", channel="fhir", specialty_code="therapist", specialty_name="Терапевт",
    doctor_family="Петров", doctor_given="Пётр", doctor_patronymic="Ильич", room="101",
    clinic_name="Поликлиника | №7 ^ & ~", time_zone="Europe/Moscow",
)  # fmt: skip
PATIENT = m.PatientData(
    id=42, policy_number="1234567890123456", family_name="Иванов", given_name="Иван",
    patronymic="Иванович", birth_date=date(1960, 1, 2), sex="M", phone="+79991234567",
    attached_clinic_id=7,
)  # fmt: skip


@pytest.mark.parametrize(
    ("trigger", "status", "action"),
    [("S12", "Booked", "A"), ("S13", "Booked", "U"), ("S15", "Cancelled", "D"),
     ("S26", "Noshow", "U")],
)  # fmt: skip
def test_siu_fields(trigger: str, status: str, action: str) -> None:
    raw = m.siu(trigger, f"SIU{trigger}", APPOINTMENT, PATIENT, previous=99)
    msg = hl7.parse(raw)
    assert msg.msh.msh_9.value == f"SIU^{trigger}^SIU_S12"
    assert hl7.control_id(msg) == f"SIU{trigger}"
    assert msg.sch.sch_1.value == ("99^IMIAS" if trigger == "S13" else "100^IMIAS")
    assert msg.sch.sch_2.value == "100^IMIAS"
    assert msg.sch.sch_11.value == "^^15^20261205053000+0000^20261205054500+0000"
    assert msg.sch.sch_25.value == status
    assert [x.value for x in msg.pid.pid_3] == ["1234567890123456^^^OMS^NH", "42^^^IMIAS^PI"]
    assert msg.pid.pid_5.value == "Иванов^Иван^Иванович"
    assert msg.pid.pid_7.value == "19600102" and msg.pid.pid_8.value == "M"
    assert msg.pv1.pv1_2.value == "O"
    assert msg.rgs.rgs_2.value == action
    assert msg.ais.ais_3.value == "therapist^Терапевт^IMIAS-SPECIALTY"
    assert msg.ais.ais_10.value == status
    assert msg.aip.aip_3.value == "7-55^Петров^Пётр^Ильич^^^^^IMIAS"
    # the clinic's name with every separator in it, escaped: the segment still parses
    assert msg.ail.ail_3.value.endswith("Поликлиника \\F\\ №7 \\S\\ \\T\\ \\R\\")
    assert [s.name for s in msg.children] == [
        "MSH", "SCH", "PID", "PV1", "RGS", "AIS", "AIL", "AIP",
    ]  # fmt: skip


def test_adt_fields() -> None:
    for trigger in ("A28", "A31"):
        msg = hl7.parse(m.adt(trigger, f"ADT{trigger}", PATIENT))
        assert msg.msh.msh_9.value == f"ADT^{trigger}^ADT_A05"
        assert msg.evn.evn_1.value == trigger
        assert msg.pid.pid_13.value == "+79991234567^PRN^PH"
        assert msg.pv1.pv1_2.value == "N" and msg.pv1.pv1_3.value.startswith("7^")
        assert [s.name for s in msg.children] == ["MSH", "EVN", "PID", "PV1"]


def test_unknown_triggers_are_refused() -> None:
    with pytest.raises(ValueError):
        m.siu("S14", "x", APPOINTMENT, PATIENT)
    with pytest.raises(ValueError):
        m.adt("A08", "x", PATIENT)


def test_the_sql_built_booking_payload_is_the_struct() -> None:
    # what booked_json_sql's json_build_object makes, keys in its order
    sql = booked_json_sql("change.id", "$3", "$1", "$8")
    assert sql.index("'change', 'booked'") < sql.index("'appointment_id'")
    payload = (
        b'{"change" : "booked", "appointment_id" : 5, "patient_id" : 6, "clinic_id" : 7, '
        b'"channel" : "fhir"}'
    )
    assert decode_appointment_change(payload) == AppointmentBooked(
        appointment_id=5, patient_id=6, clinic_id=7, channel="fhir"
    )
