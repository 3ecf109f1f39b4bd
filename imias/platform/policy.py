"""What a route declares about who may call it; :mod:`imias.identity` enforces it.

Every route handler carries a :class:`Policy` in its ``opt`` under :data:`POLICY`. The
platform only names the declaration, so that its own routes (``/health``) can say they
are public without knowing about sign-in; the identity domain builds the others
(``imias.identity.allow``) and runs the one check before every request.
"""

from __future__ import annotations

from typing import Any

import msgspec

POLICY = "policy"


class Policy(msgspec.Struct, frozen=True):
    """Who may call a route: ``roles`` (empty and ``public``: anyone, signed in or not)
    and ``data``: whose data each role reaches (for people; the domain enforces it)."""

    roles: tuple[str, ...] = ()
    public: bool = False
    data: str = ""
    # A page's session: the cookie that may carry the token when no Authorization header
    # does (never on the API, so no other site can post to it with the user's cookie),
    # and where to send a browser without a valid one.
    cookie: str | None = None
    sign_in: str | None = None

    def describe(self) -> str:
        if self.public:
            return "public"
        return ", ".join(self.roles)


PUBLIC: dict[str, Any] = {POLICY: Policy(public=True, data="no personal data")}
