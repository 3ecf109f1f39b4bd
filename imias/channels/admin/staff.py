"""Staff accounts on a page (``/admin/staff``): the list (by clinic, role, disabled; a
page at a time), a new account, and per account disable or enable, a temporary password
and another clinic role. The city's administrator manages every account; a clinic
administrator her clinic's accounts of a clinic's roles (another clinic's: 404). Every
change goes through :class:`imias.identity.Accounts` (the API's rules, audited there);
a temporary password is shown once, on the page that answers the post, and never again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from imias.channels.admin.pages import MANAGERS, PATH
from imias.channels.web.errors import PAGE_ERRORS, sentence
from imias.channels.web.i18n import N_
from imias.channels.web.pages import form_of, page, redirect, say
from imias.identity import (
    STAFF_ROLES,
    Identity,
    Principal,
    RoleChange,
    StaffCreate,
    principal_of,
)
from imias.platform.problems import ProblemError

STAFF_PATH = f"{PATH}/staff"
SHOWN = 50
CLINIC_ROLE_ORDER = ("registrar", "doctor", "clinic_admin")

#: What each role is called on the page.
ROLE_NAMES = {
    "registrar": N_("регистратор"),
    "doctor": N_("врач"),
    "clinic_admin": N_("администратор поликлиники"),
    "pharmacist": N_("фармацевт"),
    "police_officer": N_("сотрудник ГИБДД"),
    "ambulance_crew": N_("бригада скорой помощи"),
    "school_nurse": N_("школьная медсестра"),
    "administrator": N_("администратор города"),
}
#: The accounts' refusals as the page says them (by the service's code).
REFUSALS = {
    "username_taken": N_("Это имя пользователя уже занято: выберите другое."),
    "unknown_doctor": N_(
        "Учётной записи врача нужен врач этой поликлиники (его номер); другим ролям — нет."
    ),
    "unknown_clinic": N_("Такой поликлиники нет."),
    "clinic_required": N_("Этой роли нужна поликлиника: укажите её номер."),
    "clinic_not_allowed": N_("У этой роли нет поликлиники: не указывайте её."),
    "forbidden_role": N_("Администратор поликлиники назначает только роли поликлиники."),
    "role_change_not_possible": N_(
        "Менять можно только роли поликлиники (регистратор, врач, администратор); для "
        "другой роли заведите новую учётную запись."
    ),
    "cannot_change_self": N_("Свою роль изменить нельзя."),
    "cannot_disable_self": N_("Свою учётную запись отключить нельзя."),
    "last_administrator": N_("Это последний действующий администратор города."),
    "not_found": N_("Такой учётной записи нет."),
    "forbidden": N_("Администратор поликлиники работает только со своей поликлиникой."),
}
NOTICES = {
    "disabled": N_("Учётная запись отключена; её сеансы завершены."),
    "enabled": N_("Учётная запись включена."),
    "role": N_("Роль изменена; сеансы учётной записи завершены."),
}


def _identity(request: Request[Any, Any, Any]) -> Identity:
    identity: Identity = request.app.state.identity
    return identity


def _refusal(request: Request[Any, Any, Any], exc: ProblemError) -> str:
    known = REFUSALS.get(exc.code)
    return say(request, known) if known else sentence(exc, request)


def _roles_for(principal: Principal) -> tuple[str, ...]:
    if principal.role == "administrator":
        return (*CLINIC_ROLE_ORDER, *(r for r in STAFF_ROLES if r not in CLINIC_ROLE_ORDER))
    return CLINIC_ROLE_ORDER


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        return -1  # refused by the request's bounds, as any other wrong number
    return number


class StaffPagesController(Controller):
    path = STAFF_PATH
    tags = ["admin"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    async def _list(
        self,
        request: Request[Any, Any, Any],
        *,
        clinic: int | None = None,
        role: str | None = None,
        disabled: str | None = None,
        after: int = 0,
        error: str | None = None,
        notice: str | None = None,
        shown_password: tuple[str, str] | None = None,
        typed: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        principal = principal_of(request)
        roles = _roles_for(principal)
        if principal.role != "administrator":
            clinic = principal.org
        flag = {"yes": True, "no": False}.get(disabled or "")
        found = await _identity(request).accounts.list_staff(
            principal,
            clinic_id=clinic,
            role=role if role in roles else None,
            disabled=flag,
            after=after,
            limit=SHOWN,
        )
        directory = request.app.state.engine.directory
        doctors = []
        if clinic is not None:
            doctors = sorted(directory.doctors_of_clinic.get(clinic, []), key=lambda d: d.full_name)
        filters = {"clinic": clinic or "", "role": role or "", "disabled": disabled or ""}
        following = None
        if found.next_after is not None:
            following = f"{STAFF_PATH}?" + urlencode({**filters, "after": found.next_after})
        return page(
            request,
            "admin/staff.html",
            status_code=status_code,
            accounts=found.items,
            following=following,
            filters=filters,
            roles=roles,
            clinic_roles=CLINIC_ROLE_ORDER,
            role_names=ROLE_NAMES,
            city=principal.role == "administrator",
            me=principal.subject,
            clinic=clinic,
            clinics=directory.clinics,
            doctors=doctors,
            shown_password=shown_password,
            typed=typed or {},
            error=error,
            notice=notice,
        )

    @get(opt=MANAGERS, operation_id="adminStaffPage")
    async def listing(
        self,
        request: Request[Any, Any, Any],
        clinic: FromQuery[str | None] = None,
        role: FromQuery[str | None] = None,
        disabled: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        done: FromQuery[str | None] = None,
    ) -> Template:
        notice = NOTICES.get(done or "")
        clinic_id = _int(clinic)
        return await self._list(
            request,
            clinic=clinic_id if clinic_id and clinic_id > 0 else None,
            role=role,
            disabled=disabled,
            after=max(0, _int(after) or 0),
            notice=say(request, notice) if notice else None,
        )

    @post(opt=MANAGERS, operation_id="adminStaffCreate", status_code=200)
    async def create(self, request: Request[Any, Any, Any]) -> Template:
        form = await form_of(request)
        principal = principal_of(request)
        typed = {k: form.get(k, "").strip() for k in ("username", "full_name", "role", "clinic_id")}
        doctor = form.get("doctor_id", "").strip() if typed["role"] == "doctor" else ""
        typed["doctor_id"] = doctor
        clinic = _int(typed["clinic_id"]) if principal.role == "administrator" else principal.org
        try:
            data = msgspec.convert(
                {
                    "username": typed["username"].lower(),
                    "role": typed["role"],
                    "full_name": typed["full_name"] or None,
                    "clinic_id": clinic,
                    "doctor_id": _int(doctor),
                },
                StaffCreate,
            )
        except msgspec.ValidationError:
            error = say(
                request,
                "Проверьте поля: имя пользователя — от 3 до 64 латинских строчных букв, цифр, "
                "точек, дефисов; роль из списка; номера — целые числа.",
            )
            return await self._list(
                request, clinic=clinic, error=error, typed=typed, status_code=400
            )
        try:
            made = await _identity(request).accounts.add_staff(principal, data)
        except ProblemError as exc:
            if exc.status in (401,):
                raise
            return await self._list(
                request,
                clinic=clinic if clinic and clinic > 0 else None,
                error=_refusal(request, exc),
                typed=typed,
                status_code=exc.status,
            )
        notice = say(request, "Учётная запись {username} создана.").format(
            username=made.account.username
        )
        return await self._list(
            request,
            clinic=made.account.clinic_id,
            notice=notice,
            shown_password=(made.account.username, made.temporary_password),
        )

    async def _change(
        self, request: Request[Any, Any, Any], staff_id: int, done: str, action: Any
    ) -> Response[Any] | Template:
        await form_of(request)
        try:
            account = await action()
        except ProblemError as exc:
            if exc.status in (401, 404):
                exc.extra["message_ru"] = REFUSALS["not_found"]
                raise
            return await self._list(request, error=_refusal(request, exc), status_code=exc.status)
        query = {"done": done}
        if principal_of(request).role == "administrator" and account.clinic_id is not None:
            query["clinic"] = account.clinic_id
        return redirect(f"{STAFF_PATH}?" + urlencode(query) + f"#account-{staff_id}")

    @post("/{staff_id:int}/disable", opt=MANAGERS, operation_id="adminStaffDisable",
          status_code=200)  # fmt: skip
    async def disable(self, request: Request[Any, Any, Any], staff_id: FromPath[int]) -> Any:
        principal = principal_of(request)

        async def action() -> Any:
            if staff_id == principal.subject:
                raise ProblemError(409, "cannot_disable_self", "One does not disable oneself.")
            return await _identity(request).accounts.set_disabled(staff_id, True, principal)

        return await self._change(request, staff_id, "disabled", action)

    @post("/{staff_id:int}/enable", opt=MANAGERS, operation_id="adminStaffEnable",
          status_code=200)  # fmt: skip
    async def enable(self, request: Request[Any, Any, Any], staff_id: FromPath[int]) -> Any:
        principal = principal_of(request)

        async def action() -> Any:
            return await _identity(request).accounts.set_disabled(staff_id, False, principal)

        return await self._change(request, staff_id, "enabled", action)

    @post("/{staff_id:int}/role", opt=MANAGERS, operation_id="adminStaffRole", status_code=200)
    async def role(self, request: Request[Any, Any, Any], staff_id: FromPath[int]) -> Any:
        principal = principal_of(request)
        form = await form_of(request)
        chosen = form.get("role", "")
        doctor = _int(form.get("doctor_id")) if chosen == "doctor" else None

        async def action() -> Any:
            try:
                data = msgspec.convert({"role": chosen, "doctor_id": doctor}, RoleChange)
            except msgspec.ValidationError:
                raise ProblemError(422, "unknown_doctor", "Choose a role and a doctor.") from None
            return await _identity(request).accounts.change_role(principal, staff_id, data)

        return await self._change(request, staff_id, "role", action)

    @post("/{staff_id:int}/reset", opt=MANAGERS, operation_id="adminStaffReset", status_code=200)
    async def reset(self, request: Request[Any, Any, Any], staff_id: FromPath[int]) -> Template:
        await form_of(request)
        principal = principal_of(request)
        accounts = _identity(request).accounts
        try:
            account = await accounts.staff(staff_id, principal)
            password = await accounts.reset_password(staff_id, None, manager=principal)
        except ProblemError as exc:
            exc.extra["message_ru"] = REFUSALS.get(exc.code, REFUSALS["not_found"])
            raise
        notice = say(request, "Временный пароль для {username} задан; её сеансы завершены.").format(
            username=account.username
        )
        return await self._list(
            request,
            clinic=account.clinic_id if principal.role == "administrator" else None,
            notice=notice,
            shown_password=(account.username, password),
        )
