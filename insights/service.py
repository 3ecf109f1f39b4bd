"""The dashboard's use cases: a scope checked (the period, the specialty, the district, the
clinic a clinic administrator is bound to), then each figure read from the aggregates."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from imias.platform.problems import ProblemError
from insights import aggregate
from insights import queries as q
from insights import repository as repo
from insights.model import (
    MAX_PERIOD_DAYS,
    ChannelShare,
    ClinicOnMap,
    Dashboard,
    EarliestBySpecialty,
    EarliestDay,
    Freshness,
    LoadDay,
    LoadRow,
    Moves,
    RefusalRow,
    Scope,
    ServedDay,
    WaitRow,
)

#: The period when none is asked: the last 30 days, today included.
DEFAULT_DAYS = 30
#: How long the clinics' and specialties' names are kept before they are read again.
NAMES_SECONDS = 300.0


class Names(msgspec.Struct, frozen=True):
    clinics: dict[int, dict[str, Any]]
    districts: frozenset[str]
    specialty_ids: dict[str, int]  # code -> id
    specialty_codes: dict[int, str]  # id -> code
    specialty_names: dict[str, dict[str, str]]  # code -> {"ru": ..., "en": ...}


class Insights:
    """The figures over one pool; "today" in the city's zone."""

    def __init__(
        self, pool: asyncpg.Pool, zone: ZoneInfo, clock: Callable[[], datetime] | None = None
    ):
        self.pool, self.zone = pool, zone
        self.clock = clock or (lambda: datetime.now(UTC))
        self._names: Names | None = None
        self._names_at = 0.0

    def today(self) -> date:
        return self.clock().astimezone(self.zone).date()

    async def names(self) -> Names:
        if self._names is None or time.monotonic() - self._names_at > NAMES_SECONDS:
            clinics = {r["id"]: dict(r) for r in await repo.clinics(self.pool)}
            specialties = await repo.specialties(self.pool)
            self._names = Names(
                clinics=clinics,
                districts=frozenset(c["district"] for c in clinics.values()),
                specialty_ids={r["code"]: r["id"] for r in specialties},
                specialty_codes={r["id"]: r["code"] for r in specialties},
                specialty_names={
                    r["code"]: {"ru": r["name_ru"], "en": r["name_en"]} for r in specialties
                },
            )
            self._names_at = time.monotonic()
        return self._names

    async def scope(
        self,
        *,
        first: date | None = None,
        last: date | None = None,
        clinic_id: int | None = None,
        district: str | None = None,
        specialty: str | None = None,
        bound_to: int | None = None,
    ) -> Scope:
        """A scope from what was asked (400 with a code for what is not known; 403 for a
        clinic administrator, ``bound_to`` her clinic, asking another clinic)."""
        names = await self.names()
        last = last or self.today()
        first = first or last - timedelta(days=DEFAULT_DAYS - 1)
        if last < first:
            raise ProblemError(
                400,
                "invalid_range",
                "'to' is before 'from'.",
                extra=_ru("Конец периода раньше начала."),
            )
        if (last - first).days + 1 > MAX_PERIOD_DAYS:
            raise ProblemError(
                400,
                "period_too_long",
                f"A period is at most {MAX_PERIOD_DAYS} days; ask for a shorter one.",
                extra=_ru(f"Период — не больше {MAX_PERIOD_DAYS} дней; выберите короче."),
            )
        if bound_to is not None:
            if clinic_id is not None and clinic_id != bound_to:
                raise ProblemError(
                    403,
                    "forbidden",
                    "You see your own clinic's figures only.",
                    extra=_ru("Вам видны показатели только вашей поликлиники."),
                )
            clinic_id = bound_to
        if clinic_id is not None and clinic_id not in names.clinics:
            raise ProblemError(
                404,
                "unknown_clinic",
                f"There is no clinic {clinic_id}.",
                extra=_ru("Такой поликлиники нет."),
            )
        if district is not None and district not in names.districts:
            raise ProblemError(
                400,
                "unknown_district",
                f"There is no district {district!r}.",
                extra=_ru("Такого округа нет."),
            )
        specialty_id = None
        if specialty is not None:
            if specialty not in names.specialty_ids:
                raise ProblemError(
                    400,
                    "unknown_specialty",
                    f"There is no specialty {specialty!r}.",
                    extra=_ru("Такой специальности нет."),
                )
            specialty_id = names.specialty_ids[specialty]
        return Scope(first, last, clinic_id, district, specialty_id)

    @staticmethod
    def _args(scope: Scope) -> tuple[Any, ...]:
        return (scope.first, scope.last, scope.clinic_id, scope.district, scope.specialty_id)

    async def _rows(self, conn: Any, query: str, scope: Scope) -> list[Any]:
        """A figure's rows, on ``conn`` (one of :meth:`reading`) or a connection of its own."""
        if conn is not None:
            return await repo.figure(conn, query, self._args(scope))
        async with repo.reading(self.pool) as own:
            return await repo.figure(own, query, self._args(scope))

    # -- the figures ----------------------------------------------------------------------

    async def earliest(self, scope: Scope, conn: Any = None) -> list[EarliestDay]:
        rows = await self._rows(conn, q.EARLIEST_DAYS, scope)
        return [
            EarliestDay(
                day=r["day"],
                mean_days=_mean(r["days_sum"], r["samples"] - r["none_found"]),
                samples=r["samples"],
                none_found_share=aggregate.share(r["none_found"], r["samples"]),
            )
            for r in rows
        ]

    async def earliest_by_specialty(
        self, scope: Scope, conn: Any = None
    ) -> list[EarliestBySpecialty]:
        names = await self.names()
        rows = await self._rows(conn, q.EARLIEST_BY_SPECIALTY, scope)
        return [
            EarliestBySpecialty(
                specialty=names.specialty_codes[r["specialty_id"]],
                mean_days=_mean(r["days_sum"], r["samples"] - r["none_found"]),
                samples=r["samples"],
                none_found_share=aggregate.share(r["none_found"], r["samples"]),
            )
            for r in rows
        ]

    async def served(self, scope: Scope, conn: Any = None) -> list[ServedDay]:
        rows = await self._rows(conn, q.SERVED_DAYS, scope)
        return [_served(r["day"], r["made"], r["same_or_next"]) for r in rows]

    async def channels(self, scope: Scope, conn: Any = None) -> list[ChannelShare]:
        rows = await self._rows(conn, q.CHANNELS, scope)
        total = sum(r["made"] for r in rows)
        return [
            ChannelShare(r["channel"], r["made"], aggregate.share(r["made"], total)) for r in rows
        ]

    async def load_by_specialty(self, scope: Scope, conn: Any = None) -> list[LoadRow]:
        names = await self.names()
        rows = await self._rows(conn, q.LOAD_BY_SPECIALTY, scope)
        return [_load(r, None, None, names.specialty_codes[r["specialty_id"]]) for r in rows]

    async def load_by_clinic(self, scope: Scope, conn: Any = None) -> list[LoadRow]:
        names = await self.names()
        rows = await self._rows(conn, q.LOAD_BY_CLINIC, scope)
        return [
            _load(
                r,
                r["clinic_id"],
                names.clinics[r["clinic_id"]]["name"],
                names.specialty_codes[r["specialty_id"]],
            )
            for r in rows
        ]

    async def load_days(self, scope: Scope, conn: Any = None) -> list[LoadDay]:
        rows = await self._rows(conn, q.LOAD_DAYS, scope)
        return [
            LoadDay(
                day=r["day"],
                offered_minutes=r["offered_minutes"],
                booked_minutes=r["booked_minutes"],
                load=aggregate.share(r["booked_minutes"], r["offered_minutes"]),
                appointments=r["appointments"],
                no_shows=r["no_shows"],
            )
            for r in rows
        ]

    async def waits(self, scope: Scope, conn: Any = None) -> tuple[list[WaitRow], WaitRow]:
        """Per clinic, and over every clinic of the scope."""
        names = await self.names()
        rows = await self._rows(conn, q.WAITS_BY_CLINIC, scope)
        by_clinic: dict[int, list[int]] = {}
        for r in rows:
            by_clinic[r["clinic_id"]] = aggregate.merge(
                [by_clinic.get(r["clinic_id"], []), r["minutes"]]
            )
        per_clinic = [
            _wait(clinic, names.clinics[clinic]["name"], h)
            for clinic, h in sorted(by_clinic.items())
        ]
        return per_clinic, _wait(None, None, aggregate.merge(by_clinic.values()))

    async def refusals(self, scope: Scope, conn: Any = None) -> list[RefusalRow]:
        rows = await self._rows(conn, q.REFUSALS, scope)
        total = sum(r["refused"] for r in rows)
        return [
            RefusalRow(r["code"], r["refused"], aggregate.share(r["refused"], total)) for r in rows
        ]

    async def moves(self, scope: Scope, conn: Any = None) -> Moves:
        """Patients moved by their clinic in the scope, by state."""
        rows = await self._rows(conn, q.MOVES, scope)
        return Moves(**{r["state"]: r["n"] for r in rows if r["state"] in Moves.__struct_fields__})

    async def map(self, scope: Scope, conn: Any = None) -> list[ClinicOnMap]:
        """The clinics of the scope with their mean days to the earliest slot and their
        share of visits within the 20-minute mark."""
        names = await self.names()
        executor = conn
        earliest = {
            r["clinic_id"]: _mean(r["days_sum"], r["samples"] - r["none_found"])
            for r in await self._rows(executor, q.EARLIEST_BY_CLINIC, scope)
        }
        waits, _ = await self.waits(scope, executor)
        within = {w.clinic_id: w.within_mark_share for w in waits}
        out = []
        for clinic_id, c in names.clinics.items():
            if scope.clinic_id is not None and clinic_id != scope.clinic_id:
                continue
            if scope.district is not None and c["district"] != scope.district:
                continue
            out.append(
                ClinicOnMap(
                    clinic_id=clinic_id,
                    name=c["name"],
                    district=c["district"],
                    lat=c["lat"],
                    lon=c["lon"],
                    mean_days=earliest.get(clinic_id),
                    wait_within_mark_share=within.get(clinic_id),
                )
            )
        return out

    async def freshness(self, conn: Any = None) -> Freshness:
        runs = await repo.runs(conn or self.pool)
        return Freshness(load=runs.get("visits"), earliest=runs.get("earliest"))

    async def dashboard(self, scope: Scope) -> Dashboard:
        """Every figure of the scope, on one connection."""
        names = await self.names()
        async with repo.reading(self.pool) as conn:
            served = await self.served(scope, conn)
            by_specialty = await self.load_by_specialty(scope, conn)
            waits, waits_total = await self.waits(scope, conn)
            return Dashboard(
                first=scope.first,
                last=scope.last,
                clinic_id=scope.clinic_id,
                district=scope.district,
                specialty=names.specialty_codes.get(scope.specialty_id or -1),
                earliest=await self.earliest(scope, conn),
                earliest_by_specialty=await self.earliest_by_specialty(scope, conn),
                served=served,
                served_total=_served(
                    scope.last, sum(s.made for s in served), sum(s.same_or_next for s in served)
                )
                if served
                else None,
                load_by_specialty=by_specialty,
                load_total=_total(by_specialty),
                load_days=await self.load_days(scope, conn),
                channels=await self.channels(scope, conn),
                waits=waits,
                waits_total=waits_total,
                refusals=await self.refusals(scope, conn),
                freshness=await self.freshness(conn),
                moves=await self.moves(scope, conn),
            )


