"""Read and search of Medication, MedicationRequest and MedicationDispense, served by the
record's FHIR controller (:class:`ehr.FhirType`): the same routes, policy (patient,
doctor), Bundle and errors as the record's types.

Whose: as the JSON API (:class:`prescriptions.Prescriptions`): a patient their own and a
linked child's, a doctor by the record's access rule; each read and search is audited.
Medication (the catalogue, no personal data) is read and searched by any signed-in
patient or doctor, like Practitioner and Organization, and not audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request

from ehr import FhirType, codes
from ehr import fhir_resources as r
from ehr import fhir_search as s
from imias.identity import principal_of
from imias.platform.language import api_language as lang_of
from imias.platform.problems import ProblemError
from prescriptions.fhir import mapping
from prescriptions.service import Prescriptions

Page = tuple[list[r.Resource], list[object] | None]


def service_of(request: Request[Any, Any, Any]) -> Prescriptions:
    found: Prescriptions = request.app.state.prescriptions
    return found


def number(key: str, what: str) -> int:
    if not key.isdigit() or not 1 <= int(key) < 2**63:
        raise ProblemError(404, "not_found", f"There is no such {what}.")
    return int(key)


def after_of(query: Mapping[str, list[str]]) -> list[object] | None:
    raw = s.one(query, "_cursor")
    return None if raw is None else s.uncursor(raw)


def bad_cursor() -> ProblemError:
    return s.invalid("_cursor is not one this server gave.", "invalid_cursor")


class MedicationType(FhirType):
    kind = "Medication"
    params = (
        s.Param(
            "code",
            "token",
            f"the product ({mapping.PRODUCT_SYSTEM}|C08CA01-TAB-5) or the drug "
            f"({codes.ATC_SYSTEM}|C08CA01), with or without the system; code:text=amlo "
            "finds by the start of an INN or trade name (Russian or English)",
        ),
        s.Param("ingredient-code", "token", f"the drug's ATC code ({codes.ATC_SYSTEM})"),
    )
    documentation = (
        "The drug catalogue's products (id: the product code), ordered by code. Signed-in "
        "patients and doctors; no personal data, not audited."
    )

    async def read(self, request: Request[Any, Any, Any], key: str) -> r.Resource:
        found = service_of(request).catalogue.product(key)
        if found is None:
            raise ProblemError(404, "not_found", "There is no such medication.")
        return mapping.medication(*found, lang_of(request))

    async def search(self, request: Request[Any, Any, Any], query: Mapping[str, list[str]]) -> Page:
        query = dict(query)
        text = query.pop("code:text", None)
        s.check_params(self.kind, query, self.params)
        if "_sort" in query:
            raise s.invalid("Medication is ordered by its code only.", "unsupported_sort")
        if text is not None and len(text) > 1:
            raise s.invalid("code:text is given once.")
        catalogue = service_of(request).catalogue
        products = sorted(catalogue.products.items())
        code = s.one(query, "code")
        if code is not None:
            wanted = s.token(code, (mapping.PRODUCT_SYSTEM, codes.ATC_SYSTEM))
            system = code.rpartition("|")[0]
            products = [
                (c, (d, p))
                for c, (d, p) in products
                if (system != codes.ATC_SYSTEM and c == wanted)
                or (system != mapping.PRODUCT_SYSTEM and d.atc == wanted)
            ]
        ingredient = s.one(query, "ingredient-code")
        if ingredient is not None:
            atc = s.token(ingredient, (codes.ATC_SYSTEM,))
            products = [(c, (d, p)) for c, (d, p) in products if d.atc == atc]
        if text is not None:
            named = {d.atc for d, _ in catalogue.search(text[0], len(catalogue.drugs))}
            products = [(c, (d, p)) for c, (d, p) in products if d.atc in named]
        after = after_of(query)
        if after is not None:
            if len(after) != 1 or not isinstance(after[0], str):
                raise bad_cursor()
            last = after[0]
            products = [(c, found) for c, found in products if c > last]
        count = s.count_of(query)
        lang = lang_of(request)
        page = products[:count]
        return [mapping.medication(d, p, lang) for _, (d, p) in page], (
            [page[-1][0]] if len(products) > count else None
        )


class MedicationRequestType(FhirType):
    kind = "MedicationRequest"
    params = (
        s.Param("patient", "reference", "Patient/<id> or <id>; required"),
        s.Param(
            "status",
            "token",
            "active, completed (all dispensed), stopped (expired, or cancelled after a "
            f"dispensing), cancelled ({mapping.REQUEST_STATUS})",
        ),
        s.Param("authoredon", "date", "MedicationRequest.authoredOn (a day); eq ge gt le lt"),
    )
    documentation = (
        "Prescriptions, searched per patient, newest first, keyset-paged; read and "
        "searched as the JSON API's (the same access rule and audit)."
    )

    async def read(self, request: Request[Any, Any, Any], key: str) -> r.Resource:
        service = service_of(request)
        lang = lang_of(request)
        found = await service.one(principal_of(request), number(key, "prescription"), lang)
        return mapping.request(found, service.catalogue, lang)

    async def search(self, request: Request[Any, Any, Any], query: Mapping[str, list[str]]) -> Page:
        s.check_params(self.kind, query, self.params)
        patient = s.one(query, "patient")
        if patient is None:
            raise s.invalid(
                "A MedicationRequest search names the patient (patient=Patient/123).",
                "patient_required",
            )
        zone = ZoneInfo(request.app.state.settings.time_zone)
        since: date | None = None
        until: date | None = None
        for value in query.get("authoredon", []):
            low, high = s.date_range(value, zone)
            if low is not None:
                day = s.city_day(low, zone)
                since = day if since is None else max(since, day)
            if high is not None:
                day = s.city_day(high, zone)
                until = day if until is None else min(until, day)
        status = s.one(query, "status")
        if status is not None:
            status = s.token(status, (mapping.REQUEST_STATUS,))
        before: tuple[date, int] | None = None
        after = after_of(query)
        if after is not None:
            try:
                at, last = after
                assert isinstance(at, str) and isinstance(last, int)
                before = (date.fromisoformat(at), last)
            except (ValueError, AssertionError):
                raise bad_cursor() from None
        service = service_of(request)
        lang = lang_of(request)
        count = s.count_of(query)
        found = await service.search(
            principal_of(request),
            s.reference(patient, "Patient"),
            status=status,
            since=since,
            until=until,
            before=before,
            limit=count + 1,
            lang=lang,
        )
        page = found[:count]
        return [mapping.request(p, service.catalogue, lang) for p in page], (
            [page[-1].issued_on.isoformat(), page[-1].id] if len(found) > count else None
        )


class MedicationDispenseType(FhirType):
    kind = "MedicationDispense"
    params = (
        s.Param("patient", "reference", "Patient/<id> or <id>; this or prescription required"),
        s.Param("prescription", "reference", "MedicationRequest/<id> or <id>"),
    )
    documentation = (
        "Dispensings at pharmacies, searched per patient or prescription, newest first, "
        "keyset-paged; whose as MedicationRequest."
    )

    async def read(self, request: Request[Any, Any, Any], key: str) -> r.Resource:
        service = service_of(request)
        found = await service.dispensing(principal_of(request), number(key, "dispensing"))
        return mapping.dispense(found, service.catalogue, lang_of(request))

    async def search(self, request: Request[Any, Any, Any], query: Mapping[str, list[str]]) -> Page:
        s.check_params(self.kind, query, self.params)
        if "_sort" in query:
            raise s.invalid("MedicationDispense is ordered newest first only.", "unsupported_sort")
        patient = s.one(query, "patient")
        prescription = s.one(query, "prescription")
        if patient is None and prescription is None:
            raise s.invalid(
                "A MedicationDispense search names the patient or the prescription "
                "(patient=Patient/123, prescription=MedicationRequest/456).",
                "patient_required",
            )
        below: int | None = None
        after = after_of(query)
        if after is not None:
            if len(after) != 1 or not isinstance(after[0], int):
                raise bad_cursor()
            below = after[0]
        service = service_of(request)
        count = s.count_of(query)
        found = await service.dispensings(
            principal_of(request),
            None if patient is None else s.reference(patient, "Patient"),
            None if prescription is None else s.reference(prescription, "MedicationRequest"),
            below,
            count + 1,
        )
        page = found[:count]
        lang = lang_of(request)
        return [mapping.dispense(d, service.catalogue, lang) for d in page], (
            [page[-1].id] if len(found) > count else None
        )


def types() -> tuple[FhirType, ...]:
    """The three, for :func:`ehr.add_fhir_types`."""
    return (MedicationType(), MedicationRequestType(), MedicationDispenseType())
