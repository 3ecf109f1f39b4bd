"""``imias simulate ambulance``: a small real server playing the city's ambulance
dispatch system.

It receives what IMIAS sends it (the active-visit notices, signed; shown on its page at
``/``, JSON at ``/_received``; told to fail, answer slowly or drop connections with
``POST /_control``, as every simulator), and it sends IMIAS finished calls:
``POST /_send-call`` (JSON) or the form at ``/call`` builds a call, signs it as a FHIR
transaction Bundle and posts it to IMIAS, or (``"via": "mllp"``) sends it as an HL7 v2
ADT^A03 to IMIAS's MLLP listener, and answers with IMIAS's answer.

``POST /_send-call`` takes: ``policy`` (or ``family``, ``given``, ``birth_date``),
``outcome`` (home, hospital, refused), and optionally ``call_number``, ``station``,
``reason``, ``findings``, ``treatment``, ``diagnoses`` (ICD-10 codes), ``vitals`` ({LOINC:
value}), ``minutes`` (the call's length), ``message_id`` (to send one again), ``via``.
"""

from __future__ import annotations

import html
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from aiohttp import web
from hl7.mllp import open_hl7_connection

from ehr import DiagnosisIn, VitalIn, codes
from integrations import hl7
from integrations.ambulance.adt import build_adt
from integrations.ambulance.model import (
    CALL_SYSTEM,
    OUTCOME_SYSTEM,
    POLICY_SYSTEM,
    STATION_SYSTEM,
    CallIn,
    PatientRef,
)
from integrations.signing import signed_headers
from integrations.simulators.base import HttpReceiver, Received

FHIR_JSON = "application/fhir+json"
UCUM = "http://unitsofmeasure.org"
VITALS = {"8867-4": 96, "8480-6": 150, "8462-4": 90, "59408-5": 96, "8310-5": 36.8}


def call_of_request(data: dict[str, Any], now: datetime) -> CallIn:
    """The call a ``/_send-call`` request describes (ValueError if it is not one)."""
    if data.get("policy"):
        patient = PatientRef(policy=str(data["policy"]))
    else:
        patient = PatientRef(
            family=data.get("family"),
            given=data.get("given"),
            birth_date=date.fromisoformat(data["birth_date"]) if data.get("birth_date") else None,
        )
    minutes = int(data.get("minutes", 40))
    started = now - timedelta(minutes=minutes + 5)
    vitals = data.get("vitals", VITALS)
    return CallIn(
        patient=patient,
        call_number=str(data.get("call_number") or f"103-{uuid.uuid4().hex[:8]}"),
        station_id=int(data.get("station", 1)),
        started_at=started,
        ended_at=started + timedelta(minutes=minutes),
        outcome=data.get("outcome", "home"),
        reason=str(data.get("reason", "Боль в груди, слабость")),
        findings=list(data.get("findings", ["Состояние средней тяжести, сознание ясное"])),
        treatment=list(data.get("treatment", ["Нитроглицерин 0,5 мг под язык"])),
        diagnoses=[
            DiagnosisIn(code=c, rank="primary" if not i else "secondary")
            for i, c in enumerate(data.get("diagnoses", ["I20.9"]))
        ],
        vitals=[
            VitalIn(code=k, value=float(v), effective_at=started + timedelta(minutes=5))
            for k, v in vitals.items()
        ],
    )


def transaction_bundle(call: CallIn) -> dict[str, Any]:
    """The call as a FHIR R4 transaction Bundle (what a dispatch system sends)."""
    patient_key, encounter_key = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    p = call.patient
    patient: dict[str, Any] = {"resourceType": "Patient"}
    if p.policy:
        patient["identifier"] = [{"system": POLICY_SYSTEM, "value": p.policy}]
    else:
        patient["name"] = [{"family": p.family, "given": [p.given] if p.given else []}]
        patient["birthDate"] = p.birth_date.isoformat() if p.birth_date else None
    subject = {"reference": patient_key}
    encounter = {
        "resourceType": "Encounter",
        "identifier": [{"system": CALL_SYSTEM, "value": call.call_number}],
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
        "subject": subject,
        "period": {"start": call.started_at.isoformat(), "end": call.ended_at.isoformat()},
        "reasonCode": [{"text": call.reason}] if call.reason else [],
        "serviceProvider": {"identifier": {"system": STATION_SYSTEM,
                                           "value": str(call.station_id)}},
        "hospitalization": {"dischargeDisposition": {"coding": [
            {"system": OUTCOME_SYSTEM, "code": call.outcome}]}},
    }  # fmt: skip
    entries: list[dict[str, Any]] = [
        {"fullUrl": patient_key, "resource": patient,
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": encounter_key, "resource": encounter,
         "request": {"method": "POST", "url": "Encounter"}},
    ]  # fmt: skip
    context = {"subject": subject, "encounter": {"reference": encounter_key}}
    for v in call.vitals:
        m = codes.measure(v.code)
        entries.append({"resource": {
            "resourceType": "Observation", "status": "final", **context,
            "code": {"coding": [{"system": codes.LOINC_SYSTEM, "code": v.code,
                                 "display": m.name_en if m else v.code}]},
            "effectiveDateTime": (v.effective_at or call.started_at).isoformat(),
            "valueQuantity": {"value": v.value, "system": UCUM,
                              "code": v.unit or (m.unit if m else None)},
        }, "request": {"method": "POST", "url": "Observation"}})  # fmt: skip
    for finding in call.findings:
        entries.append({"resource": {
            "resourceType": "Observation", "status": "final", **context,
            "code": {"coding": [{"system": codes.LOINC_SYSTEM, "code": "29545-1",
                                 "display": "Physical findings"}]},
            "valueString": finding,
        }, "request": {"method": "POST", "url": "Observation"}})  # fmt: skip
    for d in call.diagnoses:
        entries.append({"resource": {
            "resourceType": "Condition", **context,
            "code": {"coding": [{"system": codes.ICD10_SYSTEM, "code": d.code}]},
        }, "request": {"method": "POST", "url": "Condition"}})  # fmt: skip
    for line in call.treatment:
        entries.append({"resource": {
            "resourceType": "Procedure", "status": "completed", **context,
            "code": {"text": line},
        }, "request": {"method": "POST", "url": "Procedure"}})  # fmt: skip
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


