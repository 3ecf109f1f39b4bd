"""The integrations' SQL: partners, the delivery queue, routing failures and the inbound
messages answered. The only place that runs SQL for this domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from imias.platform.db import Executor
from integrations.model import Delivery, Partner, PartnerState

NOTIFY_CHANNEL = "imias_deliveries"

PARTNER_COLUMNS = """id, kind, name, transport, url, topics, secret_version, tls_cert, tls_key,
       tls_ca, max_attempts, backoff_ms, backoff_cap_ms, timeout_ms, concurrency, enabled,
       failing_since, last_error, last_success_at, secret_env"""
PARTNERS = f"SELECT {PARTNER_COLUMNS} FROM partners ORDER BY id"
PARTNER = f"SELECT {PARTNER_COLUMNS} FROM partners WHERE id = $1"
PARTNERS_FOR = f"""
SELECT {PARTNER_COLUMNS} FROM partners
 WHERE enabled AND url IS NOT NULL AND $1 = ANY (topics) ORDER BY id
"""
UPSERT_PARTNER = """
INSERT INTO partners (id, kind, name, transport, url, topics, tls_cert, tls_key, tls_ca,
                      max_attempts, backoff_ms, backoff_cap_ms, timeout_ms, concurrency, enabled,
                      secret_env)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (id) DO UPDATE SET
    kind = EXCLUDED.kind, name = EXCLUDED.name, transport = EXCLUDED.transport,
    url = EXCLUDED.url, topics = EXCLUDED.topics, tls_cert = EXCLUDED.tls_cert,
    tls_key = EXCLUDED.tls_key, tls_ca = EXCLUDED.tls_ca, max_attempts = EXCLUDED.max_attempts,
    backoff_ms = EXCLUDED.backoff_ms, backoff_cap_ms = EXCLUDED.backoff_cap_ms,
    timeout_ms = EXCLUDED.timeout_ms, concurrency = EXCLUDED.concurrency,
    enabled = EXCLUDED.enabled, secret_env = EXCLUDED.secret_env
"""
SET_ENABLED = "UPDATE partners SET enabled = $2 WHERE id = $1"
ROTATE_SECRET = "UPDATE partners SET secret_version = secret_version + 1 WHERE id = $1"

# $1 partner, $2 patient, $3 message id, $4 source, $5 kind, $6 content type, $7 body,
# $8 not before (NULL: now), $9 ordered among the patient's messages
ENQUEUE = """
INSERT INTO deliveries (partner_id, patient_id, message_id, source, kind, content_type, body,
                        next_attempt_at, ordered)
VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now()), $9)
ON CONFLICT (partner_id, source) DO NOTHING
RETURNING id
"""
NOTIFY = f"SELECT pg_notify('{NOTIFY_CHANNEL}', $1)"

# The messages to send now: due, pending, and each the first pending one of its patient
# at this partner (a later message of a patient waits for the earlier one), unless it is
# not ``ordered`` (a notice: it neither waits nor is waited for). The heads are
# read in one pass of the pending index (DISTINCT ON), not by a NOT EXISTS per row: on a
# queue that grew during an outage (its statistics not analysed yet) the planner ran that
# anti-join without the patient in its index condition, 2.7 s a round with 4,600 pending
# (imias bench deliveries --outage 600); this takes 2-3 ms there.
DUE = """
WITH heads AS (
    SELECT DISTINCT ON (patient_id) id FROM deliveries
     WHERE partner_id = $1 AND status = 'pending' AND patient_id IS NOT NULL AND ordered
     ORDER BY patient_id, id
)
SELECT d.id, d.partner_id, d.patient_id, d.message_id, d.kind, d.content_type, d.body,
       d.status, d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.delivered_at
  FROM deliveries d
 WHERE d.partner_id = $1 AND d.status = 'pending' AND d.next_attempt_at <= $2
   AND (d.patient_id IS NULL OR NOT d.ordered OR d.id IN (SELECT id FROM heads))
 ORDER BY d.next_attempt_at, d.id
 LIMIT $3
