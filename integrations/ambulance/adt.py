"""The call in HL7 v2, for older dispatch systems: an ADT^A03 (discharge: the call is
over; A04 and A08 are taken the same way) parsed with ``hl7apy``
(:func:`integrations.hl7.parse`) into :class:`~integrations.ambulance.model.CallIn`,
and the same message built (the simulator sends it). No I/O.

- PID-3: the policy number (a 16-digit identifier); else PID-5 (family^given) and PID-7
  (birth date);
- PV1-2 ``E`` (emergency), PV1-19 the call number, PV1-39 the station's id, PV1-44 and
  PV1-45 the call's start and end, PV1-36 the outcome (table 0112: 01 home, 02 hospital,
  07 refused); PV2-3 the reason for the call;
- OBX: NM by LOINC (OBX-3 ``code^text^LN``, OBX-5, OBX-6, OBX-14) a measurement; TX/ST a
  finding in words;
- DG1-3 ``code^text^I10`` a diagnosis (the first is the primary one);
- PR1-3 ``code^text`` and RXA-5/RXA-6/RXA-7 the treatment, in words.

A time with no offset is the city's wall time.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from ehr import DiagnosisIn, VitalIn
from imias.platform.problems import ProblemError
from integrations import hl7
from integrations.ambulance.model import CallIn, PatientRef
from integrations.ambulance.rules import HL7_OUTCOMES, OUTCOME_WORDS

TRIGGERS = frozenset({"A03", "A04", "A08"})
_ESCAPES = {"F": "|", "S": "^", "T": "&", "R": "~", "E": "\\"}


def bad(code: str, detail: str) -> ProblemError:
    return ProblemError(422, code, detail)


def unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if (
            text[i] == "\\"
            and i + 2 < len(text)
            and text[i + 2] == "\\"
            and text[i + 1] in _ESCAPES
        ):
            out.append(_ESCAPES[text[i + 1]])
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def escape(text: str) -> str:
    return (
        text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
        .replace("&", "\\T\\").replace("~", "\\R\\").replace("\r", " ").replace("\n", " ")
    )  # fmt: skip


def _fields(segment: Any) -> list[str]:
    text: str = segment.to_er7()
    return text.split("|")


def _field(fields: list[str], n: int) -> str:
    return fields[n] if n < len(fields) else ""


def _component(value: str, n: int) -> str:
    parts = value.split("~", 1)[0].split("^")
    return unescape(parts[n - 1]).strip() if n - 1 < len(parts) else ""


def parse_time(value: str, zone: ZoneInfo, where: str) -> datetime:
    """An HL7 DTM (YYYYMMDDHHMM[SS][.S][+ZZZZ]) as an aware instant."""
    text = value.strip()
    offset = None
    for sign in "+-":
        if sign in text[8:]:
            text, _, offset = text.rpartition(sign)
            offset = sign + offset
            break
    text = text.split(".", 1)[0]
    try:
        at = datetime.strptime(text.ljust(14, "0")[:14], "%Y%m%d%H%M%S")
    except ValueError:
        raise bad("invalid_date", f"{where} is not an HL7 time: {value!r}.") from None
    if offset is None:
        return at.replace(tzinfo=zone)
    try:
        return datetime.fromisoformat(f"{at.isoformat()}{offset[:3]}:{offset[3:5]}")
    except ValueError:
        raise bad("invalid_date", f"{where} has a bad offset: {value!r}.") from None


def message_type(message: Any) -> tuple[str, str]:
    msh9 = message.msh.msh_9
    return str(msh9.msh_9_1.value or ""), str(msh9.msh_9_2.value or "")


def sender(message: Any) -> str:
    """MSH-4's first component: the sending facility, which names the partner."""
    return str(message.msh.msh_4.to_er7()).split("^", 1)[0].strip().lower()


