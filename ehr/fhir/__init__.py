"""FHIR R4 over the medical record (``/fhir/R4``): the resources (:mod:`.resources`),
the mapping of the record's Structs to them and back (:mod:`.mapping`), search
parameters (:mod:`.search`) and the controller (:mod:`.api`)."""
