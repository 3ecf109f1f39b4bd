"""The texts of notices, one per kind and language (Russian first; English), for an SMS
(short) and an e-mail (the same text under a subject). A kind's text is filled with the
values :mod:`integrations.notifications.routing` reads: ``{when}`` (the appointment's
local time), ``{doctor}``, ``{specialty}``, ``{clinic}``, ``{address}``, ``{room}``,
``{url}`` (the portal's page for it), and per kind ``{code}``, ``{old_when}``,
``{expires}``, ``{deadline}``.

A new kind is a new entry here (and its values in the routing); a kind with no entry is
a routing failure, kept until its text exists (``imias deliveries reroute``).
"""

from __future__ import annotations

from typing import Final

from integrations.notifications.model import Language, Rendered

# kind -> language -> (subject, text)
TEXTS: Final[dict[str, dict[Language, tuple[str, str]]]] = {
    "sign_in_code": {
        "ru": ("Код для входа", "IMIAS: код для входа {code}. Никому его не сообщайте."),
        "en": ("Your sign-in code", "IMIAS: your sign-in code is {code}. Do not share it."),
    },
    "proxy_code": {
        "ru": (
            "Код доступа по доверенности",
            "IMIAS: код {code} даёт другому человеку доступ к вашей записи к врачу. "
            "Сообщите его, только если доверяете.",
        ),
        "en": (
            "A code to act for you",
            "IMIAS: code {code} lets someone else book for you. Share it only if you trust them.",
        ),
    },
    "reminder": {
        "ru": (
            "Напоминание о приёме",
            "Напоминаем: {when} приём, {specialty} {doctor}, {clinic}, {address}{room}. "
            "Не сможете прийти - отмените запись: {url}",
        ),
        "en": (
            "Appointment reminder",
            "Reminder: {when} appointment, {specialty} {doctor}, {clinic}, {address}{room}. "
            "Cannot come? Cancel it: {url}",
        ),
    },
    "waitlist_offer": {
        "ru": (
            "Освободилось время приёма",
            "Освободилось время: {when}, {specialty} {doctor}, {clinic}. Оно придержано "
            "для вас до {expires}: подтвердите запись {url}",
        ),
        "en": (
            "A time has become free",
            "A time is free: {when}, {specialty} {doctor}, {clinic}. It is held for you "
            "until {expires}: confirm at {url}",
        ),
    },
    "cancelled_by_clinic": {
        "ru": (
            "Запись отменена поликлиникой",
            "Поликлиника отменила вашу запись: {when}, {specialty} {doctor}, {clinic}. "
            "Записаться снова: {url}",
        ),
        "en": (
            "Appointment cancelled by the clinic",
            "The clinic cancelled your appointment: {when}, {specialty} {doctor}, {clinic}. "
            "Book again: {url}",
        ),
    },
    "move_offered": {
        "ru": (
            "Приём нужно перенести",
            "Врач не сможет принять вас {old_when}. Мы придержали другое время: {when}, "
            "{specialty} {doctor}, {clinic}, {address}. Подтвердите или выберите другое "
            "до {deadline}: {url}",
        ),
        "en": (
            "Your appointment must move",
            "The doctor cannot see you on {old_when}. We hold another time for you: {when}, "
            "{specialty} {doctor}, {clinic}, {address}. Confirm or choose another by "
            "{deadline}: {url}",
        ),
    },
    "move_confirmed": {
        "ru": (
            "Запись перенесена",
            "Запись перенесена: {when}, {specialty} {doctor}, {clinic}, {address}{room}. {url}",
        ),
        "en": (
            "Appointment moved",
            "Your appointment has moved: {when}, {specialty} {doctor}, {clinic}, "
            "{address}{room}. {url}",
        ),
    },
    "move_cancelled": {
        "ru": (
            "Запись отменена",
            "Запись {when} ({specialty} {doctor}, {clinic}) отменена: врач не сможет "
            "принять, а другое время не выбрано. Записаться снова: {url}",
        ),
        "en": (
            "Appointment cancelled",
            "Your appointment on {when} ({specialty} {doctor}, {clinic}) is cancelled: the "
            "doctor cannot see you and no other time was chosen. Book again: {url}",
        ),
    },
    "active_visit": {
        "ru": (
            "Активный визит после вызова скорой помощи",
            "После вызова скорой помощи вас записали на приём: {when}, {specialty} "
            "{doctor}, {clinic}, {address}{room}. Не сможете прийти - позвоните в "
            "поликлинику.",
        ),
        "en": (
            "A follow-up visit after your ambulance call",
            "After your ambulance call you are booked: {when}, {specialty} {doctor}, "
            "{clinic}, {address}{room}. Cannot come? Call the clinic.",
        ),
    },
    "walk_in_called": {
        "ru": ("Вас вызывают на приём", "Вас вызывают на приём{room}, {clinic}."),
        "en": ("You are called in", "You are called in{room}, {clinic}."),
    },
    "text": {  # a text made by its sender (SmsSender.send_text), as it is
        "ru": ("Сообщение из поликлиники", "{text}"),
        "en": ("A message from the clinic", "{text}"),
    },
}

#: The room, when known, as it follows an address.
ROOM: Final[dict[Language, str]] = {"ru": ", каб. {room}", "en": ", room {room}"}
#: How a local time reads.
WHEN: Final[dict[Language, str]] = {"ru": "%d.%m.%Y в %H:%M", "en": "%d.%m.%Y at %H:%M"}


def known(kind: str) -> bool:
    return kind in TEXTS


def render(kind: str, language: Language, values: dict[str, str]) -> Rendered:
    """The notice's subject and text; KeyError for a kind without a text."""
    subject, text = TEXTS[kind][language]
    return Rendered(subject, text.format_map(_Blank(values)))


class _Blank(dict[str, str]):
    """A value the notice lacks reads as nothing (a doctor deleted since, no room)."""

    def __missing__(self, key: str) -> str:
        return ""