class DispatchSimulator(HttpReceiver):
    title = "Диспетчерская скорой помощи (симулятор)"

    def __init__(
        self,
        *,
        imias_url: str | None = None,
        partner_id: str = "dispatch",
        secret: str | None = None,
        mllp: str | None = None,
        mllp_partner_id: str | None = None,
        client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> None:
        super().__init__(secret=secret, **options)
        # How calls reach IMIAS over HTTP (default: a client of its own per call; a test
        # may give the app's own client, its base URL then IMIAS's).
        self.client = client
        self.imias_url = (imias_url or "").rstrip("/")
        self.partner_id = partner_id
        self.mllp = mllp  # host:port of IMIAS's MLLP listener
        self.mllp_partner_id = mllp_partner_id or partner_id
        self.sent: list[dict[str, Any]] = []

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/_send-call", self._send_call), web.get("/call", self._call_page)]

    def describe(self, message: Received) -> str:
        notice = message.extra
        if notice.get("kind") != "active_visit":
            return super().describe(message)
        if notice.get("status") == "booked":
            return (
                f"вызов {notice.get('call_number')}: активный визит {notice.get('local_start')}, "
                f"{notice.get('doctor_name')}, {notice.get('clinic_name')}"
            )
        return (
            f"вызов {notice.get('call_number')}: записи нет, задача у регистратуры "
            f"{notice.get('clinic_name')} ({notice.get('note') or ''})"
        )

    async def send_call(
        self, call: CallIn, *, via: str = "fhir", message_id: str | None = None
    ) -> dict[str, Any]:
        """Send ``call`` to IMIAS; what IMIAS answered."""
        message_id = message_id or str(uuid.uuid4())
        if via == "mllp":
            if not self.mllp:
                raise ValueError("no --mllp host:port of IMIAS's listener")
            host, _, port = self.mllp.rpartition(":")
            raw = build_adt(sender_id=self.mllp_partner_id, control_id=message_id[:20], call=call)
            reader, writer = await open_hl7_connection(host, int(port))
            try:
                writer.writeblock(raw)
                await writer.drain()
                ack = await reader.readblock()
            finally:
                writer.close()
            code, text = hl7.ack_code(ack)
            out: dict[str, Any] = {"via": "mllp", "ack": code, "text": text,
                                   "message_id": message_id[:20]}  # fmt: skip
        else:
            if (not self.imias_url and self.client is None) or self.secret is None:
                raise ValueError("no --imias-url and --secret to send calls with")
            body = json.dumps(transaction_bundle(call), ensure_ascii=False).encode()
            answer = await self.post_bundle(body, message_id)
            out = {"via": "fhir", "status": answer.status_code, "message_id": message_id,
                   "answer": answer.json() if answer.content else None}  # fmt: skip
        out["call_number"] = call.call_number
        self.sent.append(out)
        return out

    async def post_bundle(self, body: bytes, message_id: str) -> httpx.Response:
        """POST a Bundle to IMIAS, signed with the partner's secret, as message
        ``message_id`` (the same id again: a retry)."""
        assert self.secret is not None
        headers = signed_headers(self.secret, message_id, body)
        headers["content-type"] = FHIR_JSON
        url = f"{self.imias_url}/api/v1/integrations/ambulance/{self.partner_id}/calls"
        if self.client is not None:
            return await self.client.post(url, content=body, headers=headers)
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(url, content=body, headers=headers)

    async def _send_call(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            data = await request.json()
        else:
            form = await request.post()
            data = {k: v for k, v in form.items() if isinstance(v, str) and v}
        try:
            call = call_of_request(data, datetime.now(UTC))
            out = await self.send_call(
                call, via=str(data.get("via", "fhir")), message_id=data.get("message_id")
            )
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except (httpx.HTTPError, OSError) as exc:
            return web.json_response({"error": f"IMIAS unreachable: {exc}"}, status=502)
        return web.json_response(out)

    async def _call_page(self, request: web.Request) -> web.Response:
        last = "".join(
            f"<li>{html.escape(json.dumps(s, ensure_ascii=False)[:300])}</li>"
            for s in reversed(self.sent[-20:])
        )
        body = (
            "<!doctype html><html lang='ru'><head><meta charset='utf-8'>"
            f"<title>{self.title}: вызов</title></head><body><h1>Отправить карту вызова</h1>"
            "<form method='post' action='/_send-call'>"
            "<p><label>Полис <input name='policy' inputmode='numeric'></label></p>"
            "<p><label>Исход <select name='outcome'><option value='home'>оставлен дома</option>"
            "<option value='hospital'>доставлен в стационар</option>"
            "<option value='refused'>отказ</option></select></label></p>"
            "<p><label>Способ <select name='via'><option value='fhir'>FHIR</option>"
            "<option value='mllp'>HL7 v2 (MLLP)</option></select></label></p>"
            "<p><button type='submit'>Отправить</button></p></form>"
            f"<h2>Отправлено</h2><ul>{last}</ul></body></html>"
        )
        return web.Response(text=body, content_type="text/html")