"""
NEXT_DUE = """
SELECT min(next_attempt_at) FROM deliveries WHERE partner_id = $1 AND status = 'pending'
"""
# A sign-in code must not stay in the database in clear text: a ``sign_in_code``
# delivery's body is replaced by ``{"redacted": true}`` once it is delivered or dead
# (docs/notifications.md).
REDACTED = b'{"redacted": true}'
_REDACT = """CASE WHEN kind = 'sign_in_code' THEN convert_to('{"redacted": true}', 'UTF8')
       ELSE body END"""
MARK_DELIVERED = f"""
UPDATE deliveries SET status = 'delivered', delivered_at = $2, attempts = attempts + 1,
       last_error = NULL, body = {_REDACT}
 WHERE id = ANY ($1::bigint[]) AND status = 'pending'
"""
# $1 id, $2 error, $3 next attempt, $4 dead (after this attempt)
MARK_FAILED = f"""
UPDATE deliveries SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3,
       status = CASE WHEN $4 THEN 'dead' ELSE 'pending' END,
       body = CASE WHEN $4 THEN {_REDACT} ELSE body END
 WHERE id = $1 AND status = 'pending'
"""
PARTNER_OK = """
UPDATE partners SET failing_since = NULL, last_error = NULL, last_success_at = $2 WHERE id = $1
"""
PARTNER_FAILING = """
UPDATE partners SET failing_since = coalesce(failing_since, $2), last_error = $3 WHERE id = $1
"""

STATES = f"""
SELECT {PARTNER_COLUMNS},
       (SELECT count(*) FROM deliveries d WHERE d.partner_id = p.id AND d.status = 'delivered')
           AS delivered,
       (SELECT count(*) FROM deliveries d WHERE d.partner_id = p.id AND d.status = 'pending')
           AS pending,
       (SELECT count(*) FROM deliveries d WHERE d.partner_id = p.id AND d.status = 'dead')
           AS dead,
       (SELECT min(created_at) FROM deliveries d WHERE d.partner_id = p.id
           AND d.status = 'pending') AS oldest_pending_at,
       (SELECT max(delivered_at) FROM deliveries d WHERE d.partner_id = p.id
           AND d.status = 'delivered') AS last_delivered_at
  FROM partners p ORDER BY p.id
"""
LIST = """
SELECT id, partner_id, patient_id, message_id, kind, content_type, body, status, attempts,
       next_attempt_at, last_error, created_at, delivered_at
  FROM deliveries
 WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::text IS NULL OR status = $2)
   AND ($3::bigint IS NULL OR patient_id = $3)
 ORDER BY id DESC LIMIT $4
"""
# Dead (or, with $3, also delivered since $4) messages of a partner made pending again.
RETRY = """
UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $5, last_error = NULL,
       delivered_at = NULL
 WHERE partner_id = $1 AND (status = 'dead' OR ($3 AND status = 'delivered' AND created_at >= $4))
   AND ($2::bigint[] IS NULL OR id = ANY ($2))
RETURNING id
"""

ROUTING_FAILURE_COUNT = "SELECT count(*) FROM routing_failures WHERE resolved_at IS NULL"
# A partner's newest messages for the admin page: what, whose, where it stands; no body.
LATEST = """
SELECT id, kind, patient_id, status, attempts, created_at, next_attempt_at, delivered_at,
       last_error
  FROM deliveries WHERE partner_id = $1 ORDER BY id DESC LIMIT $2
"""

INSERT_ROUTING_FAILURE = """
INSERT INTO routing_failures (outbox_id, clinic_id, topic, payload, error)
VALUES ($1, $2, $3, $4, $5)
"""
ROUTING_FAILURES = """
SELECT id, outbox_id, clinic_id, topic, payload, error, failed_at FROM routing_failures
 WHERE resolved_at IS NULL ORDER BY id
"""
RESOLVE_ROUTING_FAILURE = "UPDATE routing_failures SET resolved_at = now() WHERE id = $1"

INBOUND_ANSWER = """
SELECT status, response, content_type FROM inbound_messages
 WHERE partner_id = $1 AND message_id = $2
"""
INSERT_INBOUND = """
INSERT INTO inbound_messages (partner_id, message_id, kind, received_at, status, response,
                              content_type)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (partner_id, message_id) DO NOTHING
