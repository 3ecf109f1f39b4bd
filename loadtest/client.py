"""A lean HTTP/1.1 keep-alive client for load generators (``imias bench``).

A load generator shares the machine with the server it measures, so every
microsecond it spends per request is taken from the server. httpx costs about
1 ms of CPU per request here (its pool, its models, h11); this client costs a few
tens of microseconds: one asyncio protocol per connection, requests written as
bytes, responses read by their ``Content-Length`` (or chunked), bodies decoded by
msgspec. One connection serves one request at a time; a client coroutine owns its
connection, so no pool is searched. It speaks only what the benchmark needs: GET and
POST with JSON, keep-alive, reconnecting when the server closes.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgspec

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class TransportError(OSError):
    """The request got no complete answer (refused, reset, timed out, malformed)."""


class Response:
    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    def json(self) -> Any:
        try:
            return _decode(self.content)
        except msgspec.DecodeError as exc:
            raise ValueError(str(exc)) from None


class _Protocol(asyncio.Protocol):
    """Reads responses off one connection; ``waiter`` gets the next complete one."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(TransportError(f"connection lost: {exc or 'closed'}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            response = self._parse()
        except TransportError as exc:
            self.waiter.set_exception(exc)
            return
        if response is not None:
            self.waiter.set_result(response)

    def _parse(self) -> Response | None:
        buf = self.buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise TransportError(f"malformed status line {head[0]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        length = headers.get("content-length")
        if length is not None:
            stop = start + int(length)
            if len(buf) < stop:
                return None
            body = bytes(buf[start:stop])
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks, stop = _dechunk(buf, start)
            if chunks is None:
                return None
            body = chunks
        elif status in (204, 304) or 100 <= status < 200:
            body, stop = b"", start
        else:
            raise TransportError("a response without Content-Length on a keep-alive connection")
        del buf[:stop]
        self.keep_alive = headers.get("connection", "").lower() != "close"
        return Response(status, headers, body)


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes | None, int]:
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None, pos
        try:
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        except ValueError:
            raise TransportError(f"malformed chunk size {bytes(buf[pos:eol])[:20]!r}") from None
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", eol)
            if trailer_end < 0:
                return None, pos
            return bytes(body), trailer_end + 4
        start = eol + 2
        if len(buf) < start + size + 2:
            return None, pos
        if buf[start + size : start + size + 2] != b"\r\n":
            raise TransportError("a chunk longer than its size")
        body += buf[start : start + size]
        pos = start + size + 2


class Connection:
    """One keep-alive connection to ``base_url``; one request at a time."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http://host[:port] URLs are supported, not {base_url!r}")
        self.base_url = base_url
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._host_header = f"Host: {parts.netloc}\r\n".encode("latin-1")
        self._protocol: _Protocol | None = None
        self._busy = False

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is None or protocol.closed or not protocol.keep_alive:
            if protocol is not None and protocol.transport is not None:
                protocol.transport.close()
            loop = asyncio.get_running_loop()
            try:
                _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            except OSError as exc:
                raise TransportError(f"cannot connect to {self.base_url}: {exc}") from None
            self._protocol = protocol
        return protocol

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        target = self.prefix + path
        if params:
            target += "?" + urlencode(params)
        lines = [f"{method} {target} HTTP/1.1\r\n".encode("latin-1"), self._host_header]
        body = b""
        if json is not None:
            body = _encode(json)
            lines.append(b"Content-Type: application/json\r\n")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: %d\r\n" % len(body))
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        lines.append(b"\r\n")
        lines.append(body)
        # A second request on a busy connection would take the first one's answer (and
        # leave the first waiting out its timeout): a caller's mistake, said at once.
        if self._busy:
            raise RuntimeError("a Connection serves one request at a time")
        self._busy = True
        try:
            return await self._exchange(b"".join(lines))
        finally:
            self._busy = False

    async def _exchange(self, request: bytes) -> Response:
        protocol = await self._connected()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Response] = loop.create_future()
        protocol.waiter = waiter
        assert protocol.transport is not None
        protocol.transport.write(request)
        try:
            async with asyncio.timeout(self.timeout):
                return await waiter
        except TimeoutError:
            protocol.transport.close()  # a late answer must not be read as the next one
            self._protocol = None
            raise TransportError(f"no answer within {self.timeout:g}s") from None
        finally:
            protocol.waiter = None

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Response:
        return await self.request("POST", path, **kwargs)

    async def aclose(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
