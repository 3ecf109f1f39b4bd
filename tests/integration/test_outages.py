"""/health names the part that is down, and recovers when it is back."""

import os
import signal

import pytest
from litestar.testing import AsyncTestClient

from imias.app import create_app
from imias.platform.embedded import EmbeddedRedis
from imias.platform.settings import load_settings


@pytest.fixture
def own_redis(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("outage"))
    server.start()
    yield server
    server.stop()


async def test_killed_embedded_redis_is_503_naming_redis_then_recovers(database_url, own_redis):
    settings = load_settings({}, database_url=database_url, redis_url=own_redis.url)
    app = create_app(settings)
    async with AsyncTestClient(app) as client:
        await app.state.engine.wait_loaded()
        await own_redis_data(own_redis)
        assert (await client.get("/health")).json()["redis"] == "ok"
        pid = own_redis.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        own_redis._process.wait(10)

        down = await client.get("/health")
        assert down.status_code == 503
        assert down.headers["content-type"].startswith("application/problem+json")
        body = down.json()
        assert body["failing"] == ["redis"]
        assert body["redis"] == "down" and body["database"] == "ok"
        assert "redis" in body["detail"]

        own_redis.start()
        up = await client.get("/health")
        assert up.status_code == 200, up.text
        assert up.json()["redis"] == "ok"


async def own_redis_data(server: EmbeddedRedis) -> None:
    """The embedded Redis is a real server: it stores and answers."""
    import redis

    client = redis.Redis.from_url(server.url)
    try:
        client.set("imias:test:probe", b"1")
        assert client.get("imias:test:probe") == b"1"
    finally:
        client.close()


async def test_unreachable_database_is_503_naming_the_database(redis_url, tmp_path):
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    settings = load_settings(
        {}, database_url="postgresql://postgres@127.0.0.1:1/imias", redis_url=redis_url
    )
    app = create_app(settings)
    async with AsyncTestClient(app) as client:
        await app.state.engine.wait_loaded()
        response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    # The engine is built from the database, so it cannot load either.
    assert body["failing"] == ["database", "engine"]
    assert body["database"] == "down" and body["redis"] == "ok"
    assert body["engine_error"].startswith("load failed")


def test_stopping_a_redis_another_process_started_leaves_it_running(own_redis):
    """`imias migrate` beside a serving `imias serve` must not stop the server's Redis."""
    visitor = EmbeddedRedis(own_redis.data_dir)
    visitor.start()  # finds the server answering and uses it
    visitor.stop()
    assert own_redis.ping(), "the serving process's Redis is still up"
