"""Identity and access control: who is calling, and what they may do.

Patients sign in with a policy number, a birth date and a code sent by SMS; staff with
a username and an Argon2-hashed password. Tokens are short-lived signed JWTs, checked
in one place (:meth:`~.sessions.Sessions.authenticate`) and revocable within a minute.
Every route declares its policy (:mod:`.policies`) and one guard enforces it. Domains
learn the caller with :func:`principal_of` and ask :class:`~.accounts.Accounts` whom a
patient may act for.
"""

from imias.platform.identity.model import ROLES, STAFF_ROLES, Principal, Role
from imias.platform.identity.policies import (
    PUBLIC,
    SIGNED_IN,
    Policy,
    allow,
    authorize,
    before_request,
    principal_of,
    route_policies,
    unchecked_routes,
    undeclared_routes,
)
from imias.platform.identity.service import Identity

__all__ = [
    "PUBLIC",
    "ROLES",
    "SIGNED_IN",
    "STAFF_ROLES",
    "Identity",
    "Policy",
    "Principal",
    "Role",
    "allow",
    "authorize",
    "before_request",
    "principal_of",
    "route_policies",
    "unchecked_routes",
    "undeclared_routes",
]