"""
LOCK_INBOUND = "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 7))"


def partner_of(row: Any) -> Partner:
    return Partner(**{k: row[k] for k in Partner.__struct_fields__})


def delivery_of(row: Any) -> Delivery:
    values = dict(row)
    values["body"] = bytes(values["body"])
    return msgspec.convert(values, Delivery)


async def partners(db: Executor) -> list[Partner]:
    return [partner_of(r) for r in await db.fetch(PARTNERS)]


async def partner(db: Executor, partner_id: str) -> Partner | None:
    row = await db.fetchrow(PARTNER, partner_id)
    return None if row is None else partner_of(row)


async def partners_for(db: Executor, audience: str) -> list[Partner]:
    return [partner_of(r) for r in await db.fetch(PARTNERS_FOR, audience)]


async def save_partner(db: Executor, p: Partner) -> None:
    await db.execute(
        UPSERT_PARTNER, p.id, p.kind, p.name, p.transport, p.url, p.topics, p.tls_cert, p.tls_key,
        p.tls_ca, p.max_attempts, p.backoff_ms, p.backoff_cap_ms, p.timeout_ms, p.concurrency,
        p.enabled, p.secret_env,
    )  # fmt: skip


async def states(db: Executor) -> list[PartnerState]:
    out = []
    for r in await db.fetch(STATES):
        out.append(
            PartnerState(
                partner=partner_of(r),
                delivered=r["delivered"],
                pending=r["pending"],
                dead=r["dead"],
                oldest_pending_at=r["oldest_pending_at"],
                last_delivered_at=r["last_delivered_at"],
            )
        )
    return out


async def listed(
    db: Executor,
    partner_id: str | None = None,
    status: str | None = None,
    patient_id: int | None = None,
    limit: int = 50,
) -> list[Delivery]:
    rows = await db.fetch(LIST, partner_id, status, patient_id, limit)
    return [delivery_of(r) for r in rows]


async def retry(
    db: Executor,
    partner_id: str,
    now: datetime,
    *,
    ids: Sequence[int] | None = None,
    delivered_since: datetime | None = None,
) -> list[int]:
    """Dead messages (those of ``ids`` only, when given) pending again; with
    ``delivered_since``, also those delivered from then on (a replay)."""
    rows = await db.fetch(
        RETRY,
        partner_id,
        list(ids) if ids is not None else None,
        delivered_since is not None,
        delivered_since or now,
        now,
    )
    if rows:
        await db.execute(NOTIFY, partner_id)
    return [r["id"] for r in rows]


# The outage is over: the partner's messages kept back by it are due again (those tried
# and backed off; not those never tried, deferred on purpose: a notice in quiet hours).
DUE_NOW = """
UPDATE deliveries SET next_attempt_at = $2
 WHERE partner_id = $1 AND status = 'pending' AND next_attempt_at > $2 AND attempts > 0
"""

#: Every named query (a test prepares each against the migrated schema).
QUERIES: dict[str, str] = {
    "partners": PARTNERS,
    "partner": PARTNER,
    "partners_for": PARTNERS_FOR,
    "upsert_partner": UPSERT_PARTNER,
    "set_enabled": SET_ENABLED,
    "rotate_secret": ROTATE_SECRET,
    "enqueue": ENQUEUE,
    "notify": NOTIFY,
    "due": DUE,
    "next_due": NEXT_DUE,
    "mark_delivered": MARK_DELIVERED,
    "mark_failed": MARK_FAILED,
    "partner_ok": PARTNER_OK,
    "partner_failing": PARTNER_FAILING,
    "states": STATES,
    "list": LIST,
    "retry": RETRY,
    "routing_failure_count": ROUTING_FAILURE_COUNT,
    "latest": LATEST,
    "insert_routing_failure": INSERT_ROUTING_FAILURE,
    "routing_failures": ROUTING_FAILURES,
    "resolve_routing_failure": RESOLVE_ROUTING_FAILURE,
    "inbound_answer": INBOUND_ANSWER,
    "insert_inbound": INSERT_INBOUND,
    "lock_inbound": LOCK_INBOUND,
    "due_now": DUE_NOW,
}
