"""The ambulance adapter's pure decisions (no I/O): a call's protocol text, its outcome
from the codes a dispatch system sends, whom an active visit is with and by when, and
the account a station's calls are written by."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ehr import Protocol
from integrations.ambulance.model import OUTCOME_SYSTEM, CallIn, Outcome

#: An active visit is booked within this long of the call's record.
ACTIVE_VISIT_WITHIN = timedelta(hours=24)
ADULT_AGE = 18
#: HL7's discharge-disposition codes (FHIR) as outcomes; anything else: taken to hospital
#: is not assumed, it is refused as unknown.
FHIR_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
FHIR_OUTCOMES: dict[str, Outcome] = {
    "home": "home",
    "hosp": "hospital",
    "other-hcf": "hospital",
    "long": "hospital",
    "psy": "hospital",
    "rehab": "hospital",
    "aadvice": "refused",
}
#: Our own codes (urn:imias:ambulance-outcome).
OWN_OUTCOMES: dict[str, Outcome] = {"home": "home", "hospital": "hospital", "refused": "refused"}
#: HL7 v2 table 0112 (PV1-36) as outcomes.
HL7_OUTCOMES: dict[str, Outcome] = {
    "01": "home",
    "02": "hospital",
    "05": "hospital",
    "65": "hospital",
    "07": "refused",
}
OUTCOME_WORDS: dict[Outcome, str] = {
    "home": "Оставлен дома",
    "hospital": "Доставлен в стационар",
    "refused": "Отказ от медицинской помощи / госпитализации",
}


def outcome_of(system: str | None, code: str) -> Outcome | None:
    """The outcome of a FHIR dischargeDisposition coding (ours or HL7's); None: unknown."""
    if system == OUTCOME_SYSTEM:
        return OWN_OUTCOMES.get(code)
    if system in (None, FHIR_DISPOSITION):
        return FHIR_OUTCOMES.get(code)
    return None


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def specialty_for(birth: date, day: date) -> str:
    """The attached doctor an active visit is with: a paediatrician for a child, else the
    district therapist."""
    return "paediatrician" if age_on(birth, day) < ADULT_AGE else "therapist"


def due_by(now: datetime) -> datetime:
    return now + ACTIVE_VISIT_WITHIN


def station_username(station_id: int) -> str:
    """The system account that writes a station's calls in the record."""
    return f"ambulance-station-{station_id}"


def station_account_name(station_id: int, station_name: str) -> str:
    return f"Скорая помощь: {station_name} (подстанция {station_id})"


def protocol_of(call: CallIn, station_name: str, zone: ZoneInfo) -> Protocol:
    """The encounter's protocol, in the sections a visit's protocol has: the reason for
    the call, the call itself, the findings, the diagnoses and outcome, the treatment."""
    start = call.started_at.astimezone(zone)
    end = call.ended_at.astimezone(zone)
    history = (
        f"Вызов скорой медицинской помощи № {call.call_number}, {station_name}. "
        f"{start:%d.%m.%Y %H:%M} – {end:%d.%m.%Y %H:%M}."
    )
    examination = "\n".join(call.findings)
    if call.vitals:
        measured = "; ".join(
            f"{v.code}: {v.value:g}{' ' + v.unit if v.unit else ''}" for v in call.vitals
        )
        examination = (examination + "\n" if examination else "") + f"Измерения: {measured}."
    conclusion = "\n".join(
        [f"{d.code}{' — ' + d.note if d.note else ''}" for d in call.diagnoses]
        + [f"Исход: {OUTCOME_WORDS[call.outcome]}."]
    )
    return Protocol(
        complaints=call.reason[:8000],
        history=history,
        examination=examination[:8000],
        conclusion=conclusion[:8000],
        recommendations="\n".join(call.treatment)[:8000],
    )
