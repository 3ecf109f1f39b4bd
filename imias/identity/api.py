"""HTTP controllers of identity: sign-in, sessions, the caller's profile, acting for
another adult, staff accounts (administrator) and break-glass (doctor)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter

from imias.identity.model import (
    BreakGlassGrant,
    BreakGlassRequest,
    CodeSent,
    Me,
    PasswordChange,
    PasswordReset,
    PatientCodeRequest,
    PatientTokenRequest,
    ProxyCodeRequest,
    RoleChange,
    StaffAccount,
    StaffCreate,
    StaffCreated,
    StaffPage,
    StaffRole,
    StaffTokenRequest,
    TemporaryPassword,
    TokenOut,
)
from imias.identity.policies import SIGNED_IN, allow, principal_of
from imias.identity.service import Identity
from imias.platform.audit.writer import record, record_many
from imias.platform.policy import PUBLIC
from imias.platform.problems import ProblemError
from imias.platform.requests import client_address

IdPath = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["identity"]

    @post(
        "/patient/code",
        operation_id="sendPatientCode",
        status_code=200,
        summary="A patient's sign-in, step 1: policy number and birth date; a code goes by SMS",
        opt=PUBLIC,
    )
    async def patient_code(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        data: JSONBody[PatientCodeRequest],
    ) -> CodeSent:
        return await identity.sign_in.send_patient_code(data, client_address(request))

    @post(
        "/patient/token",
        operation_id="signInPatient",
        status_code=200,
        summary="A patient's sign-in, step 2: the code; answers a token",
        opt=PUBLIC,
    )
    async def patient_token(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        data: JSONBody[PatientTokenRequest],
    ) -> TokenOut:
        return await identity.sign_in.patient_token(data, client_address(request))

    @post(
        "/staff/token",
        operation_id="signInStaff",
        status_code=200,
        summary="Staff sign-in with username and password; answers a token",
        opt=PUBLIC,
    )
    async def staff_token(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        data: JSONBody[StaffTokenRequest],
    ) -> TokenOut:
        return await identity.sign_in.staff_token(data, client_address(request))

    @post(
        "/staff/password",
        operation_id="changeStaffPassword",
        status_code=200,
        summary="A staff member sets her own password with her current (or temporary) "
        "one; answers a token",
        opt=PUBLIC,
    )
    async def staff_password(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        data: JSONBody[PasswordChange],
    ) -> TokenOut:
        return await identity.sign_in.change_staff_password(data, client_address(request))

    @post(
        "/refresh",
        operation_id="refreshToken",
        status_code=200,
        summary="A new token for the same session (until 12 hours after signing in)",
        opt=SIGNED_IN,
    )
    async def refresh(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity]
    ) -> TokenOut:
        return await identity.sessions.refresh(principal_of(request))

    @post(
        "/sign-out",
        operation_id="signOut",
        status_code=204,
        summary="End this session (or, with everywhere=true, every session of the caller)",
        opt=SIGNED_IN,
    )
    async def sign_out(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        everywhere: Annotated[bool, QueryParameter(description="every session")] = False,
    ) -> None:
        await identity.sessions.sign_out(principal_of(request), everywhere)


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["identity"]

    @get(
        operation_id="getMe",
        summary="Who is signed in (and a patient's linked children)",
        opt=SIGNED_IN,
    )
    async def me(self, request: Request[Any, Any, Any], identity: NamedDependency[Identity]) -> Me:
        principal = principal_of(request)
        children = None
        if principal.role == "patient":
            children = await identity.accounts.children(principal.subject)
            await record(identity.pool, "read", "profile", principal.subject, principal.subject)
            await record_many(
                identity.pool,
                "read",
                "linked_patient",
                principal.subject,
                [c.patient_id for c in children],
            )
        return Me(
            role=principal.role,
            subject=principal.subject,
            expires_at=datetime.fromtimestamp(principal.exp, UTC),
            organisation=principal.org,
            doctor_id=principal.doc,
            acting_for=principal.act,
            name=await identity.accounts.name(principal),
            children=children,
        )

    @post(
        "/proxy/code",
        operation_id="sendProxyCode",
        status_code=200,
        summary="Ask to act for another adult: a code goes to that adult's phone",
        opt=allow("patient", data="the adult named, once they give their code"),
    )
    async def proxy_code(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        data: JSONBody[ProxyCodeRequest],
    ) -> CodeSent:
        return await identity.sign_in.send_proxy_code(
            principal_of(request), data, client_address(request)
        )

    @post(
        "/proxy/token",
        operation_id="actForAdult",
        status_code=200,
        summary="The adult's code: a token that also acts for them (30 minutes)",
        opt=allow("patient", data="the adult who gave the code"),
    )
    async def proxy_token(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        data: JSONBody[PatientTokenRequest],
    ) -> TokenOut:
        return await identity.sign_in.proxy_token(
            principal_of(request), data, client_address(request)
        )


#: Who manages staff accounts: the city's administrator every one, a clinic
#: administrator her clinic's accounts of a clinic's roles (another's: 404).
MANAGERS = allow(
    "administrator",
    "clinic_admin",
    data="staff accounts: administrator every one; clinic_admin her clinic's, of a "
    "clinic's roles (registrar, doctor, clinic_admin)",
)
StaffRoleQuery = Annotated[
    StaffRole | None, QueryParameter(description="only accounts of this role")
]


class StaffAccountController(Controller):
    path = "/api/v1/staff"
    tags = ["identity"]

    @get(
        operation_id="listStaff",
        summary="Staff accounts by id, filtered by clinic, role and disabled, a page at a time",
        opt=MANAGERS,
    )
    async def listing(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        clinic_id: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)] = None,
        role: StaffRoleQuery = None,
        disabled: Annotated[bool | None, QueryParameter()] = None,
        after: Annotated[int, QueryParameter(ge=0, le=2**63 - 1)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> StaffPage:
        return await identity.accounts.list_staff(
            principal_of(request),
            clinic_id=clinic_id,
            role=role,
            disabled=disabled,
            after=after,
            limit=limit,
        )

    @post(
        operation_id="createStaff",
        status_code=201,
        summary="A new staff account with a temporary password, answered once; its owner "
        "sets her own at her first sign-in",
        opt=MANAGERS,
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        data: JSONBody[StaffCreate],
    ) -> StaffCreated:
        return await identity.accounts.add_staff(principal_of(request), data)

    @get("/{staff_id:int}", operation_id="getStaff", summary="A staff account", opt=MANAGERS)
    async def one(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity], staff_id: IdPath
    ) -> StaffAccount:
        return await identity.accounts.staff(staff_id, principal_of(request))

    @post(
        "/{staff_id:int}/disable",
        operation_id="disableStaff",
        status_code=200,
        summary="Disable a staff account; its tokens stop working within a minute",
        opt=MANAGERS,
    )
    async def disable(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        staff_id: IdPath,
    ) -> StaffAccount:
        principal = principal_of(request)
        if staff_id == principal.subject:
            raise ProblemError(
                409, "cannot_disable_self", "An administrator does not disable her own account."
            )
        return await identity.accounts.set_disabled(staff_id, True, principal)

    @post(
        "/{staff_id:int}/enable",
        operation_id="enableStaff",
        status_code=200,
        summary="Enable a disabled staff account",
        opt=MANAGERS,
    )
    async def enable(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity], staff_id: IdPath
    ) -> StaffAccount:
        return await identity.accounts.set_disabled(staff_id, False, principal_of(request))

    @post(
        "/{staff_id:int}/password",
        operation_id="resetStaffPassword",
        status_code=204,
        summary="Set a new password; the account's tokens stop working within a minute",
        opt=allow("administrator", data="staff accounts"),
    )
    async def reset_password(
        self,
        identity: NamedDependency[Identity],
        staff_id: IdPath,
        data: JSONBody[PasswordReset],
    ) -> None:
        await identity.accounts.reset_password(staff_id, data.password)

    @post(
        "/{staff_id:int}/temporary-password",
        operation_id="resetStaffTemporaryPassword",
        status_code=200,
        summary="A temporary password, answered once, that its owner replaces at her next "
        "sign-in; the account's tokens stop working within a minute",
        opt=MANAGERS,
    )
    async def temporary_password(
        self, request: Request[Any, Any, Any], identity: NamedDependency[Identity], staff_id: IdPath
    ) -> TemporaryPassword:
        password = await identity.accounts.reset_password(
            staff_id, None, manager=principal_of(request)
        )
        return TemporaryPassword(password)

    @post(
        "/{staff_id:int}/role",
        operation_id="changeStaffRole",
        status_code=200,
        summary="Another clinic role (registrar, doctor, clinic_admin) for a clinic's "
        "account; its tokens stop working within a minute",
        opt=MANAGERS,
    )
    async def change_role(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        staff_id: IdPath,
        data: JSONBody[RoleChange],
    ) -> StaffAccount:
        return await identity.accounts.change_role(principal_of(request), staff_id, data)


class BreakGlassController(Controller):
    path = "/api/v1/break-glass"
    tags = ["identity"]

    @post(
        operation_id="breakGlass",
        summary="A doctor opens a patient not booked with her clinic, for an hour, "
        "with a stated reason (audited and flagged)",
        opt=allow("doctor", data="the patient named"),
    )
    async def break_glass(
        self,
        request: Request[Any, Any, Any],
        identity: NamedDependency[Identity],
        data: JSONBody[BreakGlassRequest],
    ) -> BreakGlassGrant:
        return await identity.accounts.break_glass(
            principal_of(request), data.patient_id, data.reason.strip()
        )
