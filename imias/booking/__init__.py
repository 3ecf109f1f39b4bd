"""Booking: clinics, doctors, schedules and appointments over PostgreSQL and Redis,
with the scheduler_core engine in front (DESIGN.md, hot path)."""

__all__: list[str] = []
