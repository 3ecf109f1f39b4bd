"""A registrar registers a patient who is not in the registry yet (a newcomer to the
city, a newborn) and changes a patient's names, phone or attachment: the registry's
change with its event (HL7 ADT A28 / A31 to subscribed systems, integrations/feeds),
audited. A registrar attaches a patient to her own clinic only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
from litestar import Controller, Request, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from msgspec import Meta

from imias.identity.model import PolicyNumber
from imias.identity.policies import allow, principal_of
from imias.identity.service import Identity
from imias.platform.bounds import check_day
from imias.platform.problems import ProblemError
from imias.registry import patients

Name = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[^\d\x00-\x1f]+$")]
Phone = Annotated[str, Meta(pattern=r"^\+[0-9]{11,15}$", description="+79991234567")]
IdPath = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]
#: The oldest a person registered today may be born.
OLDEST_YEARS = 130

DESK = allow(
    "registrar",
    data="registrar: registers a patient (attached to her clinic) and changes a patient's "
    "names, phone and attachment to her clinic",
)


class PatientRegistration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    policy_number: PolicyNumber
    family_name: Name
    given_name: Name
    birth_date: date
    sex: Literal["F", "M"]
    patronymic: Name | None = None
    phone: Phone | None = None

    def __post_init__(self) -> None:
        check_day(self.birth_date, "birth_date")


class PatientChanges(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """What changes (what is left out stays); ``attach_here`` attaches the patient to
    the registrar's clinic."""

    family_name: Name | None = None
    given_name: Name | None = None
    patronymic: Name | None = None
    phone: Phone | None = None
    attach_here: bool = False


class Registered(msgspec.Struct, frozen=True):
    id: int
    attached_clinic_id: int | None


def _clinic(request: Request[Any, Any, Any]) -> int:
    clinic = principal_of(request).org
    if clinic is None:
        raise ProblemError(403, "forbidden", "This account is not bound to a clinic.")
    return clinic


def _today(request: Request[Any, Any, Any]) -> date:
    zone = ZoneInfo(request.app.state.settings.time_zone)
    return datetime.now(UTC).astimezone(zone).date()


class PatientRegistrationController(Controller):
    path = "/api/v1/patients"
    tags = ["identity"]

    @post(
        operation_id="registerPatient",
        status_code=201,
        summary="Register a patient, attached to the registrar's clinic (ADT A28 follows)",
        opt=DESK,
    )
    async def register(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        data: JSONBody[PatientRegistration],
    ) -> Registered:
        clinic = _clinic(request)
        today = _today(request)
        if data.birth_date > today or today.year - data.birth_date.year > OLDEST_YEARS:
            raise ProblemError(
                422, "invalid_birth_date", "The birth date is in the future or too long ago."
            )
        try:
            async with identity.pool.acquire() as conn, conn.transaction():
                patient_id = await patients.register(
                    conn,
                    policy_number=data.policy_number,
                    family_name=data.family_name.strip(),
                    given_name=data.given_name.strip(),
                    patronymic=data.patronymic.strip() if data.patronymic else None,
                    birth_date=data.birth_date,
                    sex=data.sex,
                    phone=data.phone,
                    attached_clinic_id=clinic,
                )
        except asyncpg.UniqueViolationError:
            raise ProblemError(
                409, "policy_registered", "A patient with this policy number is registered."
            ) from None
        return Registered(patient_id, clinic)

    @patch(
        "/{patient_id:int}",
        operation_id="changePatient",
        status_code=200,
        summary="Change a patient's names, phone or attachment (ADT A31 follows)",
        opt=DESK,
    )
    async def change(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        patient_id: IdPath,
        data: JSONBody[PatientChanges],
    ) -> Registered:
        changes: dict[str, object] = {
            k: v.strip() if isinstance(v, str) else v
            for k, v in msgspec.structs.asdict(data).items()
            if v is not None and k != "attach_here"
        }
        if data.attach_here:
            changes["attached_clinic_id"] = _clinic(request)
        if not changes:
            raise ProblemError(422, "nothing_to_change", "Name at least one thing to change.")
        async with identity.pool.acquire() as conn, conn.transaction():
            if not await patients.update(conn, patient_id, **changes):
                raise ProblemError(404, "not_found", "There is no such patient.")
            attached = await patients.attached_clinic(conn, patient_id)
        return Registered(patient_id, attached)
