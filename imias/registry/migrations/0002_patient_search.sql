-- registry: the registrar's desk finds a patient by family name, in any case, and birth
-- date (imias.registry.repository.PATIENTS_BY_NAME); the policy number is unique, so
-- indexed already.
CREATE INDEX patients_family_name_birth ON patients (lower(family_name), birth_date);
