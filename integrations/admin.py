"""What an administrator sees of the deliveries and does about them (the admin page
``/admin/integrations`` and its JSON twin ``/api/v1/admin/partners``): each partner's
state, a partner's newest messages (never their bodies: they hold personal data), and
its dead messages sent again.

Reading a partner's messages names patients (whose message of which kind went where):
it is audited, one record per patient shown, and shows in their access log."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from imias.platform.audit.writer import record, record_many
from imias.platform.db import Executor
from imias.platform.problems import ProblemError
from integrations import repository as repo
from integrations.model import PartnerId, Status


class PartnerView(msgspec.Struct, frozen=True, kw_only=True):
    """A partner and its deliveries at a glance."""

    id: str
    kind: str
    name: str
    transport: str
    url: str | None
    enabled: bool
    topics: list[str]
    delivered: int
    pending: int
    dead: int
    oldest_pending_at: datetime | None
    oldest_pending_seconds: float | None  # how long the oldest pending message waits
    failing_since: datetime | None
    last_error: str | None
    last_success_at: datetime | None


class PartnersOverview(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    partners: list[PartnerView]
    routing_failures: int  # events the router could not route (imias deliveries reroute)


class DeliveryLine(msgspec.Struct, frozen=True, kw_only=True):
    """A message to a partner without its body."""

    id: int
    kind: str
    patient_id: int | None
    status: Status
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None


async def overview(db: Executor, now: datetime | None = None) -> PartnersOverview:
    at = now or datetime.now(UTC)
    views = []
    for s in await repo.states(db):
        p = s.partner
        waited = None
        if s.oldest_pending_at is not None:
            waited = round(max(0.0, (at - s.oldest_pending_at).total_seconds()), 1)
        views.append(
            PartnerView(
                id=p.id, kind=p.kind, name=p.name, transport=p.transport, url=p.url,
                enabled=p.enabled, topics=list(p.topics), delivered=s.delivered,
                pending=s.pending, dead=s.dead, oldest_pending_at=s.oldest_pending_at,
                oldest_pending_seconds=waited, failing_since=p.failing_since,
                last_error=p.last_error, last_success_at=p.last_success_at,
            )
        )  # fmt: skip
    failures = await db.fetchval(repo.ROUTING_FAILURE_COUNT)
    return PartnersOverview(at=at, partners=views, routing_failures=int(failures or 0))


def _known(partner_id: str) -> str:
    """A partner id of the right shape (else 404: no partner has it)."""
    try:
        return msgspec.convert(partner_id, PartnerId)
    except msgspec.ValidationError:
        raise ProblemError(404, "unknown_partner", "No partner has this id.") from None


async def latest(db: Executor, partner_id: str, limit: int = 50) -> list[DeliveryLine]:
    """The partner's newest messages (audited: the patients they name)."""
    if await repo.partner(db, _known(partner_id)) is None:
        raise ProblemError(404, "unknown_partner", "No partner has this id.")
    rows = await db.fetch(repo.LATEST, partner_id, limit)
    lines = [msgspec.convert(dict(r), DeliveryLine) for r in rows]
    patients = [line.patient_id for line in lines if line.patient_id is not None]
    await record_many(db, "read", "deliveries", partner_id, patients)
    return lines


async def retry_dead(db: Executor, partner_id: str) -> int:
    """The partner's dead messages pending again (their ids kept: the receiver dedups);
    how many."""
    if await repo.partner(db, _known(partner_id)) is None:
        raise ProblemError(404, "unknown_partner", "No partner has this id.")
    found = await repo.retry(db, partner_id, datetime.now(UTC))
    await record(db, "retry", "deliveries", partner_id)
    return len(found)
