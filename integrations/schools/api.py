"""The schools' JSON API: a guardian's consents for a linked child (list, give, withdraw)
and the school nurse's list of her school's children with a PE restriction."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from imias.identity import allow, principal_of
from integrations.schools.model import ConsentIn, RestrictedPupil, SchoolConsent
from integrations.schools.service import SchoolConsents, SchoolNurse

MAX_ID = 2**63 - 1
IdPath = Annotated[int, PathParameter(ge=1, le=MAX_ID)]

GUARDIAN = allow(
    "patient",
    data="patient: the school consents of a linked child under 18 (the guardian's)",
)
NURSE = allow(
    "school_nurse",
    data="school_nurse: her school's children (a consent in force for it) with a "
    "physical-education restriction: name, birth date, PE group, certificate, until when",
)


class SchoolConsentController(Controller):
    path = "/api/v1/patients/{patient_id:int}/school-consents"
    tags = ["schools"]

    @get(operation_id="listSchoolConsents", summary="A child's school consents", opt=GUARDIAN)
    async def list_consents(
        self,
        request: Request[Any, Any, Any],
        school_consents: NamedDependency[SchoolConsents],
        patient_id: IdPath,
    ) -> list[SchoolConsent]:
        return await school_consents.of_child(principal_of(request), patient_id)

    @post(
        operation_id="giveSchoolConsent",
        summary="Consent that a school is sent the child's absences and/or certificates",
        opt=GUARDIAN,
    )
    async def give_consent(
        self,
        request: Request[Any, Any, Any],
        school_consents: NamedDependency[SchoolConsents],
        patient_id: IdPath,
        data: JSONBody[ConsentIn],
    ) -> SchoolConsent:
        return await school_consents.give(principal_of(request), patient_id, data)

    @post(
        "/{consent_id:int}/withdraw",
        operation_id="withdrawSchoolConsent",
        summary="Withdraw a school consent: nothing more is sent",
        opt=GUARDIAN,
        status_code=200,
    )
    async def withdraw_consent(
        self,
        request: Request[Any, Any, Any],
        school_consents: NamedDependency[SchoolConsents],
        patient_id: IdPath,
        consent_id: IdPath,
    ) -> SchoolConsent:
        return await school_consents.withdraw(principal_of(request), patient_id, consent_id)


class SchoolNurseController(Controller):
    path = "/api/v1/school"
    tags = ["schools"]

    @get(
        "/pe-restrictions",
        operation_id="schoolPeRestrictions",
        summary="The nurse's school's children with a physical-education restriction",
        opt=NURSE,
    )
    async def restrictions(
        self, request: Request[Any, Any, Any], school_nurse: NamedDependency[SchoolNurse]
    ) -> list[RestrictedPupil]:
        return await school_nurse.restricted(principal_of(request))
