"""The SQL that `imias bench booking` compares the engine with, and the queries it
uses to pick patients. Plain SQL over the booking schema, no extension."""

from __future__ import annotations

from imias.booking import search

NEAR_CLINICS = search.NEAR_CLINICS  # a "near me" search looks at these

# -- the equivalent SQL search ------------------------------------------------------------
#
# The k earliest free slots of a specialty over the engine's window, as the engine
# answers GET /api/v1/slots: each doctor's weekly templates expanded over the days
# with generate_series, less leave and sick time and extra shifts (schedule
# exceptions; an extra shift then opens its own time), clipped to the engine's day
# (08:00-20:00 local), cut into the doctor's slots from the start of each block, with
# the channel asked for, without urgent slots (kept for same-day care) or
# referral-only specialties (patient channels search without entitlements), not yet
# begun, and with none of its 5-minute units occupied by an active appointment or a
# hold that has not expired (appointment_units, the table whose primary key forbids
# double booking). Ordered as the engine orders: (start, doctor). The indexes used are
# the schema's: doctors_specialty, schedule_templates_doctor,
# schedule_exceptions_doctor_day and the primary key of appointment_units.
#
# One difference, harmless for the seeded city: when two templates of one weekday
# overlap, imias.booking.schedules gives the overlap to the earlier one; here both
# would offer it. The seeded templates never overlap.

SQL_SEARCH = """
WITH docs AS (
    SELECT d.clinic_id, d.id, d.slot_minutes, c.time_zone
      FROM specialties s
      JOIN doctors d ON d.specialty_id = s.id
      JOIN clinics c ON c.id = d.clinic_id
     WHERE s.code = $1 AND s.self_referral AND d.active
       {clinic_filter}
),
days AS (
    SELECT g::date AS day FROM generate_series($2::date, $3::date, interval '1 day') AS g
),
blocks AS (
    SELECT o.clinic_id, o.id AS doctor_id, o.slot_minutes, o.time_zone, y.day,
           unnest(
               int4multirange(int4range(
                   (extract(epoch FROM t.starts) / 60)::int,
                   (extract(epoch FROM t.ends) / 60)::int))
               - coalesce(
                   (SELECT range_agg(int4range(
                               coalesce((extract(epoch FROM e.starts) / 60)::int, 0),
                               coalesce((extract(epoch FROM e.ends) / 60)::int, 1440)))
                      FROM schedule_exceptions e
                     WHERE e.clinic_id = o.clinic_id AND e.doctor_id = o.id
                       AND e.day = y.day),
                   '{{}}'::int4multirange)) AS r
      FROM docs o
      JOIN schedule_templates t ON t.clinic_id = o.clinic_id AND t.doctor_id = o.id
      JOIN days y ON extract(isodow FROM y.day) = t.weekday
                 AND y.day >= t.valid_from AND (t.valid_to IS NULL OR y.day <= t.valid_to)
     WHERE NOT t.urgent AND t.channels & $4 <> 0
    UNION ALL
    SELECT o.clinic_id, o.id, o.slot_minutes, o.time_zone, e.day,
           int4range((extract(epoch FROM e.starts) / 60)::int,
                     (extract(epoch FROM e.ends) / 60)::int)
      FROM docs o
      JOIN schedule_exceptions e ON e.clinic_id = o.clinic_id AND e.doctor_id = o.id
     WHERE e.kind = 'extra' AND e.day BETWEEN $2 AND $3 AND e.channels & $4 <> 0
),
slots AS (
    SELECT b.clinic_id, b.doctor_id, b.slot_minutes,
           (b.day + make_interval(mins => m)) AT TIME ZONE b.time_zone AS starts_at
      FROM blocks b,
           generate_series(greatest(lower(b.r), $7::int),
                           least(upper(b.r), $8::int) - b.slot_minutes,
                           b.slot_minutes::int) AS m
)
SELECT s.doctor_id, s.clinic_id, s.starts_at,
       s.starts_at + make_interval(mins => s.slot_minutes) AS ends_at
  FROM slots s
  -- each slot's own units, looked up by the units' primary key (a LATERAL with LIMIT 1:
  -- as NOT EXISTS the planner may hash every unit of the city instead, once the table
  -- has grown since its statistics were taken)
  LEFT JOIN LATERAL (
        SELECT 1 AS one
          FROM appointment_units u
          JOIN appointments a ON a.clinic_id = u.clinic_id AND a.id = u.appointment_id
         WHERE u.clinic_id = s.clinic_id AND u.doctor_id = s.doctor_id
           AND u.unit >= extract(epoch FROM s.starts_at)::bigint / 300
           AND u.unit < extract(epoch FROM s.starts_at)::bigint / 300 + s.slot_minutes / 5
           AND (a.status <> 'held' OR a.hold_expires_at > $5)
         LIMIT 1) taken ON true
 WHERE s.starts_at > $5 AND taken.one IS NULL
 ORDER BY s.starts_at, s.doctor_id
 LIMIT $6
"""

