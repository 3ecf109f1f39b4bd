"""Every SQL statement of the dashboard, named (run by :mod:`insights.repository`).

The sources (appointments, encounters, schedules) are read by time range only, through
their time indexes; the figures are read from the small ``insight_*`` tables."""

from __future__ import annotations

# -- from the sources ---------------------------------------------------------------------

#: Visits of the local days $3..$4 (instants $1..$2): minutes booked, appointments,
#: no-shows and cancellations per (day, clinic, specialty).
VISITS = """
SELECT (a.starts_at AT TIME ZONE c.time_zone)::date AS day, a.clinic_id, a.specialty_id,
       coalesce(sum(extract(epoch FROM a.ends_at - a.starts_at)::int / 60)
                FILTER (WHERE a.status IN ('booked', 'arrived', 'completed', 'no_show')), 0)
           ::int AS booked_minutes,
       count(*) FILTER (WHERE a.status IN ('booked', 'arrived', 'completed', 'no_show'))
           ::int AS appointments,
       count(*) FILTER (WHERE a.status = 'no_show')::int AS no_shows,
       count(*) FILTER (WHERE a.status = 'cancelled')::int AS cancelled
  FROM appointments a
  JOIN clinics c ON c.id = a.clinic_id
 WHERE a.starts_at >= $1 AND a.starts_at < $2
   AND (a.starts_at AT TIME ZONE c.time_zone)::date BETWEEN $3 AND $4
 GROUP BY 1, 2, 3
"""

#: Waits in the clinic of the local days $3..$4 (instants $1..$2): visits per (day, clinic,
#: minute), the minute being the whole minutes from the check-in (or the appointed time,
#: when the patient came early) to the encounter's start, 0 for a visit begun before
#: them, 60 for an hour or more (insights.model.WAIT_BUCKETS).
WAITS = """
SELECT (a.starts_at AT TIME ZONE c.time_zone)::date AS day, a.clinic_id,
       least(greatest(floor(extract(epoch FROM
           e.started_at - greatest(a.arrived_at, a.starts_at)) / 60), 0), 60)::int AS minute,
       count(*)::int AS visits
  FROM appointments a
  JOIN clinics c ON c.id = a.clinic_id
  JOIN encounters e ON e.patient_id = a.patient_id AND e.appointment_id = a.id
 WHERE a.starts_at >= $1 AND a.starts_at < $2 AND a.arrived_at IS NOT NULL
   AND (a.starts_at AT TIME ZONE c.time_zone)::date BETWEEN $3 AND $4
   AND e.status <> 'entered-in-error'
 GROUP BY 1, 2, 3
"""

#: Bookings made (created) on the local days $5..$6 (instants $3..$4) whose visit is at
#: the instants $1..$2, per (day made, clinic, specialty, channel, same or next day).
BOOKINGS_MADE = """
SELECT (a.created_at AT TIME ZONE c.time_zone)::date AS day, a.clinic_id, a.specialty_id,
       a.channel,
       (a.starts_at AT TIME ZONE c.time_zone)::date
           - (a.created_at AT TIME ZONE c.time_zone)::date <= 1 AS soon,
       count(*)::int AS made
  FROM appointments a
  JOIN clinics c ON c.id = a.clinic_id
 WHERE a.starts_at >= $1 AND a.starts_at < $2
   AND a.created_at >= $3 AND a.created_at < $4
   AND a.status NOT IN ('held', 'expired')
   AND (a.created_at AT TIME ZONE c.time_zone)::date BETWEEN $5 AND $6
 GROUP BY 1, 2, 3, 4, 5
"""

TEMPLATES = """
SELECT t.doctor_id, t.weekday, t.starts, t.ends, t.channels, t.urgent, t.valid_from,
       t.valid_to
  FROM schedule_templates t
 WHERE t.valid_from <= $2 AND (t.valid_to IS NULL OR t.valid_to >= $1)
"""

EXCEPTIONS = """
SELECT doctor_id, day, kind, starts, ends, channels
  FROM schedule_exceptions
 WHERE day BETWEEN $1 AND $2
"""

DOCTORS = "SELECT id, clinic_id, specialty_id FROM doctors WHERE active"

CLINICS = "SELECT id, name, district, lat, lon, time_zone FROM clinics ORDER BY id"

SPECIALTIES = "SELECT id, code, name_ru, name_en, self_referral FROM specialties ORDER BY id"

