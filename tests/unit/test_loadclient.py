"""The load generator's HTTP client against a small real server (asyncio sockets)."""

import asyncio
import json

import pytest

from loadtest.client import Connection, TransportError


async def serve(answers):
    """A server that reads one request at a time and writes the next canned answer
    (bytes, or None to close the connection); returns (server, url, requests seen)."""
    seen: list[bytes] = []
    queue = list(answers)

    async def handle(reader, writer):
        while queue:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
            seen.append(head + body)
            answer = queue.pop(0)
            if answer is None:
                writer.close()
                return
            if answer == b"hang":
                await asyncio.sleep(10)
                return
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", seen


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_keep_alive_json_and_query_and_headers():
    server, url, seen = await serve([ok(b'{"a": 1}'), ok(b"[1,2]")])
    async with server:
        conn = Connection(url)
        first = await conn.post("/x", json={"k": "в"}, headers={"Idempotency-Key": "abc"})
        second = await conn.get("/y", params={"near": "55.7,37.6", "limit": 3})
        await conn.aclose()
    assert first.status_code == 200 and first.json() == {"a": 1}
    assert second.json() == [1, 2]
    assert seen[0].startswith(b"POST /x HTTP/1.1\r\n")
    assert b"Idempotency-Key: abc\r\n" in seen[0]
    assert json.loads(seen[0].split(b"\r\n\r\n", 1)[1]) == {"k": "в"}
    assert seen[1].startswith(b"GET /y?near=55.7%2C37.6&limit=3 HTTP/1.1\r\n")


async def test_chunked_bodies_and_problem_statuses():
    chunked = (
        b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"cod\r\n8\r\ne": "x"}\r\n0\r\n\r\n'
    )
    server, url, _ = await serve([chunked])
    async with server:
        conn = Connection(url)
        response = await conn.get("/z")
        await conn.aclose()
    assert response.status_code == 409
    assert response.json() == {"code": "x"}


async def test_a_malformed_chunk_is_an_error():
    server, url, _ = await serve([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"])
    async with server:
        conn = Connection(url, timeout=1)
        with pytest.raises(TransportError, match="chunk"):
            await conn.get("/bad")
        await conn.aclose()


async def test_a_closed_connection_is_an_error_then_reconnects():
    server, url, seen = await serve([None])
    async with server:
        conn = Connection(url)
        with pytest.raises(TransportError):
            await conn.get("/gone")
    server2, url2, _ = await serve([ok(b"{}"), ok(b"{}")])
    async with server2:
        conn = Connection(url2)
        assert (await conn.get("/a")).status_code == 200
        conn._protocol.keep_alive = False  # the server said Connection: close
        assert (await conn.get("/b")).status_code == 200
        await conn.aclose()


async def test_no_answer_in_time_is_an_error_and_the_late_answer_is_never_read():
    server, url, _ = await serve([b"hang"])
    async with server:
        conn = Connection(url, timeout=0.2)
        with pytest.raises(TransportError, match="no answer"):
            await conn.get("/slow")
        assert conn._protocol is None


async def test_refused_connection_is_an_error():
    server, url, _ = await serve([])
    server.close()
    await server.wait_closed()
    with pytest.raises(TransportError, match="cannot connect"):
        await Connection(url).get("/")


async def test_a_second_request_on_a_busy_connection_is_refused_and_the_first_is_answered():
    server, url, seen = await serve([ok(b"1"), ok(b"2")])
    async with server:
        conn = Connection(url, timeout=2.0)
        first = asyncio.create_task(conn.get("/first"))
        await asyncio.sleep(0)  # the first request is on its way
        with pytest.raises(RuntimeError, match="one request at a time"):
            await conn.get("/second")
        assert (await first).content == b"1"
        assert (await conn.get("/third")).content == b"2"  # free again
        await conn.aclose()
    assert [r.split(b" ")[1] for r in seen] == [b"/first", b"/third"]
