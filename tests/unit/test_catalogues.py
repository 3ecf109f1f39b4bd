"""The pages' gettext catalogues: every message of the templates and the pages' code has
a Russian and an English translation, and a missing compiled catalogue is compiled on
first use (a fresh clone has only the .po files)."""

from __future__ import annotations

import shutil

import pytest
from babel.messages.pofile import read_po

from imias.channels.web import i18n


def catalogue(lang: str) -> dict[str, str]:
    with i18n.po_path(lang).open("rb") as source:
        return {m.id: m.string for m in read_po(source, locale=lang) if m.id and not m.fuzzy}


def test_the_sources_have_messages():
    found = i18n.messages()
    assert "Выйти" in found  # templates
    assert "Эта страница для регистраторов." in found  # code, through say()
    assert "Проверьте номер полиса (16 цифр) и дату рождения (ДДММГГГГ)." in found


@pytest.mark.parametrize("lang", i18n.LANGUAGES, ids=list(i18n.LANGUAGES))
def test_every_message_has_a_translation(lang):
    translated = catalogue(lang)
    missing = [
        f"{msgid!r} ({where[0][0]}:{where[0][1]})"
        for msgid, where in sorted(i18n.messages().items())
        if not translated.get(msgid, "").strip()
    ]
    assert missing == [], f"untranslated in {lang}: " + ", ".join(missing)


def test_english_is_english_and_placeholders_are_kept():
    english = catalogue("en")
    assert english["Выйти"] == "Sign out"
    for msgid, string in english.items():
        assert not any("а" <= ch.lower() <= "я" for ch in string), (msgid, string)
        assert ("{number}" in msgid) == ("{number}" in string), msgid


def test_a_missing_compiled_catalogue_is_compiled_on_first_use(tmp_path, monkeypatch):
    for lang in i18n.LANGUAGES:
        target = tmp_path / lang / "LC_MESSAGES"
        target.mkdir(parents=True)
        shutil.copy(i18n.po_path(lang), target)
    monkeypatch.setattr(i18n, "LOCALE", tmp_path)
    i18n.translations.cache_clear()
    try:
        assert not i18n.mo_path("en").exists()
        assert i18n.translations("en").gettext("Выйти") == "Sign out"
        assert i18n.mo_path("en").exists()
        assert i18n.translations("ru").gettext("Выйти") == "Выйти"
    finally:
        i18n.translations.cache_clear()
