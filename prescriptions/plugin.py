"""Prescriptions as the app assembles them: their routes, their FHIR types (served under
the record's ``/fhir/R4``), their use cases (``app.state.prescriptions``), their
migrations and ``imias catalogue``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import asyncpg
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from ehr import add_fhir_types
from imias.identity import resolve_secret
from imias.platform.plugin import DomainPlugin, provide
from imias.platform.settings import Settings
from prescriptions import repository as repo
from prescriptions.api import CounterController, DrugController, PrescriptionController
from prescriptions.commands import catalogue, signing_keys
from prescriptions.fhir.types import types as fhir_types
from prescriptions.formulary import Catalogue
from prescriptions.service import Prescriptions, refresh_catalogue
from prescriptions.signing import LocalAuthority, Signer

log = logging.getLogger("imias.prescriptions")


async def load_catalogue(pool: object) -> Catalogue:
    """The newest imported catalogue; the bundled one is imported when there is none."""
    latest = await repo.latest_catalogue(pool)  # type: ignore[arg-type]
    if latest is not None:
        return Catalogue.decode(latest[1])
    bundled = Catalogue.bundled()
    from importlib import resources

    body = resources.files("prescriptions.catalogue").joinpath("drugs.json").read_bytes()
    await repo.store_catalogue(
        pool,  # type: ignore[arg-type]
        bundled.version,
        bundled.data.published,
        body,
        datetime.now(UTC),
    )
    return bundled


class PrescriptionsPlugin(DomainPlugin):
    name = "prescriptions"
    migrations = "prescriptions.migrations"
    commands = (catalogue, signing_keys)

    def __init__(self, settings: Settings, *, signer: Signer | None = None) -> None:
        super().__init__(settings)
        self.signer = signer  # default: the system's own authority (LocalAuthority)

    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        return [DrugController, PrescriptionController, CounterController]

    def dependencies(self) -> dict[str, Provide]:
        return {"prescriptions": provide("prescriptions")}

    def configure(self, app_config: AppConfig) -> None:
        # Medication, MedicationRequest, MedicationDispense under /fhir/R4 (ehr's routes).
        add_fhir_types(app_config, *fhir_types())

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        settings = self.settings
        zone = ZoneInfo(settings.time_zone)

        def today() -> date:  # the city's day
            return datetime.now(UTC).astimezone(zone).date()

        signer = self.signer
        if signer is None:
            secret = await asyncio.to_thread(
                resolve_secret, settings.secret_key, settings.data_dir, announce=False
            )
            signer = LocalAuthority(app.state.db, secret)
        try:
            catalogue = await load_catalogue(app.state.db)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # The database is away (health says so); prescribe from the bundled catalogue
            # and take the imported one when it is back (refresh_catalogue).
            log.warning("drug catalogue: database unavailable (%s); the bundled one is used", exc)
            catalogue = Catalogue.bundled()
        app.state.prescriptions = service = Prescriptions(
            app.state.db,
            app.state.identity,
            app.state.records,
            signer,
            catalogue,
            city=settings.city_code,
            today=today,
        )
        app.state.records.medications = service  # the card's current medications
        refresher = asyncio.create_task(refresh_catalogue(service))
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
