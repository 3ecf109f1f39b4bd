"""Medical records: the doctor's visit (encounter, protocol, diagnoses by ICD-10, vitals
by LOINC), allergies, immunizations, the patient's card, and FHIR R4 over them.

Other packages use the names below and nothing else of this package: the use cases
(:class:`Records`), the access rule's port that the booking fills (:class:`CareLinks`),
the values the API answers with, the code systems and the protocol templates, and the
named SQL (:mod:`ehr.queries`, read by the benches to explain the card's plan), what
another domain serves FHIR types with (:class:`FhirType`, :func:`add_fhir_types`, the
resources' Structs, the search parameters' parsing and the mapping's helpers), and the
medical certificates (:mod:`ehr.certificates`, whose own ``__all__`` says what of it
others use; the pages reach it as ``ehr.certificates``) and a child's illness episodes
(:mod:`ehr.illness`, likewise).
"""

from ehr import certificates, codes, illness, queries
from ehr.access import CareLinks, Medications, Reader
from ehr.fhir import api as fhir_api
from ehr.fhir import mapping as fhir_mapping
from ehr.fhir import resources as fhir_resources
from ehr.fhir import search as fhir_search
from ehr.fhir.api import EXCEPTIONS as FHIR_EXCEPTIONS
from ehr.fhir.api import fhir as fhir_response
from ehr.fhir.extension import FhirType, add_fhir_types
from ehr.model import (
    Allergy,
    AllergyIn,
    AmbulanceCall,
    Amendment,
    CardSummary,
    Condition,
    DiagnosisIn,
    Encounter,
    EncounterBrief,
    Immunization,
    ImmunizationIn,
    Observation,
    PrescribingContext,
    Protocol,
    SignOff,
    Trend,
    VisitDraft,
    VitalIn,
)
from ehr.plugin import EhrPlugin
from ehr.service import Records
from ehr.templates import SECTION_MAX, SECTION_TITLES, SECTIONS, template_for

__all__ = [
    "SECTIONS",
    "SECTION_MAX",
    "SECTION_TITLES",
    "Allergy",
    "AllergyIn",
    "AmbulanceCall",
    "Amendment",
    "CardSummary",
    "CareLinks",
    "Condition",
    "DiagnosisIn",
    "EhrPlugin",
    "FHIR_EXCEPTIONS",
    "Encounter",
    "EncounterBrief",
    "FhirType",
    "Immunization",
    "Medications",
    "ImmunizationIn",
    "Observation",
    "PrescribingContext",
    "Protocol",
    "Reader",
    "Records",
    "SignOff",
    "Trend",
    "VisitDraft",
    "VitalIn",
    "add_fhir_types",
    "certificates",
    "codes",
    "fhir_api",
    "fhir_mapping",
    "fhir_resources",
    "fhir_response",
    "fhir_search",
    "illness",
    "queries",
    "template_for",
]