# -- writing the aggregates ---------------------------------------------------------------

REPLACE_LOCK = "SELECT pg_advisory_xact_lock($1)"
DELETE_LOAD = "DELETE FROM insight_load WHERE day BETWEEN $1 AND $2"
DELETE_WAITS = "DELETE FROM insight_waits WHERE day BETWEEN $1 AND $2"
DELETE_BOOKINGS = "DELETE FROM insight_bookings WHERE day BETWEEN $1 AND $2"
DELETE_CHANNELS = "DELETE FROM insight_channels WHERE day BETWEEN $1 AND $2"

#: Counts added to a day's bookings (the workers' counters): specialties by code.
ADD_BOOKINGS = """
INSERT INTO insight_bookings AS b (day, clinic_id, specialty_id, made, same_or_next)
SELECT u.day, u.clinic_id, s.id, u.made, u.soon
  FROM unnest($1::date[], $2::bigint[], $3::text[], $4::int[], $5::int[])
       AS u(day, clinic_id, code, made, soon)
  JOIN specialties s ON s.code = u.code
ON CONFLICT (day, clinic_id, specialty_id) DO UPDATE
   SET made = b.made + EXCLUDED.made, same_or_next = b.same_or_next + EXCLUDED.same_or_next
"""

ADD_CHANNELS = """
INSERT INTO insight_channels AS c (day, clinic_id, channel, made)
SELECT * FROM unnest($1::date[], $2::bigint[], $3::text[], $4::int[])
ON CONFLICT (day, clinic_id, channel) DO UPDATE SET made = c.made + EXCLUDED.made
"""

ADD_REFUSALS = """
INSERT INTO insight_refusals AS r (day, code, channel, refused)
SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::int[])
ON CONFLICT (day, code, channel) DO UPDATE SET refused = r.refused + EXCLUDED.refused
"""

ADD_EARLIEST = """
INSERT INTO insight_earliest AS e (day, clinic_id, specialty_id, samples, days_sum, none_found)
SELECT $1, u.clinic_id, u.specialty_id, 1, coalesce(u.days, 0), (u.days IS NULL)::int
  FROM unnest($2::bigint[], $3::smallint[], $4::int[]) AS u(clinic_id, specialty_id, days)
ON CONFLICT (day, clinic_id, specialty_id) DO UPDATE
   SET samples = e.samples + 1, days_sum = e.days_sum + EXCLUDED.days_sum,
       none_found = e.none_found + EXCLUDED.none_found
"""

ADD_DISTRICT_EARLIEST = """
INSERT INTO insight_district_earliest AS e
       (day, district, specialty_id, samples, days_sum, none_found)
SELECT $1, u.district, u.specialty_id, 1, coalesce(u.days, 0), (u.days IS NULL)::int
  FROM unnest($2::text[], $3::smallint[], $4::int[]) AS u(district, specialty_id, days)
ON CONFLICT (day, district, specialty_id) DO UPDATE
   SET samples = e.samples + 1, days_sum = e.days_sum + EXCLUDED.days_sum,
       none_found = e.none_found + EXCLUDED.none_found
"""

RAN = """
INSERT INTO insight_runs (kind, ran_at, detail) VALUES ($1, $2, $3)
ON CONFLICT (kind) DO UPDATE SET ran_at = EXCLUDED.ran_at, detail = EXCLUDED.detail
"""

RUNS = "SELECT kind, ran_at FROM insight_runs"

#: For the figures' reading transaction (insights.repository.reading).
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"

# -- reading the figures ($1..$2 the days; $3 clinic, $4 district, $5 specialty) -----------

_IN_SCOPE = """
   AND ($3::bigint IS NULL OR x.clinic_id = $3)
   AND ($4::text IS NULL OR c.district = $4)
"""
_SPECIALTY = "   AND ($5::smallint IS NULL OR x.specialty_id = $5)\n"

SERVED_DAYS = (
    """
SELECT x.day, sum(x.made)::int AS made, sum(x.same_or_next)::int AS same_or_next
  FROM insight_bookings x JOIN clinics c ON c.id = x.clinic_id
 WHERE x.day BETWEEN $1 AND $2"""
    + _IN_SCOPE
    + _SPECIALTY
    + " GROUP BY x.day ORDER BY x.day"
)

