"""The OpenAPI document says what the API does: schemathesis generates requests from it
for the booking, identity and record routes and checks every answer against it (all its
checks: no server error, every status and content type documented, bodies as their
schemas say, invalid input refused, a required header refused when missing...), against
`imias serve` on a small city, signed in as the role each route is for."""

import re

import bearer
import pytest
import schemathesis
from citydb import build_city_database, drop_database, worker_id
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS
from serving import serve

pytestmark = pytest.mark.slow

# The booking and identity routes.
BOOKING = (
    "holds|appointments|patients|waitlist|referrals|doctors|specialties|clinics|slots|holidays"
)
IDENTITY = "auth|me|staff|break-glass|audit"
RECORDS = "encounters|diagnoses|protocol-templates|records"
ROUTES = rf"^/api/v1/({BOOKING}|{IDENTITY}|{RECORDS})"
DOCTORS = (
    "/api/v1/referrals",
    "/api/v1/break-glass",
    "/api/v1/doctors",
    "/api/v1/encounters",
    "/api/v1/records",
)
EXAMPLES = 8  # a bounded number of examples per route: the suite stays short


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_conformance_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=6, doctors=60, patients=300)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("conformance") / "serve.log"
    with serve(city, redis_url, log, workers=1, secret_key=bearer.TEST_SECRET) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(server):
    schema = schemathesis.openapi.from_url(server + "/schema/openapi.json")
    return schema.include(path_regex=ROUTES)


def caller_for(method: str, path: str) -> dict[str, str]:
    """A token of the role the route is for (the others are refused with a documented
    401 or 403, which the checks accept too)."""
    if path.startswith(("/api/v1/staff", "/api/v1/audit", "/api/v1/holidays")):
        return bearer.administrator()
    if path.startswith("/api/v1/clinics/") and re.search(r"/(schedule|templates|exceptions)", path):
        return bearer.administrator()  # a clinic's schedules (clinics.md)
    if path.startswith(DOCTORS) or re.search(r"/(complete|no-show)$", path):
        return bearer.doctor(1, 1)
    return bearer.patient(1)


def test_the_api_does_what_its_document_says(api_schema, server):
    # schemathesis's own pytest loader (from_fixture) does not run on pytest 9 (it reads a
    # node's private _nodeid); its Python API does: each operation's strategy, driven by
    # hypothesis here, every check on every answer.
    # Every check but one: positive_data_acceptance wants a 2xx for any request the
    # document admits, and some refusals rest on what OpenAPI cannot say (a day between
    # 1900 and 2199 in a "date" string, "a specialty or a doctor" among query parameters).
    # Such a request is refused with a documented 400 problem, which the other checks see.
    checks = [c for c in CHECKS.get_all() if c.__name__ != "positive_data_acceptance"]
    assert len(checks) >= 8, [c.__name__ for c in checks]
    failed: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    labels = " ".join(op.label for op in operations)
    assert "/api/v1/encounters/{encounter_id}/sign" in labels, labels  # the record's too
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def conforms(case):
            headers = caller_for(case.method, case.path)
            case.call_and_validate(base_url=server, headers=headers, checks=checks)

        try:
            conforms()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is tried, all told
            failed[operation.label] = str(exc)[:2000]
    assert not failed, "\n\n".join(f"{label}:\n{text}" for label, text in failed.items())
