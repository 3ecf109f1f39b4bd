-- A placeholder for the ambulance adapter's 0002 (another branch): the schools' migration
-- is 0003. Drop this file when the ambulance's 0002 is merged.
SELECT 1;