#: Channels have no specialty: $5 is taken and ignored, for one signature.
CHANNELS = (
    """
SELECT x.channel, sum(x.made)::int AS made
  FROM insight_channels x JOIN clinics c ON c.id = x.clinic_id
 WHERE x.day BETWEEN $1 AND $2 AND $5::smallint IS NOT DISTINCT FROM $5"""
    + _IN_SCOPE
    + " GROUP BY x.channel ORDER BY made DESC, x.channel"
)

_LOAD_SUMS = """sum(x.offered_minutes)::bigint AS offered_minutes,
       sum(x.booked_minutes)::bigint AS booked_minutes,
       sum(x.appointments)::bigint AS appointments, sum(x.no_shows)::bigint AS no_shows,
       sum(x.cancelled)::bigint AS cancelled"""

LOAD_BY_SPECIALTY = (
    f"""
SELECT x.specialty_id, {_LOAD_SUMS}
  FROM insight_load x JOIN clinics c ON c.id = x.clinic_id
 WHERE x.day BETWEEN $1 AND $2"""
    + _IN_SCOPE
    + _SPECIALTY
    + " GROUP BY x.specialty_id ORDER BY x.specialty_id"
)

LOAD_BY_CLINIC = (
    f"""
SELECT x.clinic_id, x.specialty_id, {_LOAD_SUMS}
  FROM insight_load x JOIN clinics c ON c.id = x.clinic_id
 WHERE x.day BETWEEN $1 AND $2"""
    + _IN_SCOPE
    + _SPECIALTY
    + " GROUP BY x.clinic_id, x.specialty_id ORDER BY x.clinic_id, x.specialty_id"
)

LOAD_DAYS = (
    f"""
SELECT x.day, {_LOAD_SUMS}
  FROM insight_load x JOIN clinics c ON c.id = x.clinic_id
 WHERE x.day BETWEEN $1 AND $2"""
    + _IN_SCOPE
    + _SPECIALTY
    + " GROUP BY x.day ORDER BY x.day"
)

#: Waits have no specialty: $5 is taken and ignored.
WAITS_BY_CLINIC = (
    """
SELECT x.clinic_id, x.minutes
  FROM insight_waits x JOIN clinics c ON c.id = x.clinic_id
 WHERE x.day BETWEEN $1 AND $2 AND $5::smallint IS NOT DISTINCT FROM $5"""
    + _IN_SCOPE
)

#: Refusals are the city's (no clinic, district or specialty): $3..$5 ignored.
REFUSALS = """
SELECT x.code, sum(x.refused)::int AS refused
  FROM insight_refusals x
 WHERE x.day BETWEEN $1 AND $2 AND $3::bigint IS NOT DISTINCT FROM $3
   AND $4::text IS NOT DISTINCT FROM $4 AND $5::smallint IS NOT DISTINCT FROM $5
 GROUP BY x.code ORDER BY refused DESC, x.code
"""

#: With a clinic: that clinic's samples; without: the districts' (the least over their
#: clinics at each sample).
EARLIEST_DAYS = """
SELECT x.day, sum(x.days_sum)::bigint AS days_sum, sum(x.samples)::bigint AS samples,
       sum(x.none_found)::bigint AS none_found
  FROM insight_earliest x
 WHERE $3::bigint IS NOT NULL AND x.clinic_id = $3 AND x.day BETWEEN $1 AND $2
   AND $4::text IS NOT DISTINCT FROM $4
   AND ($5::smallint IS NULL OR x.specialty_id = $5)
 GROUP BY x.day
UNION ALL
SELECT x.day, sum(x.days_sum)::bigint, sum(x.samples)::bigint, sum(x.none_found)::bigint
  FROM insight_district_earliest x
 WHERE $3::bigint IS NULL AND x.day BETWEEN $1 AND $2
   AND ($4::text IS NULL OR x.district = $4)
   AND ($5::smallint IS NULL OR x.specialty_id = $5)
 GROUP BY x.day
 ORDER BY 1
"""

