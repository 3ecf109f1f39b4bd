"""E-prescriptions: the drug catalogue, the checks at prescribing, the doctor's signature,
the patient's QR code and the pharmacy's counter, where nothing is dispensed twice.

Other packages use the names below and nothing else of this package: the use cases
(:class:`Prescriptions`), the values the API answers with, the catalogue
(:class:`Catalogue`), the signer's port (:class:`Signer`) and the QR drawing.
"""

from prescriptions import queries, rules
from prescriptions.formulary import Catalogue, CatalogueError
from prescriptions.model import (
    CheckOut,
    CounterView,
    DispenseIn,
    DispensingOut,
    DrugOption,
    Finding,
    Period,
    Prescription,
    PrescriptionIn,
    ScanIn,
)
from prescriptions.plugin import PrescriptionsPlugin
from prescriptions.refusals import REFUSALS
from prescriptions.service import Prescriptions, drug_text
from prescriptions.signing import LocalAuthority, Signer

__all__ = [
    "REFUSALS",
    "Catalogue",
    "CatalogueError",
    "CheckOut",
    "CounterView",
    "DispenseIn",
    "DispensingOut",
    "DrugOption",
    "Finding",
    "LocalAuthority",
    "Period",
    "Prescription",
    "PrescriptionIn",
    "Prescriptions",
    "PrescriptionsPlugin",
    "ScanIn",
    "Signer",
    "drug_text",
    "queries",
    "rules",
]
