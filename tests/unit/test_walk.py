"""The booking walk shared by the benches and the locust scenarios, driven by hand."""

import json

import pytest

from loadtest.walk import Answer, Outcome, Request, book, problem_code, verdict_of

SLOTS = [{"doctor_id": 7, "starts_at": "2026-12-07T08:00:00Z"}]


def _drive(walk, answers):
    """Feed ``answers`` to the walk one by one; the requests it made and its outcome."""
    sent = []
    try:
        request = next(walk)
        for answer in answers:
            sent.append(request)
            request = walk.send(answer)
        raise AssertionError(f"the walk asked for more: {request}")
    except StopIteration as stop:
        return sent, stop.value


def _walk(attempts=1, looks=0):
    search = Request("GET", "/api/v1/slots", "search", params={"specialty": "therapist"})
    look = Request("GET", "/api/v1/slots", "search", params={"near": "55.7,37.6"})
    return book(
        42,
        {"Authorization": "Bearer t"},
        lambda: [look] * looks + [search],
        lambda slots: slots[0],
        attempts=attempts,
    )


def test_search_hold_confirm_books():
    sent, outcome = _drive(
        _walk(looks=1),
        [
            Answer("ok", body=[]),  # the look around
            Answer("ok", body=SLOTS),
            Answer("ok", body={"token": "abc"}),
            Answer("ok", body={"id": 5}),
        ],
    )
    assert [r.name for r in sent] == ["search", "search", "hold", "confirm"]
    assert sent[2].json == {
        "patient_id": 42,
        "doctor_id": 7,
        "starts_at": "2026-12-07T08:00:00Z",
        "channel": "web",
    }
    assert sent[3].path == "/api/v1/holds/abc/confirm"
    assert len(sent[3].headers["Idempotency-Key"]) == 32  # a fresh key for the retry-safe step
    assert sent[3].headers["Authorization"] == "Bearer t"
    assert outcome == Outcome("ok", appointment={"id": 5})


def test_a_slot_taken_is_searched_for_again_then_given_up():
    taken = Answer("refused", code="slot_taken")
    sent, outcome = _drive(_walk(attempts=2), [Answer("ok", body=SLOTS), taken] * 2)
    assert [r.name for r in sent] == ["search", "hold", "search", "hold"]
    assert outcome == Outcome("refused", "slot_taken")


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([Answer("ok", body=[])], Outcome("refused", "no_free_slot")),
        ([Answer("failed")], Outcome("failed", "search_failed")),
        (
            [Answer("ok", body=SLOTS), Answer("refused", code="hold_limit")],
            Outcome("refused", "hold_limit"),
        ),
        (
            [Answer("ok", body=SLOTS), Answer("ok", body={"token": "t"}), Answer("failed", "x")],
            Outcome("failed", "x"),
        ),
    ],
)
def test_the_walk_stops_at_the_first_answer_that_ends_it(answers, expected):
    _, outcome = _drive(_walk(attempts=3), answers)
    assert outcome == expected


def test_a_problem_code_is_read_from_the_document_else_the_status():
    assert problem_code(409, lambda: {"code": "slot_taken"}) == "slot_taken"
    assert problem_code(502, lambda: json.loads("<html>")) == "http_502"
    assert problem_code(404, lambda: ["not", "a", "document"]) == "http_404"
    assert [verdict_of(s) for s in (200, 204, 404, 429, 500, 0)] == [
        "ok",
        "ok",
        "refused",
        "refused",
        "failed",
        "failed",
    ]