def _ru(sentence: str) -> dict[str, str]:
    return {"message_ru": sentence}


def _mean(total: int, n: int) -> float | None:
    return total / n if n > 0 else None


def _served(day: date, made: int, soon: int) -> ServedDay:
    return ServedDay(day=day, made=made, same_or_next=soon, share=aggregate.share(soon, made))


def _load(r: Any, clinic_id: int | None, clinic_name: str | None, specialty: str | None) -> LoadRow:
    return LoadRow(
        clinic_id=clinic_id,
        clinic_name=clinic_name,
        specialty=specialty,
        offered_minutes=r["offered_minutes"],
        booked_minutes=r["booked_minutes"],
        load=aggregate.share(r["booked_minutes"], r["offered_minutes"]),
        appointments=r["appointments"],
        no_shows=r["no_shows"],
        no_show_share=aggregate.share(r["no_shows"], r["appointments"]),
        cancelled=r["cancelled"],
    )


def _total(rows: list[LoadRow]) -> LoadRow:
    sums = {
        k: sum(getattr(r, k) for r in rows)
        for k in ("offered_minutes", "booked_minutes", "appointments", "no_shows", "cancelled")
    }
    return _load(sums, None, None, None)


def _wait(clinic_id: int | None, name: str | None, histogram: list[int]) -> WaitRow:
    visits = sum(histogram)
    within = aggregate.within_mark(histogram)
    return WaitRow(
        clinic_id=clinic_id,
        clinic_name=name,
        visits=visits,
        within_mark=within,
        within_mark_share=aggregate.share(within, visits),
        median_minutes=aggregate.quantile(histogram, 0.5),
        p90_minutes=aggregate.quantile(histogram, 0.9),
    )
