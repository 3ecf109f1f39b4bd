"""Certificates' pure decisions (no I/O): which examinations a driver's certificate needs,
what a specialist's conclusion may say, whether a certificate can be issued from the
conclusions on record, with which restrictions and until when, and what the signed
payload holds (only what a traffic stop needs: minimal disclosure by design).

The driver's medical certificate (form 003-В/у, order 1092н) needs the conclusions of a
therapist, an ophthalmologist, a psychiatrist and a narcologist; the professional
categories (C, D, their subcategories and trailers, Tm, Tb) need a neurologist's and an
otolaryngologist's too. A psychiatrist's and a narcologist's conclusion is fit or unfit,
never a restriction and never a diagnosis. Restrictions are the harmonised codes of the
EU driving-licence directive (2006/126/EC, Annex I), which Russian licences share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Literal

from imias.platform.dates import add_months
from imias.platform.problems import ProblemError

Kind = Literal["driver", "school", "pe_group", "pool"]
KINDS: tuple[Kind, ...] = ("driver", "school", "pe_group", "pool")
Verdict = Literal["fit", "restricted", "unfit"]
PeGroup = Literal["main", "preparatory", "special_a", "special_b"]

#: The form each kind is printed as.
FORMS: dict[str, str] = {
    "driver": "003-В/у",
    "school": "086/у",
    "pe_group": "086/у",
    "pool": "083/5-89",
}
KIND_TITLES: dict[str, tuple[str, str]] = {
    "driver": ("Медицинское заключение о наличии (об отсутствии) медицинских противопоказаний "
               "к управлению транспортным средством", "Driver's medical certificate"),
    "school": ("Медицинская справка для поступления в образовательную организацию",
               "Medical certificate for school admission"),
    "pe_group": ("Справка о группе здоровья для занятий физической культурой",
                 "Physical-education group certificate"),
    "pool": ("Справка для посещения бассейна", "Swimming-pool certificate"),
}  # fmt: skip

CATEGORIES: tuple[str, ...] = (
    "M", "A", "A1", "B", "B1", "BE", "C", "C1", "CE", "C1E",
    "D", "D1", "DE", "D1E", "Tm", "Tb",
)  # fmt: skip
PROFESSIONAL: frozenset[str] = frozenset(
    {"C", "C1", "CE", "C1E", "D", "D1", "DE", "D1E", "Tm", "Tb"}
)

Examiner = Literal[
    "therapist", "ophthalmologist", "psychiatrist", "narcologist", "neurologist",
    "otolaryngologist",
]  # fmt: skip
BASE_EXAMINERS: tuple[Examiner, ...] = (
    "therapist",
    "ophthalmologist",
    "psychiatrist",
    "narcologist",
)
PROFESSIONAL_EXAMINERS: tuple[Examiner, ...] = ("neurologist", "otolaryngologist")
#: The examiner each specialty (its code in the directory) concludes as.
EXAMINER_OF: dict[str, Examiner] = {
    "therapist": "therapist",
    "general_practitioner": "therapist",
    "ophthalmologist": "ophthalmologist",
    "psychiatrist": "psychiatrist",
    "narcologist": "narcologist",
    "neurologist": "neurologist",
    "otolaryngologist": "otolaryngologist",
}
EXAMINER_TITLES: dict[str, tuple[str, str]] = {
    "therapist": ("Терапевт", "Therapist"),
    "ophthalmologist": ("Офтальмолог", "Ophthalmologist"),
    "psychiatrist": ("Психиатр", "Psychiatrist"),
    "narcologist": ("Психиатр-нарколог", "Psychiatrist-narcologist"),
    "neurologist": ("Невролог", "Neurologist"),
    "otolaryngologist": ("Оториноларинголог", "Otolaryngologist"),
}
#: Yes or no only: their conclusion carries no restriction (and never a diagnosis).
YES_NO: frozenset[str] = frozenset({"psychiatrist", "narcologist"})
#: Who issues a certificate of each kind (the chair of the driver's commission).
CHAIRS: dict[str, frozenset[str]] = {
    "driver": frozenset({"therapist", "general_practitioner"}),
    "school": frozenset({"paediatrician", "therapist", "general_practitioner"}),
    "pe_group": frozenset({"paediatrician", "therapist", "general_practitioner"}),
    "pool": frozenset({"paediatrician", "therapist", "general_practitioner"}),
}

#: Restriction codes (2006/126/EC Annex I): Russian, English, who may set them.
RESTRICTIONS: dict[str, tuple[str, str, frozenset[str]]] = {
    "01.01": ("Очки", "Glasses", frozenset({"ophthalmologist"})),
    "01.02": ("Контактные линзы", "Contact lenses", frozenset({"ophthalmologist"})),
    "01.06": ("Очки или контактные линзы", "Glasses or contact lenses",
              frozenset({"ophthalmologist"})),
    "02": ("Слуховой аппарат", "Hearing aid", frozenset({"otolaryngologist", "therapist"})),
    "03": ("Протез или ортез конечности", "Limb prosthesis or orthosis",
           frozenset({"therapist", "neurologist"})),
    "05.01": ("Только в светлое время суток", "Daytime driving only",
              frozenset({"ophthalmologist"})),
    "78": ("Только с автоматической коробкой передач", "Automatic transmission only",
           frozenset({"therapist", "neurologist"})),
}  # fmt: skip

PE_GROUPS: dict[str, tuple[str, str]] = {
    "main": ("Основная", "Main"),
    "preparatory": ("Подготовительная", "Preparatory"),
    "special_a": ("Специальная «А»", "Special A"),
    "special_b": ("Специальная «Б»", "Special B"),
}

#: A conclusion counts towards a certificate this long after it was recorded.
CONCLUSION_DAYS = 180
#: How long each kind stays valid (a driver's: the licence's ten years, two for the
#: professional categories; the chair may choose a shorter term).
DRIVER_YEARS = 10
PROFESSIONAL_YEARS = 2
SCHOOL_MONTHS = 6
POOL_MONTHS = 3


def refused(code: str, detail: str, **extra: object) -> ProblemError:
    return ProblemError(422, code, detail, extra=extra or None)


def examiners_for(categories: Iterable[str]) -> tuple[Examiner, ...]:
    """The examinations a driver's certificate for ``categories`` needs, in order."""
    if any(c in PROFESSIONAL for c in categories):
        return BASE_EXAMINERS + PROFESSIONAL_EXAMINERS
    return BASE_EXAMINERS


