"""The school nurse's page. The session is her token in the ``imias_school`` cookie (path
``/school``); her account names her school. She sees the children of her school (a
guardian's consent in force for it) whose physical-education group restricts them: the
name, birth date, group, certificate and until when, read through
:class:`integrations.SchoolNurse` (audited there, in each child's access log)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from ehr import certificates
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.pages import lang_of, page, say
from imias.channels.web.staff import sign_in_policy, staff_sign_in, staff_sign_out
from imias.identity import allow, principal_of
from imias.registry import school
from integrations import SchoolNurse

COOKIE = "imias_school"
PATH = "/school"
NURSE = allow(
    "school_nurse",
    data="school_nurse: her school's children with a physical-education restriction (name, "
    "birth date, PE group, certificate, until when); nothing else",
    cookie=COOKIE,
    sign_in=PATH,
)
SIGN_IN = sign_in_policy("school nurse's page")


class SchoolNurseController(Controller):
    path = PATH
    tags = ["school"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get(opt=SIGN_IN, operation_id="schoolSignInPage")
    async def start(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "school/sign_in.html")

    @post("/sign-in", opt=SIGN_IN, operation_id="schoolSignIn", status_code=200)
    async def sign_in(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await staff_sign_in(
            request,
            role="school_nurse",
            cookie=COOKIE,
            path=PATH,
            template="school/sign_in.html",
            home=f"{PATH}/pupils",
            wrong_role=say(request, "Эта страница для медицинских сестёр школ."),
        )

    @post("/sign-out", opt=SIGN_IN, operation_id="schoolSignOut", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await staff_sign_out(request, cookie=COOKIE, path=PATH)

    @get("/pupils", opt=NURSE, operation_id="schoolPupils")
    async def pupils(self, request: Request[Any, Any, Any]) -> Template:
        nurse: SchoolNurse = request.app.state.school_nurse
        principal = principal_of(request)
        pupils = await nurse.restricted(principal)
        place = await school(request.app.state.db, await nurse.school_of(principal))
        lang = lang_of(request)
        titles = certificates.rules.PE_GROUPS
        return page(
            request,
            "school/pupils.html",
            place=place,
            pupils=pupils,
            group_title=lambda g: titles[g][0 if lang == "ru" else 1],
        )
