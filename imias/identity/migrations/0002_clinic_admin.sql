-- A clinic administrator (the clinic's head or her deputy) runs one clinic: like a
-- registrar's or a doctor's, her account names its clinic.
ALTER TABLE staff_accounts DROP CONSTRAINT staff_accounts_role_check;
ALTER TABLE staff_accounts ADD CONSTRAINT staff_accounts_role_check CHECK (role IN (
    'registrar', 'doctor', 'pharmacist', 'police_officer', 'ambulance_crew', 'school_nurse',
    'clinic_admin', 'administrator'));
ALTER TABLE staff_accounts DROP CONSTRAINT staff_accounts_check;
ALTER TABLE staff_accounts ADD CONSTRAINT staff_accounts_clinic_roles
    CHECK (role NOT IN ('registrar', 'doctor', 'clinic_admin') OR clinic_id IS NOT NULL);
