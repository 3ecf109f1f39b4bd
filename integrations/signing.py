"""The partners' shared secrets and the signature of HTTP messages both ways.

Messages over HTTP are signed as the Standard Webhooks specification says (headers
``webhook-id``, ``webhook-timestamp``, ``webhook-signature``: HMAC-SHA256 of
``id.timestamp.body``), with the ``standardwebhooks`` library, so any receiver that
speaks the specification verifies them with its own library. ``webhook-id`` is the
message's idempotency id, also sent as ``Idempotency-Key``.

No secret is stored: a partner's is derived from the deployment's secret, its id and
its secret's generation (``imias partners secret ID`` shows it to give to the partner;
``imias partners rotate-secret ID`` moves to the next generation)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from imias.identity import derive

__all__ = ["WebhookVerificationError", "partner_secret", "signed_headers", "verify"]


def partner_secret(deployment_secret: str | bytes, partner_id: str, version: int = 1) -> str:
    """The shared secret of a partner, in the specification's ``whsec_`` form."""
    key = derive(deployment_secret, f"integrations/partner/{partner_id}/{version}")
    return "whsec_" + base64.b64encode(key).decode()


def signed_headers(
    secret: str, message_id: str, body: bytes, now: datetime | None = None
) -> dict[str, str]:
    """The headers that sign ``body`` as message ``message_id``."""
    at = now or datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "idempotency-key": message_id,
    }


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> str:
    """The message id of a request signed with ``secret`` (at most five minutes old);
    :class:`WebhookVerificationError` if the signature or its headers are wrong."""
    Webhook(secret).verify(body, dict(headers), json_parse=False)
    return headers.get("webhook-id") or headers["Webhook-Id"]
