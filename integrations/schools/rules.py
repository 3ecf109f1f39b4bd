"""The schools' adapter's pure decisions (no I/O): whether a consent says something, which
certificates a school is sent, what a message to a school holds, and what a journal's
days are."""

from __future__ import annotations

from datetime import date, timedelta

from imias.platform.problems import ProblemError
from integrations.schools.model import ConsentIn

#: The certificates a school or club is sent (the driver's never is).
SCHOOL_KINDS: frozenset[str] = frozenset({"school", "pe_group", "pool"})
#: Groups that restrict physical education (the nurse's list).
RESTRICTING_GROUPS: frozenset[str] = frozenset({"preparatory", "special_a", "special_b"})
FORMS = {"school": "086/у", "pe_group": "086/у", "pool": "083/5-89"}


def check_consent(data: ConsentIn) -> None:
    if not (data.absences or data.certificates):
        raise ProblemError(
            422,
            "nothing_consented",
            "Tick what the school is sent: absences, certificates or both.",
        )


def restricting(pe_group: str | None) -> bool:
    return pe_group in RESTRICTING_GROUPS


def absence_id(episode_id: int) -> str:
    return f"illness-{episode_id}"


def marked_days(starts_on: date, ends_on: date | None, until: date) -> list[date]:
    """The days a journal marks "Б" for an absence: its range, or from its start to
    ``until`` while it is open."""
    last = ends_on if ends_on is not None else until
    return [starts_on + timedelta(days=n) for n in range((last - starts_on).days + 1)]
