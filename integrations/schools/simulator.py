"""``imias simulate school``: a school's electronic journal, as a small real server. It
takes IMIAS's signed messages (format ``imias.school/1``), keeps each once by its
``webhook-id``, keeps every child's absences and certificates, and shows the journal:
children by days with the "Б" marks of illness, and the certificates received.

Pages: ``/journal`` (the journal), ``/journal.json`` (the same as JSON: each child's
"Б" days and certificates), and the base simulator's ``/`` (every message),
``/_received``, ``/_stats``, ``POST /_control`` (fail, slow, drop)."""

from __future__ import annotations

import asyncio
import html
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click
import msgspec
from aiohttp import web

from integrations.schools.model import AbsenceMessage, SchoolMessage
from integrations.schools.rules import marked_days
from integrations.simulators.base import HttpReceiver, Received, serve_forever

_decode = msgspec.json.Decoder(SchoolMessage).decode
JOURNAL_DAYS = 31  # the page shows at most this many days


@dataclass
class Child:
    id: str
    name: str
    birth_date: str
    school: str
    absences: dict[str, dict[str, Any]] = field(default_factory=dict)
    certificates: dict[str, dict[str, Any]] = field(default_factory=dict)


class SchoolJournal(HttpReceiver):
    title = "Электронный журнал школы (симулятор IMIAS)"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.children: dict[tuple[int, str], Child] = {}

    def extra(self, body: bytes, content_type: str) -> dict[str, Any]:
        try:
            message = _decode(body)
        except msgspec.DecodeError as exc:  # a ValidationError is one
            raise ValueError(str(exc)) from None
        return dict(msgspec.to_builtins(message))

    def accepted(self, message: Received) -> None:
        got = _decode(message.body.encode())
        with self.store.lock:
            key = (got.school.id, got.pupil.id)
            child = self.children.setdefault(
                key,
                Child(
                    got.pupil.id, got.pupil.name, got.pupil.birth_date.isoformat(), got.school.name
                ),
            )
            if isinstance(got, AbsenceMessage):
                a = got.absence
                held = child.absences.get(a.id)
                if held is not None and held["status"] == "closed" and a.status == "open":
                    return  # an opening after its closing changes nothing
                child.absences[a.id] = {
                    "starts_on": a.starts_on.isoformat(),
                    "ends_on": None if a.ends_on is None else a.ends_on.isoformat(),
                    "status": a.status,
                }
            else:
                c = got.certificate
                child.certificates[c.number] = dict(msgspec.to_builtins(c))

    def journal(self, today: date | None = None) -> dict[str, Any]:
        """Each child (by school and id): name, the "Б" days, the certificates."""
        until = today or datetime.now(UTC).date()
        out = {}
        with self.store.lock:
            for (school, pupil), child in sorted(self.children.items()):
                days: set[date] = set()
                for a in child.absences.values():
                    ends = None if a["ends_on"] is None else date.fromisoformat(a["ends_on"])
                    days.update(marked_days(date.fromisoformat(a["starts_on"]), ends, until))
                out[f"{school}:{pupil}"] = {
                    "school_id": school,
                    "school": child.school,
                    "pupil": pupil,
                    "name": child.name,
                    "birth_date": child.birth_date,
                    "ill_days": sorted(d.isoformat() for d in days),
                    "absences": dict(child.absences),
                    "certificates": list(child.certificates.values()),
                }
        return out

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/journal", self._journal_page), web.get("/journal.json", self._json)]

    async def _json(self, request: web.Request) -> web.Response:
        return web.json_response(self.journal())

    async def _journal_page(self, request: web.Request) -> web.Response:
        journal = self.journal()
        today = datetime.now(UTC).date()
        marked = [date.fromisoformat(d) for c in journal.values() for d in c["ill_days"]]
        first = max(min(marked, default=today), today - timedelta(days=JOURNAL_DAYS - 1))
        last = max(marked, default=today)
        last = min(last, first + timedelta(days=JOURNAL_DAYS - 1))
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        e = html.escape
        head = "".join(f"<th scope='col'>{d.strftime('%d.%m')}</th>" for d in days)
        rows = []
        for c in journal.values():
            ill = set(c["ill_days"])
            cells = "".join(f"<td>{'Б' if d.isoformat() in ill else ''}</td>" for d in days)
            rows.append(
                f"<tr><th scope='row'>{e(c['name'])} ({e(c['birth_date'])}), "
                f"{e(c['school'])}</th>{cells}</tr>"
            )
        certs = "".join(
            f"<li>{e(c['name'])}: {e(x['form'])} {e(x['kind'])} № {e(x['number'])}, "
            f"{e(x['status'])}"
            + (f", {e(x['pe_group'])}" if x.get("pe_group") else "")
            + (f", до {e(x['valid_until'])}" if x.get("valid_until") else "")
            + "</li>"
            for c in journal.values()
            for x in c["certificates"]
        )
        body = (
            "<!doctype html><html lang='ru'><head><meta charset='utf-8'>"
            f"<title>{self.title}</title></head><body><main><h1>{self.title}</h1>"
            "<h2>Пропуски по болезни (Б)</h2>"
            f"<table><thead><tr><th scope='col'>Ученик</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            f"<h2>Справки</h2><ul>{certs or '<li>нет</li>'}</ul>"
            "<p><a href='/'>Все сообщения</a></p></main></body></html>"
        )
        return web.Response(text=body, content_type="text/html")

    def describe(self, message: Received) -> str:
        m = message.extra
        if "absence" in m:
            a = m["absence"]
            return f"{m['pupil']['name']}: Б {a['starts_on']} – {a['ends_on'] or '…'}"
        if "certificate" in m:
            c = m["certificate"]
            return f"{m['pupil']['name']}: {c['form']} № {c['number']} ({c['status']})"
        return json.dumps(m, ensure_ascii=False)[:200]


@click.command("school")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8580, show_default=True)
@click.option("--path", default="/messages", show_default=True, help="Where messages are posted.")
@click.option(
    "--secret",
    envvar="IMIAS_SIMULATE_SECRET",
    default=None,
    help="The partner's secret (whsec_..., from `imias partners secret`): signatures are "
    "checked, a bad one is refused (401). Without it any webhook-id is taken.",
)
def simulate_school(host: str, port: int, path: str, secret: str | None) -> None:
    """A school's electronic journal: takes absences and certificates, shows the journal
    (children by days, "Б" for illness) at /journal."""
    journal = SchoolJournal(host=host, port=port, path=path, secret=secret)
    click.echo(f"school journal at http://{host}:{port}{path}; journal page at "
               f"http://{host}:{port}/journal")  # fmt: skip
    try:
        asyncio.run(serve_forever(journal))
    except KeyboardInterrupt:
        pass
