"""Every refusal of prescriptions: a stable code, its HTTP status, and a sentence in
Russian and in English (the caller's language is the detail; both are in the problem
document, so that a page or a pharmacy's system can show either)."""

from __future__ import annotations

from typing import Any

from imias.platform.problems import ProblemError

REFUSALS: dict[str, tuple[int, str, str]] = {
    "unknown_drug": (
        422,
        "Такого препарата нет в справочнике.",
        "There is no such drug in the catalogue.",
    ),
    "contraindicated": (
        409,
        "Назначение противопоказано; подпись возможна только с указанием причины.",
        "The prescription is contraindicated; it can be signed only with a reason to override.",
    ),
    "not_chronic": (
        422,
        "Длительный рецепт выписывается пациенту с хроническим заболеванием.",
        "A long-term prescription is for a patient with an active chronic condition.",
    ),
    "bad_schedule": (
        422,
        "Срок длительного рецепта должен делиться на периоды отпуска.",
        "A long-term prescription runs a whole number of dispensing periods.",
    ),
    "not_subsidised_drug": (
        422,
        "Этот препарат не входит в льготный перечень.",
        "This drug is not on the subsidised list.",
    ),
    "no_benefit": (
        422,
        "У пациента нет льготной категории, дающей право на этот препарат.",
        "The patient has no benefit category that gives this drug free.",
    ),
    "already_cancelled": (
        409,
        "Рецепт уже аннулирован.",
        "The prescription is cancelled already.",
    ),
    "not_author": (
        403,
        "Аннулировать рецепт может только выписавший его врач.",
        "Only the doctor who wrote a prescription can cancel it.",
    ),
    "bad_code": (
        422,
        "Это не код рецепта.",
        "This is not a prescription's code.",
    ),
    "foreign_city": (
        422,
        "Рецепт выписан в другом городе; здесь его отпустить нельзя.",
        "The prescription was issued in another city and cannot be dispensed here.",
    ),
    "code_mismatch": (
        422,
        "Код не совпадает с выписанным рецептом: он изменён или поддельный.",
        "The code does not match the prescription issued: it was altered or forged.",
    ),
    "signature_invalid": (
        409,
        "Подпись врача не подтверждается: рецепт изменён после подписания. Отпуск невозможен.",
        "The doctor's signature does not hold: the prescription was changed after signing. "
        "It cannot be dispensed.",
    ),
    "cancelled": (
        409,
        "Рецепт аннулирован врачом.",
        "The prescription was cancelled by the doctor.",
    ),
    "expired": (
        409,
        "Срок действия рецепта истёк.",
        "The prescription has expired.",
    ),
    "period_not_due": (
        409,
        "Сейчас нет периода отпуска по этому рецепту.",
        "No dispensing period of this prescription is due today.",
    ),
    "nothing_left": (
        409,
        "По этому рецепту за текущий период уже всё отпущено.",
        "Everything of this prescription's current period has been dispensed.",
    ),
    "more_than_left": (
        409,
        "Нельзя отпустить больше, чем осталось по рецепту.",
        "More than is left of the prescription cannot be dispensed.",
    ),
    "not_equivalent": (
        422,
        "Заменить можно только препаратом с тем же МНН, в той же форме и дозировке.",
        "Only a product of the same international non-proprietary name, form and strength "
        "may be substituted.",
    ),
    "request_id_reused": (
        409,
        "Этот номер запроса уже использован для другого отпуска.",
        "This request id was used for another dispensing.",
    ),
    "too_many_attempts": (
        429,
        "Слишком много неверных номеров или дат рождения. Попробуйте позже или отсканируйте "
        "QR-код.",
        "Too many wrong numbers or birth dates. Try later, or scan the QR code.",
    ),
    "not_subsidised_pharmacy": (
        403,
        "Льготный рецепт отпускает только аптека льготного отпуска.",
        "A subsidised prescription is dispensed only at a subsidised (city) pharmacy.",
    ),
    "no_pharmacy": (
        403,
        "Учётная запись не привязана к аптеке.",
        "This account is not bound to a pharmacy.",
    ),
    "proof_required": (
        422,
        "Для отпуска нужен код рецепта, дата рождения или номер полиса владельца.",
        "Dispensing needs the prescription's code, or the holder's birth date or policy number.",
    ),
    "not_found": (
        404,
        "Такого рецепта нет.",
        "There is no such prescription.",
    ),
}


def refuse(code: str, lang: str = "ru", **extra: Any) -> ProblemError:
    """The refusal ``code`` as a problem (detail in ``lang``, both sentences in ``ru``
    and ``en``)."""
    status, ru, en = REFUSALS[code]
    return ProblemError(
        status, code, en if lang == "en" else ru, extra={"ru": ru, "en": en, **extra}
    )
