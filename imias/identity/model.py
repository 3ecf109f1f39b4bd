"""Values of identity: roles, the signed-in principal, and what the sign-in API takes
and answers. Plain msgspec Structs; no I/O.

A token's claims are the principal (:class:`Principal`): who (``sub``, ``role``), for
which organisation (``org``: the clinic of a registrar or a doctor), which doctors row
a doctor is (``doc``), which other adult patient a patient may act for after that adult
gave a one-time code (``act``), the session (``sid``, kept across refreshes and revoked
by sign-out), the token's own id (``jti``), when it was issued and when it expires
(``iat``, ``exp``, seconds since the epoch; ``iat`` keeps its fraction) and when the
session signed in (``auth``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Role = Literal[
    "patient",
    "registrar",
    "doctor",
    "pharmacist",
    "police_officer",
    "ambulance_crew",
    "school_nurse",
    "clinic_admin",
    "administrator",
]
ROLES: tuple[Role, ...] = (
    "patient",
    "registrar",
    "doctor",
    "pharmacist",
    "police_officer",
    "ambulance_crew",
    "school_nurse",
    "clinic_admin",
    "administrator",
)
STAFF_ROLES: tuple[Role, ...] = ROLES[1:]
#: Staff whose organisation is a clinic (``org`` is a clinics.id). A clinic
#: administrator (the clinic's head or her deputy) runs her own clinic only.
CLINIC_ROLES: frozenset[str] = frozenset({"registrar", "doctor", "clinic_admin"})

#: Channels a patient signs in from; kiosk and phone type the same digits on a keypad.
SignInChannel = Literal["web", "app", "kiosk", "phone"]

ACCESS_SECONDS = 15 * 60  # a token's life; a refresh gives a new one
SESSION_SECONDS = 12 * 3600  # refreshes stop this long after signing in
PROXY_SECONDS = 30 * 60  # acting for another adult, after their code
CLOCK_SKEW = 60  # seconds a token's iat may lie in the future
# The longest life of any token (`imias token --ttl` included): revocations are kept
# this long, so none of them stops applying before the tokens it concerns expire.
MAX_TOKEN_SECONDS = 86_400

PolicyNumber = Annotated[str, Meta(pattern=r"^\d{16}$", description="16-digit OMS policy number")]
Code = Annotated[str, Meta(pattern=r"^\d{6}$", description="the 6-digit code sent by SMS")]
Username = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")]
Password = Annotated[str, Meta(min_length=1, max_length=256)]
NewPassword = Annotated[str, Meta(min_length=10, max_length=256)]
ChallengeId = Annotated[str, Meta(min_length=36, max_length=36)]
Reason = Annotated[str, Meta(min_length=10, max_length=500)]
Id = Annotated[int, Meta(ge=1, le=2**63 - 1)]


class Principal(msgspec.Struct, frozen=True, omit_defaults=True):
    """Who is calling: the claims of a verified token (names as in JWT)."""

    sub: str
    role: Role
    sid: str
    jti: str
    iat: float  # with its fraction: a revocation at 12.3 s refuses a token of 12.2 s only
    exp: int
    auth: int = 0
    org: int | None = None
    doc: int | None = None
    act: int | None = None

    @property
    def subject(self) -> int:
        """The patient's id (patients) or the staff account's id (staff)."""
        return int(self.sub)

    @property
    def kind(self) -> Literal["patient", "staff"]:
        return "patient" if self.role == "patient" else "staff"

    @property
    def is_staff(self) -> bool:
        return self.role != "patient"


# -- the sign-in API ----------------------------------------------------------------------


class PatientCodeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    policy_number: PolicyNumber
    birth_date: date
    channel: SignInChannel = "web"


class CodeSent(msgspec.Struct, frozen=True, omit_defaults=True):
    """A code is on its way (if the policy number and birth date matched a patient with a
    phone: the answer is the same either way, so it tells no one who is registered).
    ``demo_code`` is there only when the server runs with IMIAS_DEMO=1."""

    challenge: str
    expires_at: datetime
    demo_code: str | None = None


class PatientTokenRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    challenge: ChallengeId
    code: Code


class StaffTokenRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    username: Username
    password: Password


class ProxyCodeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The adult this patient asks to act for; the code goes to that adult's phone."""

    policy_number: PolicyNumber
    birth_date: date


class TokenOut(msgspec.Struct, frozen=True, omit_defaults=True):
    access_token: str
    token_type: Literal["Bearer"]
    expires_at: datetime
    expires_in: int
    role: Role
    subject: int
    organisation: int | None = None
    doctor_id: int | None = None
    acting_for: int | None = None


class LinkedPatient(msgspec.Struct, frozen=True):
    patient_id: int
    given_name: str
    birth_date: date
    relation: str


class Me(msgspec.Struct, frozen=True, omit_defaults=True):
    role: Role
    subject: int
    expires_at: datetime
    organisation: int | None = None
    doctor_id: int | None = None
    acting_for: int | None = None
    name: str | None = None
    children: list[LinkedPatient] | None = None


class PasswordReset(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    password: NewPassword


class StaffAccount(msgspec.Struct, frozen=True):
    id: int
    username: str
    role: Role
    full_name: str
    disabled: bool
    clinic_id: int | None = None
    doctor_id: int | None = None
    organisation_id: int | None = None
    must_change_password: bool = False
    created_at: datetime | None = None


#: The roles a staff account may have (a patient has none).
StaffRole = Literal[
    "registrar",
    "doctor",
    "pharmacist",
    "police_officer",
    "ambulance_crew",
    "school_nurse",
    "clinic_admin",
    "administrator",
]
FullName = Annotated[str, Meta(min_length=1, max_length=200)]


class StaffCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A new staff account: its password is a temporary one, answered once.
    ``clinic_id`` for a clinic's roles (a clinic administrator's own, if omitted),
    ``doctor_id`` (of that clinic) for a doctor, ``organisation_id`` for the others."""

    username: Username
    role: StaffRole
    full_name: FullName | None = None
    clinic_id: Id | None = None
    doctor_id: Id | None = None
    organisation_id: Id | None = None


class StaffCreated(msgspec.Struct, frozen=True):
    account: StaffAccount
    temporary_password: str  # shown once; its owner sets her own at the next sign-in


class TemporaryPassword(msgspec.Struct, frozen=True):
    temporary_password: str


class RoleChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Another clinic role for an account of a clinic (a doctor's names her doctors row)."""

    role: StaffRole
    doctor_id: Id | None = None


class StaffPage(msgspec.Struct, frozen=True, omit_defaults=True):
    """A page of accounts by id; ``next_after`` asks for the next page."""

    items: list[StaffAccount]
    next_after: int | None = None


class PasswordChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A staff member sets her own password (after a temporary one: the only way in)."""

    username: Username
    password: Password
    new_password: Password


class BreakGlassRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    patient_id: Id
    reason: Reason

    def __post_init__(self) -> None:
        if len(self.reason.strip()) < 10:
            raise ValueError("reason: say why, in at least 10 characters besides spaces")


class BreakGlassGrant(msgspec.Struct, frozen=True):
    patient_id: int
    reason: str
    expires_at: datetime