def check_categories(categories: Sequence[str]) -> list[str]:
    """The categories as given, known, without repeats, in the licence's order."""
    if not categories:
        raise refused("no_categories", "Name at least one category.")
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise refused("unknown_category", f"Unknown driving category: {', '.join(unknown)}.")
    given = set(categories)
    return [c for c in CATEGORIES if c in given]


def check_conclusion(specialty: str | None, verdict: str, restrictions: Sequence[str]) -> Examiner:
    """The examiner a doctor of ``specialty`` concludes as, her conclusion checked."""
    examiner = EXAMINER_OF.get(specialty or "")
    if examiner is None:
        raise refused(
            "not_an_examiner",
            "A driver's examination is concluded by a therapist, an ophthalmologist, a "
            "psychiatrist, a narcologist, a neurologist or an otolaryngologist.",
        )
    if examiner in YES_NO and (verdict == "restricted" or restrictions):
        raise refused(
            "conclusion_yes_no",
            "A psychiatrist's or narcologist's conclusion is fit or unfit, without restrictions.",
        )
    if verdict == "restricted" and not restrictions:
        raise refused("restrictions_missing", "Name the restrictions of a restricted conclusion.")
    if verdict != "restricted" and restrictions:
        raise refused("restrictions_not_allowed", "Only a restricted conclusion has restrictions.")
    for code in restrictions:
        known = RESTRICTIONS.get(code)
        if known is None:
            raise refused("unknown_restriction", f"Unknown restriction code: {code}.")
        if examiner not in known[2]:
            raise refused(
                "restriction_not_yours",
                f"Restriction {code} is not set by the {examiner}'s examination.",
            )
    if len(set(restrictions)) != len(restrictions):
        raise refused("restriction_twice", "A restriction is named twice.")
    return examiner


