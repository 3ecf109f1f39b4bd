"""Illness episodes over the JSON API: the doctor opens one in her visit and closes it;
the patient (a guardian) and the doctors who may read the record list them."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from ehr.illness.model import EpisodeClose, EpisodeOpen, IllnessEpisode
from ehr.illness.service import IllnessEpisodes
from imias.identity import allow, principal_of

MAX_ID = 2**63 - 1
IdPath = Annotated[int, PathParameter(ge=1, le=MAX_ID)]

WRITERS = allow(
    "doctor",
    data="doctor: opens a child's illness episode in her own visit; closes one of a patient "
    "whose record she may read",
)
READERS = allow(
    "patient",
    "doctor",
    data="patient: their own and a linked child's under 18; doctor: patients whose record "
    "she may read",
)


class IllnessController(Controller):
    path = "/api/v1"
    tags = ["records"]

    @post(
        "/encounters/{encounter_id:int}/illness-episodes",
        operation_id="openIllnessEpisode",
        summary="Open a child's illness episode (the school's absence note) in her visit",
        opt=WRITERS,
    )
    async def open_episode(
        self,
        request: Request[Any, Any, Any],
        illness: NamedDependency[IllnessEpisodes],
        encounter_id: IdPath,
        data: JSONBody[EpisodeOpen],
    ) -> IllnessEpisode:
        return await illness.open(principal_of(request), encounter_id, data)

    @post(
        "/patients/{patient_id:int}/illness-episodes/{episode_id:int}/close",
        operation_id="closeIllnessEpisode",
        summary="Close an illness episode on its last day",
        opt=WRITERS,
        status_code=200,
    )
    async def close_episode(
        self,
        request: Request[Any, Any, Any],
        illness: NamedDependency[IllnessEpisodes],
        patient_id: IdPath,
        episode_id: IdPath,
        data: JSONBody[EpisodeClose],
    ) -> IllnessEpisode:
        return await illness.close(principal_of(request), patient_id, episode_id, data)

    @get(
        "/patients/{patient_id:int}/illness-episodes",
        operation_id="patientIllnessEpisodes",
        summary="A patient's illness episodes, newest first (days only, never a diagnosis)",
        opt=READERS,
    )
    async def of_patient(
        self,
        request: Request[Any, Any, Any],
        illness: NamedDependency[IllnessEpisodes],
        patient_id: IdPath,
    ) -> list[IllnessEpisode]:
        return await illness.of_patient(principal_of(request), patient_id)
