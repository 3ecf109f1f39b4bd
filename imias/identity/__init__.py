"""Identity and access control: who is calling, and what they may do.

Patients sign in with a policy number, a birth date and a code sent by SMS; staff with
a username and an Argon2-hashed password. Tokens are short-lived signed JWTs, checked
in one place (:meth:`~.sessions.Sessions.authenticate`) and revocable within a minute.
Every route declares its policy (:mod:`.policies`) and one guard enforces it. Domains
learn the caller with :func:`principal_of` and ask :class:`~.accounts.Accounts` whom a
patient may act for.
"""

from imias.identity import tokens
from imias.identity.access_log import read_access_log
from imias.identity.accounts import system_account
from imias.identity.keys import Keys, derive, resolve_secret, server_secret
from imias.identity.model import (
    CLINIC_ROLES,
    ROLES,
    STAFF_ROLES,
    PasswordChange,
    PatientCodeRequest,
    PatientTokenRequest,
    Principal,
    Role,
    RoleChange,
    StaffAccount,
    StaffCreate,
    StaffCreated,
    StaffPage,
    StaffTokenRequest,
)
from imias.identity.passwords import Passwords
from imias.identity.plugin import IdentityPlugin
from imias.identity.policies import (
    BEARER,
    SIGNED_IN,
    SignInRequired,
    allow,
    authorize,
    before_request,
    principal_of,
    route_policies,
    unchecked_routes,
    undeclared_routes,
)
from imias.identity.service import Identity
from imias.identity.sms import SmsSender
from imias.platform.policy import PUBLIC, Policy

__all__ = [
    "CLINIC_ROLES",
    "Keys",
    "derive",
    "Passwords",
    "PatientCodeRequest",
    "PatientTokenRequest",
    "StaffTokenRequest",
    "PasswordChange",
    "RoleChange",
    "StaffAccount",
    "StaffCreate",
    "StaffCreated",
    "StaffPage",
    "server_secret",
    "tokens",
    "BEARER",
    "IdentityPlugin",
    "SmsSender",
    "resolve_secret",
    "PUBLIC",
    "ROLES",
    "SIGNED_IN",
    "STAFF_ROLES",
    "SignInRequired",
    "Identity",
    "Policy",
    "Principal",
    "Role",
    "allow",
    "authorize",
    "before_request",
    "principal_of",
    "read_access_log",
    "system_account",
    "route_policies",
    "unchecked_routes",
    "undeclared_routes",
]
