"""The audit log over HTTP: a patient's access log (who else looked at their data, or
their child's) and the administrator's search."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from imias.identity import repository as repo
from imias.identity.policies import allow, principal_of
from imias.identity.service import Identity
from imias.platform.audit import repository as audit_repo
from imias.platform.audit.writer import record
from imias.platform.bounds import instant_param
from imias.platform.db import Executor
from imias.platform.problems import ProblemError

MAX_ID = 2**63 - 1
IdQuery = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]
Limit = Annotated[int, QueryParameter(ge=1, le=200, description="How many to return")]


class AccessLogEntry(msgspec.Struct, frozen=True):
    id: int
    at: datetime
    actor_role: str
    actor_id: int
    action: str
    resource: str
    resource_id: str | None = None
    actor_name: str | None = None
    organisation_id: int | None = None
    organisation_name: str | None = None
    acting_for: int | None = None
    break_glass: bool = False
    reason: str | None = None


class AuditRecord(msgspec.Struct, frozen=True):
    id: int
    at: datetime
    actor_id: int
    actor_role: str
    actor_org: int | None
    acting_for: int | None
    action: str
    resource: str
    resource_id: str | None
    patient_id: int | None
    break_glass: bool
    reason: str | None
    request_id: str | None
    client_addr: str | None
    sealed: bool


async def read_access_log(
    pool: Executor, patient_id: int, before: int | None, limit: int
) -> list[AccessLogEntry]:
    """Who else read or changed the patient's data, newest first (before the record id
    ``before``, at most ``limit``)."""
    rows = await pool.fetch(repo.ACCESS_LOG, patient_id, before, limit)
    return [
        AccessLogEntry(
            id=r["id"],
            at=r["at"],
            actor_role=r["actor_role"],
            actor_id=r["actor_id"],
            action=r["action"],
            resource=r["resource"],
            resource_id=r["resource_id"],
            actor_name=r["actor_name"],
            organisation_id=r["actor_org"],
            organisation_name=r["org_name"],
            acting_for=r["acting_for"],
            break_glass=r["break_glass"],
            reason=r["reason"],
        )
        for r in rows
    ]


class AccessLogController(Controller):
    path = "/api/v1/me/access-log"
    tags = ["audit"]

    @get(
        operation_id="getMyAccessLog",
        summary="Who else read or changed my data (or my child's), newest first",
        opt=allow("patient", data="own, and linked children's"),
    )
    async def access_log(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        patient_id: Annotated[
            int | None, QueryParameter(ge=1, le=MAX_ID, description="a linked child")
        ] = None,
        before: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)] = None,
        limit: Limit = 50,
    ) -> list[AccessLogEntry]:
        principal = principal_of(request)
        whose = patient_id or principal.subject
        if whose != principal.subject and not await identity.accounts.may_act_for(principal, whose):
            raise ProblemError(404, "not_found", "There is no such patient.")
        return await read_access_log(identity.pool, whose, before, limit)


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get(
        "/records",
        operation_id="searchAudit",
        summary="Search the audit log by patient, actor, role, time and break-glass",
        opt=allow("administrator", data="the whole audit log (each search is itself recorded)"),
    )
    async def search(
        self,
        identity: NamedDependency[Identity],
        patient: IdQuery = None,
        actor: IdQuery = None,
        role: Annotated[str | None, QueryParameter(max_length=32)] = None,
        since: Annotated[datetime | None, QueryParameter(name="from")] = None,
        until: Annotated[datetime | None, QueryParameter(name="to")] = None,
        break_glass: Annotated[bool | None, QueryParameter()] = None,
        before: IdQuery = None,
        limit: Limit = 100,
    ) -> list[AuditRecord]:
        instant_param(since, "from")
        instant_param(until, "to")
        async with identity.pool.acquire() as conn:
            rows = await conn.fetch(
                audit_repo.SEARCH, patient, actor, role, since, until, break_glass, before, limit
            )
            await record(conn, "search", "audit_log", None, patient)  # before the answer leaves
        return [msgspec.convert(dict(r), AuditRecord) for r in rows]
