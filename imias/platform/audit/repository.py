"""SQL of the audit log (asyncpg, ``$n`` parameters)."""

from __future__ import annotations

COLUMNS = (
    "actor_id, actor_role, actor_org, acting_for, action, resource, resource_id, patient_id, "
    "break_glass, reason, request_id, client_addr"
)

INSERT = f"""
INSERT INTO audit_log ({COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""

# One record per patient of a list (a doctor's day), in one statement.
INSERT_MANY = f"""
INSERT INTO audit_log ({COLUMNS})
SELECT $1, $2, $3, $4, $5, $6, $7, p, $9, $10, $11, $12
  FROM unnest($8::bigint[]) AS p
"""


def insert_from(source: str, first: int, resource_id: str) -> str:
    """The body of a CTE that writes the audit record of each row of the CTE ``source``
    (a change), so that a change and its record take one round trip. Parameters from
    ``$first``: actor id, role, organisation, acting for, action, resource, patient,
    break-glass, reason, request id, client address (:func:`writer.change_args`);
    ``resource_id`` is an expression over ``source``'s columns. With no actor (work no
    person asked for) nothing is written."""
    n = [f"${first + i}" for i in range(11)]
    return (
        f"INSERT INTO audit_log ({COLUMNS}) "
        f"SELECT {n[0]}::bigint, {n[1]}::text, {n[2]}::bigint, {n[3]}::bigint, {n[4]}::text, "
        f"{n[5]}::text, ({resource_id})::text, {n[6]}::bigint, {n[7]}::boolean, {n[8]}::text, "
        f"{n[9]}::text, {n[10]}::text FROM {source} WHERE {n[0]}::bigint IS NOT NULL"
    )


# What the hash covers, in this order (see chain.py); the seal columns come last.
RECORD = """
id, at, actor_id, actor_role, actor_org, acting_for, action, resource, resource_id, patient_id,
break_glass, reason, request_id, client_addr
"""

HEAD = "SELECT seal_seq, hash FROM audit_chain_head FOR UPDATE"

UNSEALED = f"""
SELECT {RECORD} FROM audit_log WHERE seal_seq IS NULL ORDER BY id LIMIT $1
"""

SEAL = """
UPDATE audit_log AS a SET seal_seq = s.seq, prev_hash = s.prev, hash = s.hash
  FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS s (id, seq, prev, hash)
 WHERE a.id = s.id
"""

MOVE_HEAD = "UPDATE audit_chain_head SET seal_seq = $1, hash = $2, sealed_at = now()"

UNSEALED_COUNT = """
SELECT count(*) AS unsealed, min(at) AS oldest FROM audit_log WHERE seal_seq IS NULL
"""

UNSEALED_AGE = """
SELECT count(*) AS unsealed, extract(epoch FROM now() - min(at)) AS seconds
  FROM audit_log WHERE seal_seq IS NULL
"""

CHAIN_PAGE = f"""
SELECT {RECORD}, seal_seq, prev_hash, hash FROM audit_log
 WHERE seal_seq > $1 ORDER BY seal_seq LIMIT $2
"""

HEAD_NOW = "SELECT seal_seq, hash, sealed_at FROM audit_chain_head"

# The administrator's search; every filter optional.
SEARCH = f"""
SELECT {RECORD}, seal_seq IS NOT NULL AS sealed FROM audit_log
 WHERE ($1::bigint IS NULL OR patient_id = $1)
   AND ($2::bigint IS NULL OR actor_id = $2)
   AND ($3::text IS NULL OR actor_role = $3)
   AND ($4::timestamptz IS NULL OR at >= $4)
   AND ($5::timestamptz IS NULL OR at < $5)
   AND ($6::boolean IS NULL OR break_glass = $6)
   AND ($7::bigint IS NULL OR id < $7)
 ORDER BY id DESC
 LIMIT $8
"""

QUERIES = {
    "insert": INSERT,
    "insert_many": INSERT_MANY,
    "head": HEAD,
    "unsealed": UNSEALED,
    "seal": SEAL,
    "move_head": MOVE_HEAD,
    "unsealed_count": UNSEALED_COUNT,
    "unsealed_age": UNSEALED_AGE,
    "chain_page": CHAIN_PAGE,
    "head_now": HEAD_NOW,
    "search": SEARCH,
}
