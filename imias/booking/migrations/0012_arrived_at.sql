-- booking: when the patient checked in. The dashboard's wait in the clinic runs from the
-- check-in to the visit's start (the record's encounter); until now the check-in's time
-- was only the row's updated_at, which the visit's completion overwrites.
--
-- A nullable column with no default: no rewrite of the table (359 million rows at the
-- city's scale). Rows checked in before it have none; they are not counted.
ALTER TABLE appointments ADD COLUMN arrived_at timestamptz;
