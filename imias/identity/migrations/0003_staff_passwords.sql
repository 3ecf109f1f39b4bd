-- Staff accounts managed on a page: an account made, or a password reset, by an
-- administrator gets a temporary password shown to her once; its owner must set her
-- own at the next sign-in (no token is issued until she has).
ALTER TABLE staff_accounts
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
-- The list of a clinic's accounts, newest last (the page's and the API's order).
CREATE INDEX staff_accounts_clinic_id ON staff_accounts (clinic_id, id);
