"""The IVR webhook: ``POST /phone``, form-encoded as telephony gateways send it
(``CallSid``, ``From``, ``Digits``), answered in TwiML.

The gateway is not a signed-in principal, so the route is public in the bearer sense;
it reaches only the data of the patient identified in the call (policy number, birth
date and the SMS code, see :mod:`.flow`). With ``IMIAS_PHONE_WEBHOOK_SECRET`` set, a
request must carry the gateway's signature (``X-Twilio-Signature``: base64 HMAC-SHA1
of the URL and the sorted form fields, keyed by that secret), so only the gateway can
drive a call; without it (development, ``imias phone``) any client may, and a call's
later steps must still come from the number that started it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from litestar import Controller, Request, Response, post

from imias.channels.phone.calls import CALL_ID, Calls
from imias.channels.phone.flow import PhoneFlow
from imias.platform.policy import POLICY, Policy
from imias.platform.problems import ProblemError
from imias.platform.requests import client_address

SIGNATURE_HEADER = "X-Twilio-Signature"
PHONE_POLICY = {
    POLICY: Policy(
        public=True,
        data="the patient identified in the call (policy number, birth date, SMS code)",
    )
}


def signature(secret: str, url: str, form: dict[str, str]) -> str:
    """The gateway's signature of a webhook request (Twilio's scheme)."""
    payload = url + "".join(k + form[k] for k in sorted(form))
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def flow_of(request: Request[Any, Any, Any]) -> PhoneFlow:
    state = request.app.state
    flow = state.get("phone_flow")
    if flow is None:
        settings = state.settings
        flow = PhoneFlow(
            identity=state.identity,
            booking=state.booking,
            engine=state.engine,
            calls=Calls(state.redis),
            call_centre=settings.call_centre_number,
            demo=settings.demo,
        )
        state.phone_flow = flow
    return flow


class PhoneController(Controller):
    path = "/phone"
    tags = ["phone"]
    include_in_schema = False

    @post(operation_id="phoneWebhook", summary="IVR webhook (TwiML)", opt=PHONE_POLICY)
    async def webhook(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        form = {k: str(v) for k, v in (await request.form()).items()}
        secret = request.app.state.settings.phone_webhook_secret
        if secret is not None:
            given = request.headers.get(SIGNATURE_HEADER, "")
            expected = signature(secret, str(request.url), form)
            if not hmac.compare_digest(given, expected):
                raise ProblemError(403, "bad_signature", "The gateway's signature is wrong.")
        call_id = form.get("CallSid", "")
        if not CALL_ID.match(call_id):
            raise ProblemError(400, "call_id_required", "A webhook names its call (CallSid).")
        digits = form.get("Digits", "").strip() or None
        if digits is not None and (len(digits) > 32 or not set(digits) <= set("0123456789*#")):
            digits = "x"  # not keypad input: refused as invalid
        caller = form.get("From", "")[:32]
        body = await flow_of(request).answer(call_id, caller, digits, client_address(request))
        return Response(body, media_type="text/xml; charset=utf-8")
