-- booking: the active appointments (held, booked, arrived) by time. Three readers look
-- for them in a time range: every worker's engine at start (the booking window), the
-- no-show job every minute (booked appointments that ended in the last two days) and
-- the load test's audit (overlaps). With a city's history of past appointments (tens
-- of millions of completed, cancelled and no-show rows) each scanned the whole table;
-- the active ones are a few per cent of it.
CREATE INDEX appointments_active_by_time ON appointments (starts_at)
    WHERE status IN ('held', 'booked', 'arrived');
