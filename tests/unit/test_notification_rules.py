"""The notification service's pure parts: quiet hours in the city's time, the channel a
notice takes, every kind's text in both languages, and the SMS gateway's answers."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from imias.platform.problems import ProblemError
from integrations.model import Partner
from integrations.notifications import templates
from integrations.notifications.gateways import SmsGateway
from integrations.notifications.model import PreferenceIn, QuietHours
from integrations.notifications.rules import channel_for, check_preference, quiet_until

MOSCOW = ZoneInfo("Europe/Moscow")
NIGHT = (time(22, 0), time(8, 0))


def at(hour: int, minute: int = 0, day: int = 4) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=MOSCOW).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (at(23), at(8, day=5)),
        (at(22), at(8, day=5)),
        (at(0, 30), at(8)),
        (at(7, 59), at(8)),
        (at(8), None),
        (at(12), None),
        (at(21, 59), None),
    ],
)
def test_quiet_hours_end_in_the_city_s_morning(now, until):
    assert quiet_until(now, MOSCOW, *NIGHT) == until


def test_quiet_hours_of_the_day_and_none_at_all():
    assert quiet_until(at(13, 30), MOSCOW, time(13), time(14)) == at(14)
    assert quiet_until(at(14), MOSCOW, time(13), time(14)) is None
    assert quiet_until(at(23), MOSCOW, time(0), time(0)) is None


def test_23_utc_is_not_23_in_moscow():
    late_utc = datetime(2026, 12, 4, 19, 30, tzinfo=UTC)  # 22:30 in Moscow
    assert quiet_until(late_utc, MOSCOW, *NIGHT) == at(8, day=5)
    assert quiet_until(late_utc, ZoneInfo("Europe/London"), *NIGHT) is None


def test_the_channel_follows_the_preference_but_codes_always_go():
    phone, email = "+79161234567", "a@example.org"
    assert channel_for("reminder", None, None, phone) == ("sms", phone)
    assert channel_for("reminder", "email", email, phone) == ("email", email)
    assert channel_for("reminder", "email", None, phone) == ("sms", phone)
    assert channel_for("reminder", "none", email, phone) is None
    assert channel_for("sign_in_code", "none", email, phone) == ("sms", phone)
    assert channel_for("sign_in_code", "email", email, phone) == ("sms", phone)
    assert channel_for("reminder", "sms", None, None) is None


KINDS = [
    "sign_in_code", "reminder", "waitlist_offer", "cancelled_by_clinic", "move_offered",
    "move_confirmed", "move_cancelled", "active_visit", "walk_in_called",
]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", ["ru", "en"])
def test_every_kind_of_the_contract_has_a_text(kind, language):
    values = {"when": "05.12.2026 в 09:30", "doctor": "Иванова Мария", "clinic": "ГП 1",
              "url": "https://emias.example/appointments", "code": "123456"}  # fmt: skip
    rendered = templates.render(kind, language, values)
    assert rendered.subject and rendered.text and "{" not in rendered.text
    if "{url}" in templates.TEXTS[kind][language][1]:
        assert "https://emias.example/appointments" in rendered.text
    if kind == "sign_in_code":
        assert "123456" in rendered.text


def test_a_preference_is_checked():
    ok = check_preference(PreferenceIn(channel="email", email=" a@example.org "))
    assert ok.email == "a@example.org"
    for bad, code in (
        (PreferenceIn(email="a@b"), "invalid_email"),
        (PreferenceIn(email="two@@example.org"), "invalid_email"),
        (PreferenceIn(channel="email"), "email_required"),
        (PreferenceIn(quiet_hours=QuietHours("22", "08:00")), "invalid_quiet_hours"),
        (PreferenceIn(quiet_hours=QuietHours("22:00", "24:00")), "invalid_quiet_hours"),
    ):
        with pytest.raises(ProblemError) as refused:
            check_preference(bad)
        assert refused.value.code == code


def gateway() -> SmsGateway:
    partner = Partner(id="g", kind="sms_gateway", name="g", transport="sms",
                      url="https://sms.example/sms/send?from=CLINIC", topics=[])  # fmt: skip
    return SmsGateway(partner, "api-id")


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ({"status": "OK", "sms": {"79161234567": {"status": "OK", "status_code": 100}}}, "ok"),
        ({"status": "OK", "sms": {"79161234567": {"status": "ERROR", "status_code": 202}}},
         "rejected"),
        ({"status": "OK", "sms": {"79161234567": {"status": "ERROR", "status_code": 209}}},
         "rejected"),
        ({"status": "ERROR", "status_code": 201}, "down"),  # no balance
        ({"status": "ERROR", "status_code": 220}, "down"),  # busy
        ({"status": "ERROR", "status_code": 301}, "down"),  # a wrong api_id: fix, then retry
        ({"status": "OK", "sms": {}}, "down"),
        ([], "down"),
    ],
)  # fmt: skip
def test_the_gateway_s_answers(answer, outcome):
    sent = gateway().verdict("79161234567", answer)
    got = "ok" if sent.ok else "rejected" if sent.rejected else "down" if sent.partner_down else "?"
    assert got == outcome


def test_the_gateway_form_carries_the_url_s_query():
    from integrations.notifications.gateways import SmsBody

    g = gateway()
    assert g.url == "https://sms.example/sms/send"
    assert g.form(SmsBody("+79161234567", "текст")) == {
        "from": "CLINIC", "to": "79161234567", "msg": "текст", "json": "1", "api_id": "api-id",
    }  # fmt: skip