# $9: the clinics asked for.
_BY_CLINICS = "AND d.clinic_id = ANY ($9::bigint[])"
# $9, $10: a point; the NEAR_CLINICS nearest clinics with a doctor of the specialty
# (haversine, as imias.booking.directory.distance_km; ties by id).
_NEAR = f"""AND d.clinic_id IN (
           SELECT n.id FROM clinics n
            WHERE EXISTS (SELECT 1 FROM doctors x
                           WHERE x.clinic_id = n.id AND x.active
                             AND x.specialty_id = (SELECT id FROM specialties WHERE code = $1))
            ORDER BY 2 * 6371.0088 * asin(sqrt(
                         sin(radians(n.lat - $9::float8) / 2) ^ 2
                       + cos(radians($9::float8)) * cos(radians(n.lat))
                         * sin(radians(n.lon - $10::float8) / 2) ^ 2)),
                     n.id
            LIMIT {NEAR_CLINICS})"""

SQL_BY_KIND = {
    "clinic": SQL_SEARCH.format(clinic_filter=_BY_CLINICS),
    "near": SQL_SEARCH.format(clinic_filter=_NEAR),
    "city": SQL_SEARCH.format(clinic_filter=""),
}

# Patients for the flow: adults (18+ throughout the window, with a margin), admitted by
# the specialty's age and sex limits, attached to a clinic that has a doctor of the
# specialty when it is booked only there, with no live appointment or hold of it.
# The anti-join names the specialty by a sub-select, not by s.id: correlated on s.id,
# with the statistics of a city seeded empty and booked since (autovacuum off), the
# planner merged on the specialty and compared every patient with every appointment
# (36 s after 6,000 bench bookings on the demo city; 0.14 s so).
SQL_PATIENTS = """
SELECT p.id, p.attached_clinic_id
  FROM patients p, specialties s
 WHERE s.code = $1
   AND p.birth_date <= $2::date - make_interval(years => greatest(s.min_age, 18)::int)
   AND p.birth_date > $3::date - make_interval(years => s.max_age::int + 1)
   AND (s.sex IS NULL OR p.sex = s.sex)
   AND (NOT s.attached_only OR EXISTS (
            SELECT 1 FROM doctors d
             WHERE d.clinic_id = p.attached_clinic_id AND d.specialty_id = s.id AND d.active))
   AND NOT EXISTS (
            SELECT 1 FROM appointments a
             WHERE a.patient_id = p.id
               AND a.specialty_id = (SELECT id FROM specialties WHERE code = $1)
               AND (a.status IN ('booked', 'arrived') AND a.starts_at > $4
                    OR a.status = 'held' AND a.hold_expires_at > $4))
 ORDER BY p.id
 LIMIT $5
"""

SQL_SPECIALTY = "SELECT self_referral, attached_only FROM specialties WHERE code = $1"

# The size of a city, as `imias bench cities` reports it beside its figures. Exact
# counts: a few seconds on the full city, once per run.
SQL_CITY_SIZE = """
SELECT (SELECT count(*) FROM clinics) AS clinics,
       (SELECT count(*) FROM doctors) AS doctors,
       (SELECT count(*) FROM patients) AS patients,
       (SELECT count(*) FROM appointments) AS appointments,
       pg_database_size(current_database()) AS database_bytes,
       pg_size_pretty(pg_database_size(current_database())) AS database_size
"""
