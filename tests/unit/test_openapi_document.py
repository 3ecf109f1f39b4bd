"""The OpenAPI document says what the API does beyond what Litestar infers (read off the
app itself, no server): strict bodies, the required Idempotency-Key, the problem
documents of every API route, the format of ``near``."""

from imias.app import create_app
from imias.platform.settings import load_settings


def document() -> dict:
    return create_app(load_settings({})).openapi_schema.to_schema()


def test_bodies_that_refuse_unknown_fields_say_so():
    schemas = document()["components"]["schemas"]
    for name in ("HoldRequest", "BookRequest", "RescheduleRequest", "WaitlistRequest"):
        assert schemas[name]["additionalProperties"] is False, name
    assert schemas["Problem"].get("additionalProperties") is not False  # extras: message_ru


def test_the_retry_safe_routes_require_an_idempotency_key():
    paths = document()["paths"]
    for path in (
        "/api/v1/holds/{token}/confirm",
        "/api/v1/appointments",
        "/api/v1/appointments/{appointment_id}/reschedule",
    ):
        headers = {p["name"]: p for p in paths[path]["post"]["parameters"] if p["in"] == "header"}
        key = headers["Idempotency-Key"]
        assert key["required"] is True
        assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (8, 128)
    holds = paths["/api/v1/holds"]["post"].get("parameters", [])
    assert "Idempotency-Key" not in [p["name"] for p in holds]


def test_every_api_route_documents_its_problem_documents():
    paths = document()["paths"]
    for path, item in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            responses = operation["responses"]
            for status in ("400", "401", "404", "409", "422", "429", "503"):
                content = responses[status]["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)
            # 403 on the routes that need a caller (the bearer scheme), not on public ones.
            assert ("403" in responses) == bool(operation.get("security")), (method, path)


def test_near_says_its_format():
    parameters = document()["paths"]["/api/v1/clinics"]["get"]["parameters"]
    near = next(p for p in parameters if p["name"] == "near")
    assert near["schema"]["pattern"].startswith("^-?[0-9]")


def test_head_health_and_the_engines_state_for_operators():
    paths = document()["paths"]
    assert {"get", "head"} <= set(paths["/health"])
    assert paths["/api/v1/engine/state"]["get"]["security"]
