"""Illness episodes' pure decisions (no I/O): which days a doctor may open and close an
episode on, against the city's day."""

from __future__ import annotations

from datetime import date, timedelta

from imias.platform.problems import ProblemError

#: How far back an episode may start (a child brought in after a week at home).
MAX_BACKDATE_DAYS = 30


def refused(code: str, detail: str, status: int = 422) -> ProblemError:
    return ProblemError(status, code, detail)


def check_open(starts_on: date, today: date) -> None:
    if starts_on > today:
        raise refused("starts_in_future", "An illness episode starts today or earlier.")
    if starts_on < today - timedelta(days=MAX_BACKDATE_DAYS):
        raise refused(
            "starts_too_early",
            f"An illness episode starts at most {MAX_BACKDATE_DAYS} days before today.",
        )


def check_close(starts_on: date, ends_on: date | None, closing_on: date, today: date) -> None:
    if ends_on is not None:
        raise refused("already_closed", "This illness episode is closed already.", 409)
    if closing_on < starts_on:
        raise refused("ends_before_start", "An illness episode ends on or after its first day.")
    if closing_on > today:
        raise refused("ends_in_future", "An illness episode ends today or earlier.")


def days(starts_on: date, ends_on: date) -> list[date]:
    """Every day from ``starts_on`` to ``ends_on`` inclusive."""
    return [starts_on + timedelta(days=n) for n in range((ends_on - starts_on).days + 1)]
