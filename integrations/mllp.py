"""An MLLP server: HL7 v2 messages framed by ``hl7.mllp`` over asyncio streams, each
answered in turn on its connection. IMIAS's listener (:mod:`integrations.ambulance.mllp`)
and the simulators' receiver (:class:`integrations.simulators.MllpReceiver`) are both
this loop with their own :meth:`MllpServer.answer`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from hl7.mllp import start_hl7_server

log = logging.getLogger("imias.integrations.mllp")


class MllpServer:
    def __init__(
        self, *, host: str, port: int, tls: ssl.SSLContext | None = None,
        reuse_port: bool = False,
    ) -> None:  # fmt: skip
        self.host, self.port, self.tls, self.reuse_port = host, port, tls, reuse_port
        self._server: Any = None
        self._clients: set[Any] = set()

    async def answer(self, block: bytes) -> bytes | None:
        """The answer to one message (its ACK); None drops the connection unanswered."""
        raise NotImplementedError

    async def start(self) -> None:
        self._server = await start_hl7_server(
            self._client, self.host, self.port, ssl=self.tls, reuse_port=self.reuse_port or None
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for writer in list(self._clients):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _client(self, reader: Any, writer: Any) -> None:
        self._clients.add(writer)
        try:
            while not reader.at_eof():
                try:
                    block = await reader.readblock()
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                answer = await self.answer(block)
                if answer is None:
                    writer.transport.abort()
                    break
                writer.writeblock(answer)
                await writer.drain()
        except Exception:  # one client's trouble never stops the server
            log.exception("mllp: a client failed")
        finally:
            self._clients.discard(writer)
            writer.close()
