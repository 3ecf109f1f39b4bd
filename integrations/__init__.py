"""Adapters to the outside: ambulance service, schools, HL7 v2 and FHIR.
Arrives with its own issue."""

__all__: list[str] = []