def call_of_adt(message: Any, zone: ZoneInfo) -> CallIn:
    """The call an ADT message reports; 422 problems with stable codes otherwise."""
    kind, trigger = message_type(message)
    if kind != "ADT" or trigger not in TRIGGERS:
        raise bad("unsupported_message", f"{kind}^{trigger} is not a call (ADT^A03).")
    by_name: dict[str, list[list[str]]] = {}
    for segment in message.children:
        by_name.setdefault(segment.name, []).append(_fields(segment))
    if "PID" not in by_name:
        raise bad("patient_required", "The message has no PID segment.")
    if "PV1" not in by_name:
        raise bad("encounter_required", "The message has no PV1 segment.")
    pid, pv1 = by_name["PID"][0], by_name["PV1"][0]
    patient = _patient(pid)
    if _component(_field(pv1, 2), 1) != "E":
        raise bad("not_emergency", "PV1-2 (patient class) is E for an ambulance call.")
    call_number = _component(_field(pv1, 19), 1)
    if not 1 <= len(call_number) <= 64:
        raise bad("call_number_required", "PV1-19 (visit number) is the call number.")
    station = _component(_field(pv1, 39), 1)
    if not station:
        raise bad("station_required", "PV1-39 (servicing facility) is the crew's station id.")
    if not station.isdigit() or not 1 <= int(station) < 2**63:
        raise bad("unknown_station", f"There is no station {station!r}.")
    if not _field(pv1, 44) or not _field(pv1, 45):
        raise bad("period_required", "PV1-44 and PV1-45 are the call's start and end.")
    started = parse_time(_component(_field(pv1, 44), 1), zone, "PV1-44")
    ended = parse_time(_component(_field(pv1, 45), 1), zone, "PV1-45")
    disposition = _component(_field(pv1, 36), 1)
    if not disposition:
        raise bad("outcome_required", "PV1-36 (discharge disposition) is the outcome.")
    outcome = HL7_OUTCOMES.get(disposition)
    if outcome is None:
        raise bad("unknown_outcome", f"PV1-36 {disposition!r}: 01, 02 or 07.")
    reason = ""
    if "PV2" in by_name:
        pv2 = by_name["PV2"][0]
        reason = _component(_field(pv2, 3), 2) or _component(_field(pv2, 3), 1)
    findings: list[str] = []
    vitals: list[VitalIn] = []
    for n, obx in enumerate(by_name.get("OBX", []), 1):
        vital = _observation(obx, n, zone, started)
        if isinstance(vital, str):
            findings.append(vital)
        else:
            vitals.append(vital)
    diagnoses: list[DiagnosisIn] = []
    for n, dg1 in enumerate(by_name.get("DG1", []), 1):
        code = _component(_field(dg1, 3), 1)
        if not code or _component(_field(dg1, 3), 3) not in ("I10", "ICD10", ""):
            raise bad("bad_condition", f"DG1 #{n}: DG1-3 is code^text^I10.")
        text = _component(_field(dg1, 3), 2) or None
        try:
            diagnoses.append(
                DiagnosisIn(code=code, rank="primary" if not diagnoses else "secondary",
                            note=text[:500] if text else None)
            )  # fmt: skip
        except (msgspec.ValidationError, ValueError) as exc:
            raise bad("bad_condition", f"DG1 #{n}: {exc}") from None
    treatment = [
        _component(_field(pr1, 3), 2) or _component(_field(pr1, 3), 1)
        for pr1 in by_name.get("PR1", [])
    ]
    for rxa in by_name.get("RXA", []):
        drug = _component(_field(rxa, 5), 2) or _component(_field(rxa, 5), 1)
        dose = f"{_component(_field(rxa, 6), 1)} {_component(_field(rxa, 7), 1)}".strip()
        treatment.append(f"{drug} {dose}".strip())
    return CallIn(
        patient=patient,
        call_number=call_number,
        station_id=int(station),
        started_at=started,
        ended_at=ended,
        outcome=outcome,
        reason=reason,
        findings=findings,
        treatment=[t for t in treatment if t],
        diagnoses=diagnoses,
        vitals=vitals,
    )


def _patient(pid: list[str]) -> PatientRef:
    for repetition in _field(pid, 3).split("~"):
        value = unescape(repetition.split("^", 1)[0]).strip()
        if len(value) == 16 and value.isdigit():
            return PatientRef(policy=value)
    family, given = _component(_field(pid, 5), 1), _component(_field(pid, 5), 2)
    born = _component(_field(pid, 7), 1)
    if family and len(born) >= 8:
        try:
            day = date(int(born[:4]), int(born[4:6]), int(born[6:8]))
        except ValueError:
            raise bad("invalid_date", f"PID-7 is not a date: {born!r}.") from None
        return PatientRef(family=family, given=given or None, birth_date=day)
    raise bad(
        "patient_unidentified",
        "PID-3 holds no 16-digit policy number, and PID-5/PID-7 no name with a birth date.",
    )


