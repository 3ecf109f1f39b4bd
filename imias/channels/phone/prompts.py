"""What the IVR says, in Russian (the default) and English.

Spoken text differs from written text (numbers are read digit by digit, no symbols),
so the phone keeps its own catalogue rather than the web pages' gettext one.
"""

from __future__ import annotations

from datetime import datetime

PROMPTS: dict[str, dict[str, str]] = {
    "welcome": {
        "ru": "Здравствуйте! Вы позвонили в службу записи к врачу. "
        "Чтобы продолжить на русском языке, нажмите 1.",
        "en": "For English, press 2.",
    },
    "policy": {
        "ru": "Введите шестнадцать цифр номера полиса ОМС и нажмите решётку.",
        "en": "Enter the sixteen digits of your health insurance policy number, then press hash.",
    },
    "birth": {
        "ru": "Введите дату рождения: две цифры дня, две цифры месяца и четыре цифры года.",
        "en": "Enter your date of birth: two digits of the day, two of the month "
        "and four of the year.",
    },
    "code": {
        "ru": "Если данные верны, мы отправили код в SMS на телефон из вашей карты. "
        "Введите шесть цифр кода.",
        "en": "If the details are right, we have sent a code by SMS to the phone in your "
        "record. Enter its six digits.",
    },
    "demo_code": {
        "ru": "Демонстрационный режим: код {code}.",
        "en": "Demo mode: the code is {code}.",
    },
    "signed_in": {
        "ru": "Вы вошли.",
        "en": "You are signed in.",
    },
    "menu": {
        "ru": "Чтобы записаться к врачу, нажмите 1. Чтобы услышать или отменить свои записи, "
        "нажмите 2. Чтобы поговорить с оператором, нажмите 0.",
        "en": "To book an appointment, press 1. To hear or cancel your appointments, press 2. "
        "To speak to an operator, press 0.",
    },
    "specialty_item": {
        "ru": "{name} — нажмите {digit}.",
        "en": "{name}, press {digit}.",
    },
    "back": {
        "ru": "Чтобы вернуться в меню, нажмите звёздочку.",
        "en": "To go back to the menu, press star.",
    },
    "offer": {
        "ru": "{specialty}: {when}, врач {doctor}, {clinic}, кабинет {room}. "
        "Чтобы записаться, нажмите 1. Следующее время — 2.",
        "en": "{specialty}: {when}, doctor {doctor}, {clinic}, room {room}. "
        "To book it, press 1. For the next time, press 2.",
    },
    "no_slots": {
        "ru": "Свободного времени у этого специалиста в ближайшие две недели нет.",
        "en": "There is no free time with this specialist in the next two weeks.",
    },
    "no_more_slots": {
        "ru": "Других времён нет. Вот первое снова.",
        "en": "There are no more times. Here is the first one again.",
    },
    "booked": {
        "ru": "Вы записаны: {when}, кабинет {room}. Приходите за десять минут.",
        "en": "You are booked: {when}, room {room}. Please come ten minutes early.",
    },
    "appointment": {
        "ru": "Запись {n} из {total}: {specialty}, {when}, врач {doctor}, {clinic}, "
        "кабинет {room}. Чтобы отменить её, нажмите 1. Следующая запись — 2.",
        "en": "Appointment {n} of {total}: {specialty}, {when}, doctor {doctor}, {clinic}, "
        "room {room}. To cancel it, press 1. For the next one, press 2.",
    },
    "no_appointments": {
        "ru": "У вас нет предстоящих записей.",
        "en": "You have no upcoming appointments.",
    },
    "cancelled": {
        "ru": "Запись отменена.",
        "en": "The appointment is cancelled.",
    },
    "invalid": {
        "ru": "Не удалось распознать ввод.",
        "en": "That input was not recognised.",
    },
    "missing": {
        "ru": "Мы ничего не услышали.",
        "en": "We did not hear anything.",
    },
    "wrong_code": {
        "ru": "Код неверный или устарел.",
        "en": "The code is wrong or has expired.",
    },
    "too_many": {
        "ru": "Слишком много попыток входа.",
        "en": "Too many sign-in attempts.",
    },
    "session_over": {
        "ru": "Время сеанса истекло, войдите снова.",
        "en": "Your session has ended; please sign in again.",
    },
    "transfer": {
        "ru": "Соединяем с оператором контакт-центра.",
        "en": "Connecting you to an operator of the call centre.",
    },
    "refused": {
        "ru": "Не получилось: {reason}",
        "en": "That did not work: {reason}",
    },
    "unavailable": {
        "ru": "Запись по телефону временно недоступна.",
        "en": "Booking by phone is unavailable at the moment.",
    },
}

MONTHS_RU = (
    "января февраля марта апреля мая июня июля августа сентября октября ноября декабря"
).split()
MONTHS_EN = (
    "January February March April May June July August September October November December"
).split()


def say(key: str, lang: str, **values: object) -> str:
    return PROMPTS[key][lang].format(**values)


def when(local: datetime, lang: str) -> str:
    """A local time as spoken: "30 ноября в 8:15" / "30 November at 8:15"."""
    if lang == "ru":
        return f"{local.day} {MONTHS_RU[local.month - 1]} в {local.hour}:{local.minute:02d}"
    return f"{local.day} {MONTHS_EN[local.month - 1]} at {local.hour}:{local.minute:02d}"