class Concluded:
    """A conclusion on record, as the rules weigh it."""

    __slots__ = ("examiner", "verdict", "restrictions", "day")

    def __init__(self, examiner: str, verdict: str, restrictions: Sequence[str], day: date):
        self.examiner = examiner
        self.verdict = verdict
        self.restrictions = tuple(restrictions)
        self.day = day


def latest(conclusions: Iterable[Concluded], today: date) -> dict[str, Concluded]:
    """Each examiner's latest conclusion still counting on ``today`` (given oldest first)."""
    since = today - timedelta(days=CONCLUSION_DAYS)
    out: dict[str, Concluded] = {}
    for c in conclusions:
        if c.day >= since:
            out[c.examiner] = c
    return out


def driver_decision(
    categories: Sequence[str], conclusions: Iterable[Concluded], today: date
) -> tuple[list[str], list[str]]:
    """(categories, restrictions) of a driver's certificate issued ``today`` from the
    conclusions on record; 422 ``conclusions_missing`` or ``unfit`` otherwise."""
    cats = check_categories(categories)
    needed = examiners_for(cats)
    have = latest(conclusions, today)
    missing = [e for e in needed if e not in have]
    if missing:
        raise refused(
            "conclusions_missing",
            "The certificate needs the conclusions of: " + ", ".join(missing) + ".",
            missing=missing,
        )
    unfit = [e for e in needed if have[e].verdict == "unfit"]
    if unfit:
        raise refused(
            "unfit",
            "The conclusions on record make the driver unfit for these categories.",
            unfit=unfit,
        )
    restrictions = sorted({r for e in needed for r in have[e].restrictions})
    return cats, restrictions


def longest_validity(kind: str, categories: Sequence[str], issued: date) -> date:
    """The last day a certificate of ``kind`` issued on ``issued`` may be valid."""
    if kind == "driver":
        years = PROFESSIONAL_YEARS if any(c in PROFESSIONAL for c in categories) else DRIVER_YEARS
        return add_months(issued, 12 * years) - timedelta(days=1)
    if kind == "school":
        return add_months(issued, SCHOOL_MONTHS) - timedelta(days=1)
    if kind == "pool":
        return add_months(issued, POOL_MONTHS) - timedelta(days=1)
    # The physical-education group: to the end of the school year (31 August).
    end = date(issued.year if issued.month < 9 else issued.year + 1, 8, 31)
    return end


def valid_until(kind: str, categories: Sequence[str], issued: date, asked: date | None) -> date:
    """Until when a certificate issued ``issued`` is valid: the longest term, or the
    chair's shorter one."""
    longest = longest_validity(kind, categories, issued)
    if asked is None:
        return longest
    if asked < issued:
        raise refused("valid_until_past", "A certificate cannot end before it is issued.")
    if asked > longest:
        raise refused(
            "valid_until_too_long",
            f"A certificate of this kind issued today is valid until {longest} at most.",
            longest=longest.isoformat(),
        )
    return asked


def revocation_hash(number: str) -> bytes:
    """A revoked certificate as the signed revocation list names it: 16 bytes of the
    SHA-256 of its number (the list does not spell out numbers)."""
    return hashlib.sha256(number.encode()).digest()[:16]


def status_on(valid_from: date, until: date, revoked: bool, today: date) -> str:
    """A genuine certificate's verdict on ``today``."""
    if revoked:
        return "revoked"
    if today > until:
        return "expired"
    if today < valid_from:
        return "not_yet_valid"
    return "valid"
