"""``imias audit verify``: walk the sealed chain and say whether it is whole.

Each sealed record must follow the one before it (``seal_seq`` without gaps, its
``prev_hash`` equal to that record's hash) and match its own hash; the last one must
be the chain head. A removed record leaves a gap (or, if it was the newest, a head
beyond the end); an altered one no longer matches its hash. Records not sealed yet are
counted and reported, not judged. ``anchor`` (a seq and hash noted earlier, e.g. from
the sealer's log line) must lie on the chain, which also catches a chain rewritten
from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from imias.platform.audit import repository as repo
from imias.platform.audit.chain import GENESIS, record_hash
from imias.platform.db import Connection

MAX_PROBLEMS = 50


@dataclass
class VerifyReport:
    sealed: int = 0
    head_seq: int = 0
    head_hash: str = ""
    unsealed: int = 0
    oldest_unsealed: datetime | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [
            f"audit chain: {self.sealed} sealed records, head {self.head_seq} {self.head_hash}",
        ]
        if self.unsealed:
            out.append(
                f"{self.unsealed} records not sealed yet (oldest {self.oldest_unsealed}); "
                "a running server seals them within seconds"
            )
        out.extend(f"BROKEN: {p}" for p in self.problems)
        out.append("the chain is whole" if self.ok else "the chain is broken")
        return out


async def verify_chain(
    conn: Connection, *, page: int = 5000, anchor: tuple[int, bytes] | None = None
) -> VerifyReport:
    report = VerifyReport()

    def problem(text: str) -> None:
        if len(report.problems) < MAX_PROBLEMS:
            report.problems.append(text)

    last_seq, prev = 0, GENESIS
    anchor_seen = anchor is None
    while True:
        rows = await conn.fetch(repo.CHAIN_PAGE, last_seq, page)
        for row in rows:
            seq, stored_prev, stored = row["seal_seq"], bytes(row["prev_hash"]), bytes(row["hash"])
            if seq != last_seq + 1:
                missing = f"{last_seq + 1}" if seq == last_seq + 2 else f"{last_seq + 1}-{seq - 1}"
                problem(f"record(s) {missing} of the chain are missing: removed")
            elif stored_prev != prev:
                problem(
                    f"record {seq} (id {row['id']}) does not follow record {last_seq}: "
                    "a record was replaced"
                )
            if record_hash(stored_prev, row, seq) != stored:
                problem(f"record {seq} (id {row['id']}) does not match its hash: altered")
            if anchor is not None and seq == anchor[0]:
                anchor_seen = True
                if stored != anchor[1]:
                    problem(f"record {seq} is not the anchored one: the chain was rewritten")
            report.sealed += 1
            last_seq, prev = seq, stored
        if len(rows) < page:
            break
    head = await conn.fetchrow(repo.HEAD_NOW)
    assert head is not None
    report.head_seq, report.head_hash = head["seal_seq"], bytes(head["hash"]).hex()
    if head["seal_seq"] > last_seq:
        problem(
            f"the chain ends at record {last_seq} but was sealed through {head['seal_seq']}: "
            "the newest records were removed"
        )
    elif head["seal_seq"] < last_seq:
        problem(f"records beyond the head ({head['seal_seq']}) up to {last_seq}: not sealed here")
    elif bytes(head["hash"]) != prev:
        problem(f"record {last_seq} is not the one the head names: altered or replaced")
    if not anchor_seen:
        problem(f"the anchored record {anchor[0] if anchor else '?'} is not on the chain")
    counts = await conn.fetchrow(repo.UNSEALED_COUNT)
    assert counts is not None
    report.unsealed, report.oldest_unsealed = counts["unsealed"], counts["oldest"]
    return report
