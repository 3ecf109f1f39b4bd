"""The audit log: a tamper-evident record of every read or change of personal or
medical data (who, for whom, what, whose, why, when, from where).

Domains write with :func:`record` in their own transaction; :class:`AuditSealer`
chains the records' hashes shortly after; :func:`verify_chain` (``imias audit verify``)
checks the chain.
"""

from imias.platform.audit.sealer import AuditSealer, check_audit, seal_all, seal_batch
from imias.platform.audit.verify import VerifyReport, verify_chain
from imias.platform.audit.writer import Access, access_var, change_args, record, record_many

__all__ = [
    "Access",
    "AuditSealer",
    "VerifyReport",
    "access_var",
    "change_args",
    "check_audit",
    "record",
    "record_many",
    "seal_all",
    "seal_batch",
    "verify_chain",
]
