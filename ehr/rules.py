"""The record's pure decisions (no I/O): what a signature accepts (a protocol, ICD-10
diagnoses, measurements against their LOINC codes), what a reader of restricted entries
sees, and the card's trends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from ehr import codes
from ehr import repository as repo
from ehr.access import Reader
from ehr.model import Condition, DiagnosisIn, Measured, Observation, Protocol, Trend, VitalIn
from ehr.templates import SECTIONS
from imias.platform.problems import ProblemError

#: A measurement may be dated this far ahead of the server's clock (clocks differ).
CLOCK_SKEW = timedelta(minutes=5)
RESTRICTED_TITLE = {"ru": "Запись ограниченного доступа", "en": "Restricted entry"}


def unprocessable(code: str, detail: str) -> ProblemError:
    return ProblemError(422, code, detail)


def check_protocol(protocol: Protocol) -> None:
    if not any(getattr(protocol, s).strip() for s in SECTIONS):
        raise unprocessable("empty_protocol", "Write the protocol before signing it.")


def check_diagnoses(diagnoses: Sequence[DiagnosisIn], today: date) -> None:
    primaries = 0
    for d in diagnoses:
        if codes.diagnosis(d.code) is None:
            raise unprocessable("unknown_code", f"{d.code!r} is not an ICD-10 code.")
        if d.onset is not None and d.onset > today:
            raise unprocessable("date_in_future", f"The onset of {d.code} is in the future.")
        primaries += d.rank == "primary"
    if primaries > 1:
        raise unprocessable("two_primary_diagnoses", "A visit has one primary diagnosis.")


def measured(vitals: Sequence[VitalIn], now: datetime) -> list[Measured]:
    """Each measurement against its code: known, in its unit, possible in a living
    person, not in the future; with its reference range and interpretation."""
    out = []
    for v in vitals:
        m = codes.measure(v.code)
        if m is None:
            raise unprocessable("unknown_code", f"{v.code!r} is not a LOINC code IMIAS records.")
        if v.unit is not None and v.unit != m.unit:
            raise unprocessable(
                "unit_mismatch", f"{m.name_en} ({m.code}) is recorded in {m.unit}, not {v.unit}."
            )
        value = round(Decimal(repr(v.value)), m.decimals)
        if not m.plausible_min <= value <= m.plausible_max:
            raise unprocessable(
                "implausible_value",
                f"{m.name_en} of {value} {m.unit} is outside what a living person can have "
                f"({m.plausible_min}-{m.plausible_max}).",
            )
        at = v.effective_at or now
        if at > now + CLOCK_SKEW:
            raise unprocessable("date_in_future", f"The {m.name_en} is dated in the future.")
        low = Decimal(repr(v.low)) if v.low is not None else m.low
        high = Decimal(repr(v.high)) if v.high is not None else m.high
        if low is not None and high is not None and low > high:
            raise unprocessable("bad_range", f"The reference range of {m.code} is upside down.")
        interpretation = codes.interpretation(value, low, high)
        out.append(Measured(m.code, m.category, value, m.unit, low, high, interpretation, at))
    return out


def mask_condition(c: Condition, reader: Reader, restricted: str | None, lang: str) -> Condition:
    if reader.sees(restricted, c.author_id):
        return c
    return msgspec.structs.replace(
        c, code=None, title=RESTRICTED_TITLE[lang], note=None, hidden=True
    )


def mask_observation(o: Observation, reader: Reader, restricted: str | None) -> Observation:
    if reader.sees(restricted, o.author_id):
        return o
    return msgspec.structs.replace(
        o, code=None, name=None, value=None, unit=None, low=None, high=None,
        interpretation=None, hidden=True,
    )  # fmt: skip


def diagnosis_key(d: DiagnosisIn) -> tuple[object, ...]:
    """What an amendment compares: a diagnosis changed in any of these is a new one."""
    return (d.code.strip().upper(), d.rank, d.course, d.verification, d.onset, d.note)


def diagnosis_key_of_row(c: Any) -> tuple[object, ...]:
    return (c["code"], c["rank"], c["course"], c["verification_status"], c["onset"], c["note"])


def restricted_of_codes(found: Sequence[str]) -> str | None:
    """The restricted class of a visit with these diagnoses: its one class, or "mixed"
    for two (which no specialty group reads: only the patient and the author)."""
    classes = {c for c in (codes.restricted_class(x.strip().upper()) for x in found) if c}
    if len(classes) > 1:
        return "mixed"
    return classes.pop() if classes else None


def restricted_of(diagnoses: Sequence[DiagnosisIn]) -> str | None:
    return restricted_of_codes([d.code for d in diagnoses])


def trends(rows: Sequence[Any], reader: Reader, lang: str) -> list[Trend]:
    by_code: dict[str, list[Any]] = {}
    for r in rows:
        if reader.sees(r["restricted"], r["author_id"]):
            by_code.setdefault(r["code"], []).append(r)
    trends = []
    for code, found in by_code.items():
        m = codes.measure(code)
        latest = repo.observation_of(found[0], lang)
        trends.append(
            Trend(
                code=code,
                name=m.name(lang) if m else code,
                unit=found[0]["unit"],
                low=latest.low,
                high=latest.high,
                latest=latest,
                points=[(r["effective_at"], float(r["value"])) for r in reversed(found)],
            )
        )
    order = list(codes.measures())
    trends.sort(key=lambda t: order.index(t.code) if t.code in order else len(order))
    return trends
