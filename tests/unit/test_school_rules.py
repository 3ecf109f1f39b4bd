"""The schools' and illness episodes' pure decisions: which days an episode may start and
end on against the city's day, what a journal marks, which certificates and groups count,
and that a message to a school has no field for a diagnosis."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import msgspec
import pytest

from ehr.illness import rules as illness_rules
from imias.platform.problems import ProblemError
from integrations.schools import rules
from integrations.schools.model import (
    Absence,
    AbsenceMessage,
    ConsentIn,
    Pupil,
    SchoolMessage,
    SchoolRef,
)

TODAY = date(2026, 3, 10)


@pytest.mark.parametrize(
    ("starts_on", "code"),
    [
        (TODAY + timedelta(days=1), "starts_in_future"),
        (TODAY - timedelta(days=31), "starts_too_early"),
    ],
)
def test_an_episode_starts_within_the_last_30_days(starts_on, code):
    with pytest.raises(ProblemError) as refused:
        illness_rules.check_open(starts_on, TODAY)
    assert refused.value.code == code
    illness_rules.check_open(TODAY - timedelta(days=30), TODAY)  # the limit itself is fine


@pytest.mark.parametrize(
    ("ends_on", "closing_on", "code"),
    [
        (None, TODAY - timedelta(days=3), "ends_before_start"),
        (None, TODAY + timedelta(days=1), "ends_in_future"),
        (TODAY, TODAY, "already_closed"),
    ],
)
def test_an_episode_closes_once_between_its_start_and_today(ends_on, closing_on, code):
    with pytest.raises(ProblemError) as refused:
        illness_rules.check_close(TODAY - timedelta(days=2), ends_on, closing_on, TODAY)
    assert refused.value.code == code


def test_the_journal_marks_the_closed_range_or_up_to_today_while_open():
    start = TODAY - timedelta(days=2)
    assert rules.marked_days(start, start + timedelta(days=1), TODAY) == [
        start,
        start + timedelta(days=1),
    ]
    assert rules.marked_days(start, None, TODAY) == [start + timedelta(days=n) for n in range(3)]


def test_a_consent_says_something_and_only_school_kinds_and_groups_count():
    with pytest.raises(ProblemError) as refused:
        rules.check_consent(ConsentIn(school_id=1))
    assert refused.value.code == "nothing_consented"
    rules.check_consent(ConsentIn(school_id=1, certificates=True))
    assert "driver" not in rules.SCHOOL_KINDS
    assert not rules.restricting("main") and rules.restricting("special_b")
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(
            b'{"school_id": 1, "absences": true, "diagnosis": "J06"}', type=ConsentIn
        )


def test_a_school_message_has_no_room_for_a_diagnosis():
    message = AbsenceMessage(
        school=SchoolRef(id=1, name="Школа № 1", kind="school"),
        pupil=Pupil(id="42", name="Иванов Иван", birth_date=date(2015, 5, 1)),
        absence=Absence(id="illness-7", starts_on=TODAY, ends_on=None, status="open"),
        sent_for=datetime(2026, 3, 10, 9, 0),
    )
    body = msgspec.json.encode(message)
    assert msgspec.json.decode(body, type=SchoolMessage) == message
    fields = set(msgspec.json.decode(body))
    assert fields == {"type", "format", "school", "pupil", "absence", "sent_for"}
    assert msgspec.json.decode(body)["absence"]["mark"] == "Б"
