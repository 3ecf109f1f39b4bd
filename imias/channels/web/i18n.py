"""The pages' languages: gettext catalogues under ``imias/channels/locale`` (domain
``messages``), Russian by default and English on request.

The ``.po`` files are the source (committed); the compiled ``.mo`` files are generated:
``make build`` runs ``python -m imias.channels.web.i18n``, and a worker compiles a missing
or stale one on first use, so a fresh clone works either way. Messages are written in
Russian (the msgid); the Russian catalogue repeats them and the English one translates.
Templates call ``_()``; code calls :func:`imias.channels.web.pages.say`.
"""

from __future__ import annotations

import gettext
import io
import logging
import os
import tempfile
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger("imias.channels.i18n")

LOCALE = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
LANGUAGES = ("ru", "en")
DEFAULT = "ru"


def po_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"


def _compiled(lang: str) -> bytes:
    with po_path(lang).open("rb") as source:
        catalog = read_po(source, locale=lang)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def compile_catalogue(lang: str) -> Path:
    """Write ``lang``'s .mo next to its .po (atomically: workers may race to do it)."""
    target = mo_path(lang)
    data = _compiled(lang)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".messages-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _stale(lang: str) -> bool:
    mo = mo_path(lang)
    return not mo.exists() or mo.stat().st_mtime < po_path(lang).stat().st_mtime


@cache
def translations(lang: str) -> gettext.GNUTranslations:
    """The catalogue of ``lang`` (one of :data:`LANGUAGES`), compiled if need be."""
    if lang not in LANGUAGES:
        raise ValueError(f"no catalogue for {lang!r}")
    if _stale(lang):
        try:
            compile_catalogue(lang)
        except OSError as exc:  # a read-only install: compile in memory, and say so
            log.warning("cannot write the %s catalogue (%s); compiled in memory", lang, exc)
            return gettext.GNUTranslations(io.BytesIO(_compiled(lang)))
    with mo_path(lang).open("rb") as source:
        return gettext.GNUTranslations(source)


# Where the pages' messages are: the templates (``_()``) and the pages' code (``say()``;
# the phone IVR speaks its own prompts, imias/channels/phone/prompts.py).
SOURCES = Path(__file__).resolve().parent.parent
METHODS = [
    ("templates/**.html", "jinja2"),
    ("web/**.py", "python"),
    ("kiosk/**.py", "python"),
    ("registrar/**.py", "python"),
    ("doctor/**.py", "python"),
    ("portal/**.py", "python"),
    ("pharmacy/**.py", "python"),
    ("verify/**.py", "python"),
    ("admin/**.py", "python"),
]
KEYWORDS = {"_": None, "gettext": None, "say": (2,), "N_": None}


def N_(message: str) -> str:  # noqa: N802 (gettext's name for it)
    """Mark a msgid for extraction where it is translated later (a table of labels)."""
    return message


def messages() -> dict[str, list[tuple[str, int]]]:
    """Every msgid of the pages, with where it is (path, line)."""
    from babel.messages.extract import extract_from_dir

    found: dict[str, list[tuple[str, int]]] = {}
    for path, line, message, _comments, _context in extract_from_dir(
        str(SOURCES), METHODS, keywords=KEYWORDS, comment_tags=()
    ):
        if isinstance(message, str):
            found.setdefault(message, []).append((path, line))
    return found


def update() -> None:
    """Add the sources' new msgids to both catalogues (Russian: the msgid itself; English:
    empty, for a translator) and drop the ones no longer used."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    found = messages()
    for lang in LANGUAGES:
        old = {}
        if po_path(lang).exists():
            with po_path(lang).open("rb") as source:
                old = {m.id: m.string for m in read_po(source, locale=lang) if m.id}
        catalog = Catalog(
            locale=lang,
            domain=DOMAIN,
            project="IMIAS",
            copyright_holder="IMIAS contributors",
            fuzzy=False,
        )
        for msgid, where in sorted(found.items()):
            string = old.get(msgid) or (msgid if lang == "ru" else "")
            catalog.add(msgid, string, locations=where)
        po_path(lang).parent.mkdir(parents=True, exist_ok=True)
        with po_path(lang).open("wb") as out:
            write_po(out, catalog, width=100, omit_header=False)
        print(po_path(lang))


def main() -> None:
    """``python -m imias.channels.web.i18n`` compiles the catalogues (``make build``);
    ``... update`` brings the .po files up to date with the sources."""
    import sys

    if sys.argv[1:] == ["update"]:
        update()
        return
    for lang in LANGUAGES:
        print(compile_catalogue(lang))


if __name__ == "__main__":
    main()
