-- booking: the FHIR channel. Outside booking apps book through /fhir/R4 (IHE ITI
-- Scheduling: $find, $hold, $book); their appointments are counted on a channel of
-- their own, 'fhir'. The schedules' channel bits are unchanged: such an app books the
-- time open to apps (the 'app' bit, imias.booking.model.CHANNEL_BITS).
--
-- NOT VALID: every row already satisfies the old, narrower check, so the new one needs
-- no scan of the whole table (359 million rows at the city's scale); new and changed
-- rows are checked as always.
ALTER TABLE appointments DROP CONSTRAINT appointments_channel_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_channel_check
    CHECK (channel IN ('web', 'app', 'phone', 'kiosk', 'registrar', 'fhir')) NOT VALID;
