"""FHIR search parameters: which ones each resource has (the CapabilityStatement says
exactly these), and how a query string becomes a :class:`ehr.repository.Search`.

- ``patient``: ``Patient/123`` or ``123``; required for the record's resources.
- ``date``: a FHIR date or dateTime with a prefix (``eq`` by default, ``ge``, ``le``,
  ``gt``, ``lt``), repeatable (the ranges intersect). A value without a time zone is in
  the city's. ``2026-03`` is the whole month, ``ge2026-03`` from its first instant.
- ``code``: ``system|code`` or ``code`` (or ``|code``); a system other than the
  resource's matches nothing.
- ``category``, ``clinical-status``: a code, with or without its system.
- ``_count``: 1-100 (default 20; more is answered with 100), ``_sort``: ``-date`` only
  (newest first: the one order there is), ``_cursor``: the opaque keyset of a Bundle's
  ``next`` link (the last row's date and id; no offset).

Any other parameter is refused (400): a filter silently ignored would answer with more
than was asked.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

from ehr import codes
from ehr import repository as repo
from ehr.fhir import mapping
from imias.platform.problems import ProblemError

DEFAULT_COUNT = 20
MAX_COUNT = 100
#: A code no row has (no code holds "|"): a token of another system matches nothing.
NO_CODE = "|"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str  # FHIR's search parameter type
    documentation: str


PATIENT = Param("patient", "reference", "Patient/<id> or <id>; required")
COUNT_SORT = "_count (1-100, default 20), _sort=-date (the only order: newest first)"

#: The search parameters of each resource, as the CapabilityStatement tells them.
PARAMS: dict[str, tuple[Param, ...]] = {
    "Patient": (
        Param("_id", "token", "the patient's id; a patient searching without it finds themself"),
    ),
    "Practitioner": (Param("_id", "token", "<clinic>-<doctor>"),),
    "Organization": (Param("_id", "token", "the clinic's id"),),
    "Encounter": (PATIENT, Param("date", "date", "Encounter.period.start; eq ge gt le lt")),
    "Condition": (
        PATIENT,
        Param("date", "date", "Condition.recordedDate; eq ge gt le lt"),
        Param("code", "token", f"ICD-10 ({codes.ICD10_SYSTEM}|I10 or I10)"),
        Param("category", "token", "encounter-diagnosis or problem-list-item"),
        Param("clinical-status", "token", "active, recurrence, relapse, inactive, ..."),
    ),
    "Observation": (
        PATIENT,
        Param("date", "date", "Observation.effectiveDateTime; eq ge gt le lt"),
        Param("code", "token", f"LOINC ({codes.LOINC_SYSTEM}|8480-6 or 8480-6)"),
        Param("category", "token", "vital-signs or laboratory"),
    ),
    "AllergyIntolerance": (
        PATIENT,
        Param("date", "date", "AllergyIntolerance.recordedDate; eq ge gt le lt"),
        Param("code", "token", "the substance (ATC, or urn:imias:substance)"),
        Param("category", "token", "medication, food, environment or biologic"),
        Param("clinical-status", "token", "active, inactive or resolved"),
    ),
    "Immunization": (
        PATIENT,
        Param("date", "date", "Immunization.occurrenceDateTime (a day); eq ge gt le lt"),
        Param("vaccine-code", "token", f"the vaccine ({codes.VACCINE_SYSTEM})"),
    ),
    "DocumentReference": (
        PATIENT,
        Param("date", "date", "DocumentReference.date (the visit's signature); eq ge gt le lt"),
    ),
}
RESULT_PARAMS = frozenset({"_count", "_sort", "_cursor"})

#: The code systems a ``code`` token of each resource may name.
CODE_SYSTEMS: dict[str, tuple[str, ...]] = {
    "Condition": (codes.ICD10_SYSTEM,),
    "Observation": (codes.LOINC_SYSTEM,),
    "AllergyIntolerance": (codes.ATC_SYSTEM, codes.SUBSTANCE_SYSTEM),
    "Immunization": (codes.VACCINE_SYSTEM,),
}
CATEGORY_SYSTEMS = {
    "Condition": mapping.CONDITION_CATEGORY,
    "Observation": mapping.OBSERVATION_CATEGORY,
    "AllergyIntolerance": "http://hl7.org/fhir/allergy-intolerance-category",
}
STATUS_SYSTEMS = {
    "Condition": mapping.CONDITION_CLINICAL,
    "AllergyIntolerance": mapping.ALLERGY_CLINICAL,
}

_DATE = re.compile(
    r"^(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def invalid(detail: str, code: str = "invalid_search") -> ProblemError:
    return ProblemError(400, code, detail)


def date_range(value: str, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """The instants [since, until) a ``date`` parameter asks for."""
    m = _DATE.match(value)
    if m is None:
        raise invalid(f"date={value!r} is not a FHIR date with a prefix (ge2026-01-31).")
    prefix = m["prefix"] or "eq"
    if prefix not in ("eq", "ge", "gt", "le", "lt"):
        raise invalid(f"The prefix {prefix!r} is not supported: eq, ge, gt, le, lt.")
    try:
        year, month, day = int(m["year"]), int(m["month"] or 1), int(m["day"] or 1)
        tz = zone
        if m["zone"]:
            when = datetime.fromisoformat(f"2000-01-01T00:00:00{m['zone'].replace('Z', '+00:00')}")
            assert when.tzinfo is not None
            tz = when.tzinfo  # type: ignore[assignment]
        start = datetime(
            year, month, day, int(m["hour"] or 0), int(m["minute"] or 0), int(m["second"] or 0),
            tzinfo=tz,
        )  # fmt: skip
    except ValueError:
        raise invalid(f"date={value!r} is not a date.") from None
    if m["second"]:
        end = start + timedelta(seconds=1)
    elif m["minute"]:
        end = start + timedelta(minutes=1)
    elif m["day"]:
        end = datetime.combine(start.date() + timedelta(days=1), time(), tz)
    elif m["month"]:
        end = start.replace(year=year + month // 12, month=month % 12 + 1)
    else:
        end = start.replace(year=year + 1)
    return {
        "eq": (start, end),
        "ge": (start, None),
        "gt": (end, None),
        "le": (None, end),
        "lt": (None, start),
    }[prefix]


def city_day(at: datetime, zone: ZoneInfo) -> date:
    """The first day of the city that starts at or after ``at``."""
    local = at.astimezone(zone)
    return local.date() if local.time() == time() else local.date() + timedelta(days=1)


def token(value: str, systems: Sequence[str]) -> str:
    """The code of a token ``system|code``, ``|code`` or ``code``; :data:`NO_CODE` when
    its system is not one of ``systems``."""
    system, bar, code = value.rpartition("|")
    if not code:
        raise invalid(f"The token {value!r} has no code.")
    if bar and system and system not in systems:
        return NO_CODE
    return code


def reference(value: str, kind: str) -> int:
    key = value.removeprefix(f"{kind}/")
    if not key.isdigit() or not 1 <= int(key) < 2**63:
        raise invalid(f"{value!r} is not a {kind} reference ({kind}/123 or 123).")
    return int(key)


def cursor(values: Sequence[object]) -> str:
    """The opaque keyset of the next page."""
    return base64.urlsafe_b64encode(msgspec.json.encode(list(values))).decode().rstrip("=")


def uncursor(text: str) -> list[object]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = msgspec.json.decode(raw, type=list[str | int])
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise invalid("_cursor is not one this server gave.", "invalid_cursor") from None
    return list(values)


def count_of(query: Mapping[str, list[str]]) -> int:
    values = query.get("_count", [])
    if not values:
        return DEFAULT_COUNT
    if len(values) > 1 or not values[0].isdigit() or int(values[0]) < 1:
        raise invalid("_count is a number from 1 to 100.")
    return min(int(values[0]), MAX_COUNT)


def check_params(
    kind: str, query: Mapping[str, list[str]], params: Sequence[Param] | None = None
) -> None:
    """Refuse a parameter ``kind`` does not have (its :data:`PARAMS`, or ``params``), one
    given twice (a date may be: the ranges intersect), a ``_sort`` other than -date."""
    declared = PARAMS[kind] if params is None else params
    known = {p.name for p in declared} | RESULT_PARAMS
    dates = {p.name for p in declared if p.type == "date"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise invalid(
            f"{kind} is not searched by {', '.join(unknown)}; its parameters: "
            f"{', '.join(sorted(known))}.",
            "unknown_search_parameter",
        )
    for name, values in query.items():
        if name not in dates and len(values) > 1:
            raise invalid(f"{name} is given once.")
    sort = query.get("_sort")
    if sort is not None and sort != ["-date"]:
        raise invalid("_sort=-date (newest first) is the only order.", "unsupported_sort")


def one(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def record_search(kind: str, query: Mapping[str, list[str]], zone: ZoneInfo) -> repo.Search:
    """The search of a patient's record that a query string asks for."""
    check_params(kind, query)
    patient = one(query, "patient")
    if patient is None:
        raise invalid(
            f"A {kind} search names the patient (patient=Patient/123).", "patient_required"
        )
    since: datetime | None = None
    until: datetime | None = None
    for value in query.get("date", []):
        low, high = date_range(value, zone)
        if low is not None and (since is None or low > since):
            since = low
        if high is not None and (until is None or high < until):
            until = high
    code = one(query, "code") or one(query, "vaccine-code")
    if code is not None:
        code = token(code, CODE_SYSTEMS[kind])
        if kind == "Condition":
            code = code.upper()
    category = one(query, "category")
    if category is not None:
        category = token(category, (CATEGORY_SYSTEMS[kind],))
    status = one(query, "clinical-status")
    if status is not None:
        status = token(status, (STATUS_SYSTEMS[kind],))
    after: tuple[datetime | date, int] | None = None
    raw = one(query, "_cursor")
    if raw is not None:
        found = uncursor(raw)
        try:
            at, last = found
            assert isinstance(at, str) and isinstance(last, int)
            key = date.fromisoformat(at) if kind == "Immunization" else datetime.fromisoformat(at)
            if isinstance(key, datetime) and key.tzinfo is None:
                raise ValueError(at)
        except (ValueError, AssertionError):
            raise invalid("_cursor is not one this server gave.", "invalid_cursor") from None
        after = (key, last)
    return repo.Search(
        patient_id=reference(patient, "Patient"),
        since=since,
        until=until,
        since_day=None if since is None else city_day(since, zone),
        until_day=None if until is None else city_day(until, zone),
        code=code,
        category=category,
        status=status,
        after=after,
        limit=count_of(query),
    )


def registry_id(kind: str, query: Mapping[str, list[str]]) -> str | None:
    """The ``_id`` of a search of the registry (None: not given)."""
    check_params(kind, query)
    return one(query, "_id")
