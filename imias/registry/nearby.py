"""The nearest clinics to a point, by great-circle distance, without measuring them all.

Clinics are bucketed into square cells about :data:`CELL_KM` wide (at the clinics' mean
latitude); a question looks at the
point's cell, then the rings of cells around it, and stops as soon as the ``limit``-th
nearest clinic found is nearer than anything in the rings not yet looked at can be.
A point far outside the city measures every clinic instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imias.registry.model import Clinic

EARTH_RADIUS_KM = 6371.0088
CELL_KM = 2.5
KM_PER_DEG = math.pi * EARTH_RADIUS_KM / 180
FAR_CELLS = 4  # a point this many cells outside the clinics' box measures them all


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


class ClinicGrid:
    def __init__(self, clinics: Iterable[Clinic]) -> None:
        self.clinics = list(clinics)
        self.cells: dict[
            tuple[int, int], list[tuple[float, float, float, Clinic]]
        ] = {}  # (lat rad, lon deg, cos lat, clinic)
        if not self.clinics:
            return
        mean_lat = sum(c.lat for c in self.clinics) / len(self.clinics)
        self.lat_deg = CELL_KM / KM_PER_DEG
        self.lon_deg = min(self.lat_deg / max(math.cos(math.radians(mean_lat)), 0.1), 10.0)
        for c in self.clinics:
            p = math.radians(c.lat)
            entry = (p, c.lon, math.cos(p), c)
            self.cells.setdefault(self._cell(c.lat, c.lon), []).append(entry)
        rows = [i for i, _ in self.cells]
        cols = [j for _, j in self.cells]
        self.box = (min(rows), max(rows), min(cols), max(cols))
        self.max_lat = max(abs(c.lat) for c in self.clinics)

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat / self.lat_deg), math.floor(lon / self.lon_deg)

    def nearest(self, lat: float, lon: float, limit: int) -> list[tuple[float, Clinic]]:
        """The ``limit`` nearest clinics with their distances (km), nearest first, ties
        by id."""
        if limit <= 0 or not self.clinics:
            return []
        i0, j0 = self._cell(lat, lon)
        imin, imax, jmin, jmax = self.box
        far = FAR_CELLS
        if not (imin - far <= i0 <= imax + far and jmin - far <= j0 <= jmax + far):
            return _ranked(
                [(distance_km(lat, lon, c.lat, c.lon), c.id, c) for c in self.clinics], limit
            )
        # Past ring r every clinic not yet seen is at least r whole cells away.
        widest_lat = min(89.0, max(self.max_lat, abs(lat)) + self.lat_deg)
        lon_km = self.lon_deg * KM_PER_DEG * math.cos(math.radians(widest_lat))
        cell_km = min(self.lat_deg * KM_PER_DEG, lon_km) * 0.99
        p1 = math.radians(lat)
        cos1 = math.cos(p1)
        sin, asin, sqrt, radians = math.sin, math.asin, math.sqrt, math.radians
        last_ring = max(i0 - imin, imax - i0, j0 - jmin, jmax - j0)
        found: list[tuple[float, int, Clinic]] = []
        r = 0
        while True:
            for cell in _ring(i0, j0, r):
                for p2, lon2, cos2, c in self.cells.get(cell, ()):
                    # distance_km to the digit, with the clinic's radians and cosine
                    # made once
                    a = sin((p2 - p1) / 2) ** 2 + cos1 * cos2 * sin(radians(lon2 - lon) / 2) ** 2
                    found.append((2 * EARTH_RADIUS_KM * asin(sqrt(a)), c.id, c))
            if r >= last_ring:
                break
            if len(found) >= limit:
                found.sort()
                if found[limit - 1][0] <= r * cell_km:
                    break
            r += 1
        return _ranked(found, limit)


def _ring(i0: int, j0: int, r: int) -> Iterable[tuple[int, int]]:
    if r == 0:
        yield i0, j0
        return
    for j in range(j0 - r, j0 + r + 1):
        yield i0 - r, j
        yield i0 + r, j
    for i in range(i0 - r + 1, i0 + r):
        yield i, j0 - r
        yield i, j0 + r


def _ranked(found: list[tuple[float, int, Clinic]], limit: int) -> list[tuple[float, Clinic]]:
    found.sort()
    return [(d, c) for d, _, c in found[:limit]]
