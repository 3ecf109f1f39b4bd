"""The sealer: gives committed audit records their place in the hash chain.

Requests write records without hashes (one INSERT in their own transaction, so no
request waits on a chain-wide lock); every worker runs an :class:`AuditSealer`, and a
PostgreSQL advisory lock keeps one of them active, as for the outbox relay. The active
one takes the unsealed records in id order, in batches, numbers them after the chain
head (``seal_seq``), computes each hash from the previous one, and moves the head, in
one transaction. A record whose transaction commits after a higher id was sealed is
found by the next batch and takes the next place: the chain follows the order records
are found committed, and ``seal_seq`` has no gaps.

The head row is locked for the batch (``FOR UPDATE``), so :func:`seal_batch` is safe
to call from anywhere (``imias audit verify --seal``) beside a running sealer.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.datastructures import State

from imias.platform.audit import repository as repo
from imias.platform.audit.chain import record_hash
from imias.platform.db import Connection
from imias.platform.leader import LeaderTask
from imias.platform.problems import UNAVAILABLE

log = logging.getLogger("imias.audit")

# pg_try_advisory_lock key of the sealer: one active sealer per database.
SEALER_LOCK_KEY = 0x1A1A5_A0D17


async def seal_batch(conn: Connection, batch_size: int = 2000) -> tuple[int, int, bytes]:
    """Seal up to ``batch_size`` records; (how many, the head's seq, its hash)."""
    async with conn.transaction():
        head = await conn.fetchrow(repo.HEAD)
        assert head is not None, "audit_chain_head has no row (platform migration 0002)"
        seq, prev = head["seal_seq"], bytes(head["hash"])
        rows = await conn.fetch(repo.UNSEALED, batch_size)
        if not rows:
            return 0, seq, prev
        ids, seqs, prevs, hashes = [], [], [], []
        for row in rows:
            seq += 1
            digest = record_hash(prev, row, seq)
            ids.append(row["id"])
            seqs.append(seq)
            prevs.append(prev)
            hashes.append(digest)
            prev = digest
        await conn.execute(repo.SEAL, ids, seqs, prevs, hashes)
        await conn.execute(repo.MOVE_HEAD, seq, prev)
    return len(rows), seq, prev


async def seal_all(conn: Connection, batch_size: int = 2000) -> int:
    """Seal every record committed so far; how many."""
    total = 0
    while True:
        sealed, _, _ = await seal_batch(conn, batch_size)
        total += sealed
        if sealed < batch_size:
            return total


class AuditSealer(LeaderTask):
    """Seals audit records shortly after they commit; one active per deployment."""

    name = "audit-sealer"

    def __init__(
        self,
        dsn: str,
        *,
        batch_size: int = 2000,
        interval: float = 0.5,
        lock_retry: float = 2.0,
        max_backoff: float = 5.0,
        anchor_every: float = 300.0,
        lock_key: int = SEALER_LOCK_KEY,
    ) -> None:
        super().__init__(
            dsn,
            lock_key=lock_key,
            interval=interval,
            lock_retry=lock_retry,
            max_backoff=max_backoff,
        )
        self.batch_size = batch_size
        self.anchor_every = anchor_every
        self.sealed = 0
        self.head_seq: int | None = None
        self._head_hash = b""
        self._anchored_at = 0.0

    def status(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "sealed": self.sealed,
            "head_seq": self.head_seq,
            "last_error": self._outage.last_error,
        }

    async def _round(self, conn: Connection) -> bool:
        self._interruptible = False
        try:
            sealed, self.head_seq, self._head_hash = await seal_batch(conn, self.batch_size)
        finally:
            self._interruptible = True
        self.sealed += sealed
        self._anchor()
        return sealed >= self.batch_size

    def _anchor(self) -> None:
        """Now and then, the head in the application log: logs shipped elsewhere keep a
        copy of it, against which a chain rewritten from scratch shows."""
        if self.head_seq and time.monotonic() - self._anchored_at >= self.anchor_every:
            self._anchored_at = time.monotonic()
            log.info(
                "audit chain sealed through record %d: %s",
                self.head_seq,
                self._head_hash.hex(),
                extra={"audit_head_seq": self.head_seq, "audit_head": self._head_hash.hex()},
            )


# /health fails when a committed record has waited this long for its seal: the sealer
# is stuck (a record it cannot seal, a lost lock) and the chain no longer grows.
STALE_SECONDS = 60.0


async def check_audit(state: State) -> dict[str, Any]:
    """/health: the sealer's status; fails if its task died or records wait unsealed."""
    sealer: AuditSealer = state.audit_sealer
    if not sealer.running:
        raise RuntimeError(f"audit sealer not running ({sealer.role})")
    try:
        row = await state.db.fetchrow(repo.UNSEALED_AGE)
    except UNAVAILABLE:  # the database check says so; the sealer waits for it too
        return {**sealer.status(), "unsealed": None}
    waiting = float(row["seconds"] or 0.0)
    if waiting > STALE_SECONDS:
        raise RuntimeError(
            f"{row['unsealed']} audit records unsealed, the oldest for {waiting:.0f} s"
        )
    return {**sealer.status(), "unsealed": row["unsealed"], "oldest_unsealed_s": round(waiting, 1)}
