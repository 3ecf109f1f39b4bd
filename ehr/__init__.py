"""Medical records: encounters, diagnoses (ICD-10), observations, allergies,
immunizations, documents and medical certificates. Arrives with its own issue."""

__all__: list[str] = []
