"""From the record's events to the schools' journals: an illness episode opened or closed
(:mod:`ehr.illness`, topic ``ehr.illness``) becomes an absence message (audience
``school.absence``), a school certificate issued or revoked (topic ``ehr.certificate``) a
certificate message (``school.certificate``), one for each school whose consent for it
was in force when the change was made. No consent, no message.

A school bound to partners (``imias partners bind-school``) is sent to those only; a
school bound to none is sent to every partner whose topics take the audience (the city's
school journal)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from ehr import certificates as ehr_certificates
from ehr import illness
from imias.platform.db import Connection
from imias.platform.settings import Settings
from imias.registry import patients
from integrations.model import Message
from integrations.routing import Event, Router
from integrations.schools import repository as repo
from integrations.schools.model import (
    Absence,
    AbsenceMessage,
    CertificateMessage,
    Pupil,
    SchoolCertificate,
    SchoolRef,
)
from integrations.schools.rules import FORMS, SCHOOL_KINDS, absence_id

ABSENCE = "school.absence"
CERTIFICATE = "school.certificate"
JSON = "application/json"

_illness = msgspec.json.Decoder(illness.IllnessEvent)
_certificates = msgspec.json.Decoder(ehr_certificates.events.CertificateEvent)
_encode = msgspec.json.Encoder().encode


async def _messages(
    conn: Connection, schools: Sequence[Any], patient_id: int, audience: str, kind: str,
    make: Any,
) -> list[Message]:  # fmt: skip
    """One message per school (``make(school_ref, pupil)`` its body), to the school's
    bound partners or to the audience."""
    if not schools:
        return []
    card = await patients.card(conn, patient_id)
    if card is None:
        return []
    pupil = Pupil(id=str(card.id), name=card.name, birth_date=card.birth_date)
    out = []
    for s in schools:
        body = _encode(make(SchoolRef(id=s["school_id"], name=s["name"], kind=s["kind"]), pupil))
        bound: list[str | None] = list(await repo.journals_of(conn, s["school_id"]))
        for partner in bound or [None]:
            out.append(
                Message(
                    audience=audience,
                    kind=kind,
                    content_type=JSON,
                    body=body,
                    patient_id=patient_id,
                    partner_id=partner,
                    key=f"{s['school_id']}:{partner or ''}",
                )  # fmt: skip
            )
    return out


async def illness_to_schools(conn: Connection, event: Event) -> list[Message]:
    change = _illness.decode(event.payload)
    schools = await repo.consented_at(conn, change.patient_id, change.at, "absences")
    if isinstance(change, illness.IllnessOpened):
        absence = Absence(
            id=absence_id(change.episode_id), starts_on=change.starts_on, ends_on=None,
            status="open",
        )  # fmt: skip
        kind = "absence.opened"
    else:
        absence = Absence(
            id=absence_id(change.episode_id), starts_on=change.starts_on,
            ends_on=change.ends_on, status="closed",
        )  # fmt: skip
        kind = "absence.closed"

    def make(school: SchoolRef, pupil: Pupil) -> AbsenceMessage:
        return AbsenceMessage(school=school, pupil=pupil, absence=absence, sent_for=change.at)

    return await _messages(conn, schools, change.patient_id, ABSENCE, kind, make)


async def certificate_to_schools(conn: Connection, event: Event) -> list[Message]:
    change = _certificates.decode(event.payload)
    if change.kind not in SCHOOL_KINDS:
        return []
    schools = await repo.consented_at(conn, change.patient_id, change.at, "certificates")
    if isinstance(change, ehr_certificates.events.CertificateIssued):
        certificate = SchoolCertificate(
            number=change.number, kind=change.kind, form=FORMS[change.kind],  # type: ignore[arg-type]
            status="valid", valid_from=change.valid_from, valid_until=change.valid_until,
            pe_group=change.pe_group, pool_admitted=True if change.kind == "pool" else None,
        )  # fmt: skip
        kind = "certificate.issued"
    else:
        certificate = SchoolCertificate(
            number=change.number, kind=change.kind, form=FORMS[change.kind], status="revoked",  # type: ignore[arg-type]
        )  # fmt: skip
        kind = "certificate.revoked"

    def make(school: SchoolRef, pupil: Pupil) -> CertificateMessage:
        return CertificateMessage(
            school=school, pupil=pupil, certificate=certificate, sent_for=change.at
        )

    return await _messages(conn, schools, change.patient_id, CERTIFICATE, kind, make)


def register(router: Router, settings: Settings) -> None:
    del settings  # the messages need nothing of the deployment's settings
    router.route(illness.TOPIC, illness_to_schools)
    router.route(ehr_certificates.events.TOPIC, certificate_to_schools)
