"""The assembled app against the real database and Redis: health, OpenAPI,
problem documents and request ids."""

import json
import logging

import asyncpg
import msgspec
import pytest
from litestar import get, post
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient

from imias.app import create_app
from imias.identity import PUBLIC
from imias.platform.problems import ProblemError
from imias.platform.settings import load_settings


class Greeting(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    age: int


@post("/test/greet", operation_id="testGreet", opt=PUBLIC)
async def greet(data: JSONBody[Greeting]) -> dict:
    return {"hello": data.name}


@get("/test/refuse", operation_id="testRefuse", opt=PUBLIC)
async def refuse() -> None:
    raise ProblemError(409, "slot_taken", "Someone else took this time.", extra={"slot": 7})


@get("/test/db-gone", operation_id="testDbGone", opt=PUBLIC)
async def db_gone() -> None:
    raise asyncpg.CannotConnectNowError("the database system is shutting down")


@get("/test/crash", operation_id="testCrash", opt=PUBLIC)
async def crash() -> None:
    raise RuntimeError("database password is hunter2")


@pytest.fixture
async def client(database_url, redis_url, tmp_path):
    settings = load_settings(
        {}, database_url=database_url, redis_url=redis_url, data_dir=str(tmp_path)
    )
    app = create_app(settings)
    for handler in (greet, refuse, crash, db_gone):
        app.register(handler)
    async with AsyncTestClient(app) as test_client:
        await app.state.engine.wait_loaded()
        yield test_client


async def test_health_is_ok_with_database_redis_and_engine(client):
    response = await client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok" and body["redis"] == "ok" and body["engine"] == "ok"
    assert body["engine_details"]["implementation"] in {"cython", "python"}


async def test_openapi_document_lists_the_routes(client):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "IMIAS"
    assert document["paths"]["/health"]["get"]["operationId"] == "getHealth"


async def test_unknown_route_is_a_problem_document_with_a_request_id(client):
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "not_found" and body["status"] == 404
    assert body["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_a_problem_document(client):
    response = await client.delete("/health")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


async def test_invalid_body_is_a_validation_problem(client):
    response = await client.post("/test/greet", json={"name": "Anna", "age": "old", "x": 1})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "validation_error"
    ok = await client.post("/test/greet", json={"name": "Anna", "age": 30})
    assert ok.status_code == 201 and ok.json() == {"hello": "Anna"}


async def test_malformed_json_is_a_400_problem_not_a_500(client):
    response = await client.post(
        "/test/greet", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] in {"validation_error", "bad_request"}


async def test_domain_refusals_keep_their_code_and_extras(client):
    response = await client.get("/test/refuse")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "slot_taken"
    assert body["detail"] == "Someone else took this time."
    assert body["slot"] == 7
    assert body["type"].endswith("/slot_taken")


async def test_unexpected_errors_are_500_problems_that_leak_nothing(client, caplog):
    with caplog.at_level(logging.ERROR, logger="imias.errors"):
        response = await client.get("/test/crash")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert "hunter2" not in response.text
    logged = [r for r in caplog.records if r.name == "imias.errors"]
    assert logged and logged[0].exc_info is not None


async def test_a_client_request_id_is_echoed_and_a_bad_one_replaced(client):
    response = await client.get("/health", headers={"X-Request-ID": "call-centre-000123"})
    assert response.headers["x-request-id"] == "call-centre-000123"
    response = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32


async def test_access_log_lines_carry_the_request_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="imias.access"):
        response = await client.get("/health", headers={"X-Request-ID": "trace-abcdef01"})
    from imias.platform.logs import JsonFormatter

    lines = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "imias.access"
    ]
    assert any(
        line.get("request_id") == "trace-abcdef01" and line.get("status") == response.status_code
        for line in lines
    )


async def test_a_lost_database_is_a_503_to_retry_not_a_500(client):
    response = await client.get("/test/db-gone")
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert response.headers["retry-after"] == "5"


async def test_every_route_has_an_operation_id(client):
    document = (await client.get("/schema/openapi.json")).json()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) > 20
    ids = [op.get("operationId") for op in operations]
    assert all(ids) and len(ids) == len(set(ids))
