-- The notification service: each patient's preference (channel, e-mail address, quiet
-- hours, language), the SMS gateway and SMTP server as partners (transports sms, smtp;
-- their credentials read from an environment variable the partner row names, never
-- stored here), and deliveries that need not wait for a patient's earlier ones.

CREATE TABLE notification_preferences (
    patient_id  bigint      PRIMARY KEY REFERENCES patients (id),
    channel     text        NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'email', 'none')),
    email       text        CHECK (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' AND length(email) <= 254),
    language    text        NOT NULL DEFAULT 'ru' CHECK (language IN ('ru', 'en')),
    -- quiet hours in the clinic's local time (NULL: the deployment's, 22:00-08:00);
    -- from = to: none
    quiet_from  time,
    quiet_to    time,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  bigint,     -- whose change (a patient's or staff account's subject)
    CHECK (channel <> 'email' OR email IS NOT NULL),
    CHECK ((quiet_from IS NULL) = (quiet_to IS NULL))
);

ALTER TABLE partners DROP CONSTRAINT partners_transport_check;
ALTER TABLE partners ADD CONSTRAINT partners_transport_check
    CHECK (transport IN ('http', 'mllp', 'sms', 'smtp'));
-- The environment variable holding the partner's credential for its transport (an SMS
-- gateway's api_id or password, an SMTP server's password); NULL: the derived secret.
ALTER TABLE partners ADD COLUMN secret_env text CHECK (secret_env ~ '^[A-Za-z_][A-Za-z0-9_]*$');

-- A delivery whose order among its patient's does not matter (a notice): it neither waits
-- for the patient's earlier messages nor holds back later ones (a reminder deferred to
-- the end of quiet hours must not keep a sign-in code waiting).
ALTER TABLE deliveries ADD COLUMN ordered boolean NOT NULL DEFAULT true;