def _observation(obx: list[str], n: int, zone: ZoneInfo, default: datetime) -> VitalIn | str:
    value_type = _component(_field(obx, 2), 1)
    code, text, system = (_component(_field(obx, 3), i) for i in (1, 2, 3))
    value = unescape(_field(obx, 5)).strip()
    if value_type in ("TX", "ST", "FT"):
        return f"{text or code or 'Находка'}: {value}"
    if value_type != "NM" or system not in ("LN", "LOINC") or not code:
        raise bad("bad_observation", f"OBX #{n}: a measurement is NM by LOINC (code^text^LN).")
    try:
        number = float(value)
    except ValueError:
        raise bad("bad_observation", f"OBX #{n}: OBX-5 {value!r} is not a number.") from None
    unit = _component(_field(obx, 6), 1) or None
    when = _component(_field(obx, 14), 1)
    at = parse_time(when, zone, f"OBX #{n} OBX-14") if when else default
    try:
        return VitalIn(code=code, value=number, unit=unit, effective_at=at)
    except (msgspec.ValidationError, ValueError) as exc:
        raise bad("bad_observation", f"OBX #{n}: {exc}") from None


# -- building (the dispatch simulator) ---------------------------------------------------


def build_adt(
    *,
    sender_id: str,
    control_id: str,
    call: CallIn,
    loinc_names: dict[str, str] | None = None,
    trigger: str = "A03",
) -> bytes:
    """An ADT message reporting ``call`` (what an older dispatch system sends)."""
    t = hl7.timestamp
    p = call.patient
    pid3 = f"{p.policy}^^^OMS^HC" if p.policy else ""
    pid5 = f"{escape(p.family or '')}^{escape(p.given or '')}" if p.family else ""
    pid7 = p.birth_date.strftime("%Y%m%d") if p.birth_date else ""
    disposition = {v: k for k, v in reversed(list(HL7_OUTCOMES.items()))}[call.outcome]
    pv1 = ["PV1", "1", "E"] + [""] * 16 + [escape(call.call_number)] + [""] * 16
    pv1 += [disposition, "", "", str(call.station_id)] + [""] * 4
    pv1 += [t(call.started_at), t(call.ended_at)]
    segments = [
        "|".join(["MSH", "^~\\&", "DISPATCH", sender_id.upper(), "IMIAS", "IMIAS", t(), "",
                  f"ADT^{trigger}^ADT_A03", control_id, "P", "2.5"]),
        "|".join(["EVN", trigger, t()]),
        "|".join(["PID", "1", "", pid3, "", pid5, "", pid7]),
        "|".join(pv1),
        "|".join(["PV2", "", "", f"^{escape(call.reason)}"]),
    ]  # fmt: skip
    for n, v in enumerate(call.vitals, 1):
        name = escape((loinc_names or {}).get(v.code, v.code))
        at = t(v.effective_at) if v.effective_at else ""
        segments.append(
            "|".join(["OBX", str(n), "NM", f"{v.code}^{name}^LN", "", f"{v.value:g}",
                      v.unit or "", "", "", "", "", "F", "", "", at])
        )  # fmt: skip
    for n, finding in enumerate(call.findings, len(call.vitals) + 1):
        segments.append("|".join(["OBX", str(n), "TX", "29545-1^Physical findings^LN", "",
                                  escape(finding), "", "", "", "", "", "F"]))  # fmt: skip
    for n, d in enumerate(call.diagnoses, 1):
        segments.append("|".join(["DG1", str(n), "", f"{d.code}^{escape(d.note or '')}^I10"]))
    for n, line in enumerate(call.treatment, 1):
        segments.append("|".join(["PR1", str(n), "", f"^{escape(line)}"]))
    return "\r".join(segments).encode(hl7.ENCODING)


__all__ = ["OUTCOME_WORDS", "build_adt", "call_of_adt", "message_type", "sender"]
