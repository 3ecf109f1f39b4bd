"""FHIR R4 over prescriptions (``/fhir/R4``): the drug catalogue's products as
Medication, prescriptions as MedicationRequest, dispensings as MedicationDispense. The
resources (:mod:`.resources`), their mapping (:mod:`.mapping`) and the read and search of
each type (:mod:`.types`), which the record's FHIR controller serves
(:class:`ehr.FhirType`)."""
