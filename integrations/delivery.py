"""The delivery workers: one per partner in the whole deployment (a PostgreSQL advisory
lock per partner; every worker process runs one for each partner and one of them is
active), each sending its partner's queued messages.

- Each round takes the messages that are due and that are the first pending message of
  their patient at this partner, so one patient's messages arrive in order; different
  patients' go side by side (the partner's ``concurrency``). Messages queued unordered
  (patients' notices) go when due, whatever else of the patient waits.
- A message refused for good (an HTTP 4xx, an HL7 AR) goes to the dead letters at once; a
  failure of the partner (refused connection, time-out, 5xx, AE) is tried again after an
  exponential backoff with jitter, and the message is dead after ``max_attempts``.
- While the partner fails, the worker stops sending all but one message (a probe) per
  backoff, so a partner that is down is not flooded; the first success ends the outage and
  every message kept back by it is due again at once. ``partners.failing_since`` records
  when the outage began (the admin page shows it).
- A worker sleeps until a message is queued (NOTIFY at the commit that queued it), the
  next retry is due, or half a second passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from imias.platform.db import Connection, Executor
from imias.platform.leader import LeaderTask
from integrations import repository as repo
from integrations.model import Delivery, Partner
from integrations.transports import Sent, Transport, transport_for

log = logging.getLogger("imias.integrations.delivery")

SecretOf = Callable[[Partner], str]


def lock_key(partner_id: str) -> int:
    """The advisory lock of a partner's worker (a signed 64-bit number of its id)."""
    digest = hashlib.sha256(b"imias-delivery:" + partner_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def backoff(attempt: int, base_ms: int, cap_ms: int, rng: random.Random | None = None) -> float:
    """Seconds before try ``attempt + 1``: base x 2^(attempt-1), at most the cap, then a
    random half to whole of it ("equal jitter": retries of many senders spread out)."""
    delay: float = min(cap_ms, base_ms * 2 ** min(max(attempt - 1, 0), 30)) / 1000
    return delay * (rng or random).uniform(0.5, 1.0)


class DeliveryWorker(LeaderTask):
    def __init__(
        self, dsn: str, partner_id: str, secret_of: SecretOf, *, interval: float = 0.5
    ) -> None:
        self.name = f"delivery-{partner_id}"
        super().__init__(dsn, lock_key=lock_key(partner_id), interval=interval)
        self.partner_id = partner_id
        self.secret_of = secret_of
        self.partner: Partner | None = None
        self.transport: Transport | None = None
        self.failures = 0  # consecutive failed rounds of the partner (the outage)
        self.probe_at = 0.0  # monotonic: while failing, the next probe
        self.sent = 0
        self.dead = 0
        self.gone = False  # the partner was removed or disabled: the manager stops us

    def status(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "sent": self.sent,
            "dead": self.dead,
            "failing": self.failures > 0,
            "last_error": self._outage.last_error,
        }

    async def _became_active(self, conn: Connection) -> None:
        await conn.add_listener(repo.NOTIFY_CHANNEL, self._notified)

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        if payload == self.partner_id:
            self._wake.set()

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await super().stop(timeout)
        await self._close_transport()

    async def _close_transport(self) -> None:
        transport, self.transport = self.transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.close()

    async def _load(self, conn: Connection) -> Partner | None:
        partner = await repo.partner(conn, self.partner_id)
        if partner is None or not partner.enabled or partner.url is None:
            self.gone = True
            return None
        if partner != self.partner or self.transport is None:
            await self._close_transport()
            self.partner = partner
            self.transport = transport_for(partner, self.secret_of(partner))
        return partner

    async def _round(self, conn: Connection) -> bool:
        self._wake.clear()
        partner = await self._load(conn)
        if partner is None:
            return False
        if self.failures and time.monotonic() < self.probe_at:
            return False
        limit = 1 if self.failures else partner.concurrency * 4
        now = datetime.now(UTC)
        rows = await conn.fetch(repo.DUE, partner.id, now, limit)
        if not rows:
            return False
        batch = [repo.delivery_of(r) for r in rows]
        assert self.transport is not None
        self._interruptible = False  # a stop lets the batch finish and be recorded
        try:
            results = await self._send_all(self.transport, batch, partner.concurrency)
            await self._record(conn, partner, batch, results)
        finally:
            self._interruptible = True
        return len(rows) == limit and not self.failures

    async def _sleep(self, seconds: float) -> None:
        """Until woken, the next probe, or the next retry due (at most ``seconds``)."""
        if self.failures:
            seconds = max(0.0, min(seconds, self.probe_at - time.monotonic()))
        elif self._conn is not None and self.role == "active":
            with contextlib.suppress(Exception):
                due = await self._conn.fetchval(repo.NEXT_DUE, self.partner_id)
                if due is not None:
                    wait = (due - datetime.now(UTC)).total_seconds()
                    seconds = max(0.0, min(seconds, wait))
        await super()._sleep(seconds)

    @staticmethod
    async def _send_all(
        transport: Transport, batch: Sequence[Delivery], concurrency: int
    ) -> list[Sent]:
        gate = asyncio.Semaphore(concurrency)

        async def one(d: Delivery) -> Sent:
            async with gate:
                try:
                    return await transport.send(d)
                except Exception as exc:  # a transport's bug: the message is kept
                    log.exception("delivery %s: sending failed", d.id)
                    return Sent(False, f"{type(exc).__name__}: {exc}"[:500], partner_down=True)

        return list(await asyncio.gather(*(one(d) for d in batch)))

    async def _record(
        self, conn: Connection, partner: Partner, batch: Sequence[Delivery], results: Sequence[Sent]
    ) -> None:
        now = datetime.now(UTC)
        delivered = [d.id for d, r in zip(batch, results, strict=True) if r.ok]
        down = [r for r in results if r.partner_down]
        async with conn.transaction():
            if delivered:
                await conn.execute(repo.MARK_DELIVERED, delivered, now)
            for d, r in zip(batch, results, strict=True):
                if r.ok:
                    continue
                attempt = d.attempts + 1
                dead = r.rejected or attempt >= partner.max_attempts
                wait = backoff(attempt, partner.backoff_ms, partner.backoff_cap_ms)
                await conn.execute(
                    repo.MARK_FAILED, d.id, r.error, now + timedelta(seconds=wait), dead
                )
                if dead:
                    self.dead += 1
                    log.warning("delivery %s to %s is dead: %s", d.id, partner.id, r.error)
            if delivered:
                await conn.execute(repo.PARTNER_OK, partner.id, now)
                if self.failures:
                    # the outage is over: what it kept back is due again, now
                    await conn.execute(repo.DUE_NOW, partner.id, now)
            elif down:
                await conn.execute(repo.PARTNER_FAILING, partner.id, now, down[0].error)
        self.sent += len(delivered)
        if delivered:
            if self.failures:
                log.info("partner %s: delivering again", partner.id)
            self.failures = 0
        elif down:
            if not self.failures:
                log.warning("partner %s failing: %s", partner.id, down[0].error)
            self.failures += 1
            self.probe_at = time.monotonic() + backoff(
                self.failures, partner.backoff_ms, partner.backoff_cap_ms
            )


class Deliveries:
    """Every partner's worker in this process; partners added or removed (``imias
    partners``) are picked up within ``refresh`` seconds."""

    def __init__(
        self, dsn: str, pool: Executor, secret_of: SecretOf, *, refresh: float = 2.0
    ) -> None:
        self.dsn, self.pool, self.secret_of, self.refresh = dsn, pool, secret_of, refresh
        self.workers: dict[str, DeliveryWorker] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="delivery-partners")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*(w.stop() for w in self.workers.values()))
        self.workers.clear()

    async def sync(self) -> None:
        """Start a worker for each enabled partner with a url, stop the others'."""
        wanted = {p.id for p in await repo.partners(self.pool) if p.enabled and p.url}
        for partner_id in wanted - self.workers.keys():
            worker = DeliveryWorker(self.dsn, partner_id, self.secret_of)
            worker.start()
            self.workers[partner_id] = worker
        for partner_id in self.workers.keys() - wanted:
            await self.workers.pop(partner_id).stop()

    async def _watch(self) -> None:
        while True:
            try:
                await self.sync()
            except Exception as exc:  # the database is away: health says so; retry
                log.debug("delivery partners: %s", exc)
            await asyncio.sleep(self.refresh)

    def status(self) -> dict[str, Any]:
        return {partner_id: w.status() for partner_id, w in sorted(self.workers.items())}