EARLIEST_BY_SPECIALTY = """
SELECT x.specialty_id, sum(x.days_sum)::bigint AS days_sum, sum(x.samples)::bigint AS samples,
       sum(x.none_found)::bigint AS none_found
  FROM insight_earliest x
 WHERE $3::bigint IS NOT NULL AND x.clinic_id = $3 AND x.day BETWEEN $1 AND $2
   AND $4::text IS NOT DISTINCT FROM $4 AND $5::smallint IS NOT DISTINCT FROM $5
 GROUP BY x.specialty_id
UNION ALL
SELECT x.specialty_id, sum(x.days_sum)::bigint, sum(x.samples)::bigint, sum(x.none_found)::bigint
  FROM insight_district_earliest x
 WHERE $3::bigint IS NULL AND x.day BETWEEN $1 AND $2
   AND ($4::text IS NULL OR x.district = $4) AND $5::smallint IS NOT DISTINCT FROM $5
 GROUP BY x.specialty_id
 ORDER BY 1
"""

#: Per clinic of the scope: the mean days to the earliest slot of a specialty ($5; none:
#: every specialty).
EARLIEST_BY_CLINIC = (
    """
SELECT x.clinic_id, sum(x.days_sum)::bigint AS days_sum, sum(x.samples)::bigint AS samples,
       sum(x.none_found)::bigint AS none_found
  FROM insight_earliest x JOIN clinics c ON c.id = x.clinic_id
 WHERE x.day BETWEEN $1 AND $2"""
    + _IN_SCOPE
    + _SPECIALTY
    + " GROUP BY x.clinic_id"
)

# -- for /metrics (read every few seconds by each worker, never per scrape) -----------------

#: Events committed and not yet published (at most $1 counted), and the oldest one's age.
OUTBOX_BACKLOG = """
SELECT count(*)::bigint AS backlog,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_seconds
  FROM (SELECT created_at FROM event_outbox WHERE published_at IS NULL ORDER BY id LIMIT $1) s
"""

#: Each partner's messages waiting to be delivered and those given up (the integrations'
#: deliveries; read here by SQL only: the dashboard does not import the integrations).
DELIVERY_BACKLOG = """
SELECT p.id AS partner_id,
       (SELECT count(*) FROM deliveries d
         WHERE d.partner_id = p.id AND d.status = 'pending')::bigint AS pending,
       (SELECT count(*) FROM deliveries d
         WHERE d.partner_id = p.id AND d.status = 'dead')::bigint AS dead
  FROM partners p ORDER BY p.id
"""

#: Patients moved by their clinic (a doctor's time taken away: booking's relocations),
#: by state, made on the period's days (the clinic's local day). Read live: a city makes
#: few of them, and the index by clinic and time finds a clinic's.
MOVES = """
SELECT r.state, count(*)::int AS n
  FROM relocations r JOIN clinics c ON c.id = r.clinic_id
 WHERE (r.created_at AT TIME ZONE c.time_zone)::date BETWEEN $1 AND $2
   AND ($3::bigint IS NULL OR r.clinic_id = $3)
   AND ($4::text IS NULL OR c.district = $4)
   AND ($5::smallint IS NULL OR r.specialty_id = $5)
 GROUP BY r.state
"""

QUERIES: dict[str, str] = {
    "visits": VISITS,
    "waits": WAITS,
    "bookings_made": BOOKINGS_MADE,
    "templates": TEMPLATES,
    "exceptions": EXCEPTIONS,
    "doctors": DOCTORS,
    "clinics": CLINICS,
    "specialties": SPECIALTIES,
    "replace_lock": REPLACE_LOCK,
    "delete_load": DELETE_LOAD,
    "delete_waits": DELETE_WAITS,
    "delete_bookings": DELETE_BOOKINGS,
    "delete_channels": DELETE_CHANNELS,
    "add_bookings": ADD_BOOKINGS,
    "add_channels": ADD_CHANNELS,
    "add_refusals": ADD_REFUSALS,
    "add_earliest": ADD_EARLIEST,
    "add_district_earliest": ADD_DISTRICT_EARLIEST,
    "ran": RAN,
    "runs": RUNS,
    "served_days": SERVED_DAYS,
    "channels": CHANNELS,
    "load_by_specialty": LOAD_BY_SPECIALTY,
    "load_by_clinic": LOAD_BY_CLINIC,
    "load_days": LOAD_DAYS,
    "waits_by_clinic": WAITS_BY_CLINIC,
    "refusals": REFUSALS,
    "moves": MOVES,
    "earliest_days": EARLIEST_DAYS,
    "earliest_by_specialty": EARLIEST_BY_SPECIALTY,
    "earliest_by_clinic": EARLIEST_BY_CLINIC,
    "outbox_backlog": OUTBOX_BACKLOG,
    "delivery_backlog": DELIVERY_BACKLOG,
}
