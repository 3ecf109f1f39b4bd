"""Writing audit records: who (from the request's :class:`Access`), what, whose data.

The guard that authenticates a request puts an :class:`Access` (actor, organisation,
request id, client address) in :data:`access_var`; the code that decides whose data a
request touches adds ``acting_for`` (and a break-glass reason). A domain then writes the
record with :func:`record` on the connection of its own transaction, so a change and
its record commit together or not at all, at the cost of one INSERT. Reads write their
record before the data leaves (a read that cannot be recorded is not answered).

Work that no person asked for (jobs: expiring holds, waitlist offers, reminders) runs
outside any request; with no :class:`Access` there is no one to record and nothing is
written.
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from imias.platform.audit import repository as repo
from imias.platform.db import Connection


@dataclass(slots=True)
class Access:
    """The person behind the current request, as the audit log names them."""

    actor_id: int
    actor_role: str
    actor_org: int | None = None
    request_id: str | None = None
    client_addr: str | None = None
    acting_for: int | None = None  # the patient acted for, when not the actor
    break_glass_reason: str | None = None  # set while a doctor reads under break-glass


access_var: contextvars.ContextVar[Access | None] = contextvars.ContextVar(
    "imias_audit_access", default=None
)


def _args(
    access: Access,
    action: str,
    resource: str,
    resource_id: object,
    patient: object,
    reason: str | None,
) -> tuple[object, ...]:
    why = reason if reason is not None else access.break_glass_reason
    return (
        access.actor_id,
        access.actor_role,
        access.actor_org,
        access.acting_for,
        action,
        resource,
        None if resource_id is None else str(resource_id),
        patient,
        access.break_glass_reason is not None or action == "break_glass",
        why,
        access.request_id,
        access.client_addr,
    )


async def record(
    conn: Connection | asyncpg.Pool,
    action: str,
    resource: str,
    resource_id: object = None,
    patient_id: int | None = None,
    *,
    reason: str | None = None,
    access: Access | None = None,
) -> bool:
    """Write one audit record for the current request (or ``access``); False when no
    person is behind the work (nothing written)."""
    who = access or access_var.get()
    if who is None:
        return False
    await conn.execute(repo.INSERT, *_args(who, action, resource, resource_id, patient_id, reason))
    return True


async def record_many(
    conn: Connection | asyncpg.Pool,
    action: str,
    resource: str,
    resource_id: object,
    patient_ids: Sequence[int],
    *,
    access: Access | None = None,
) -> bool:
    """One record per patient (a list that shows several patients), in one INSERT."""
    who = access or access_var.get()
    if who is None or not patient_ids:
        return False
    args = list(_args(who, action, resource, resource_id, None, None))
    args[7] = sorted(set(patient_ids))
    await conn.execute(repo.INSERT_MANY, *args)
    return True


def change_args(
    action: str,
    resource: str,
    patient_id: int | None,
    *,
    reason: str | None = None,
    access: Access | None = None,
) -> tuple[object, ...]:
    """The values of :func:`repository.insert_from` for the current request (or
    ``access``): a change's record written by the change's own statement. All None
    (nothing written) when no person is behind the work."""
    who = access or access_var.get()
    if who is None:
        return (None,) * 11
    values = _args(who, action, resource, None, patient_id, reason)
    return values[:6] + values[7:]
