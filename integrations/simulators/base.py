"""What every simulator does: receive over a real socket, check the sender's signature,
keep each message once (by its idempotency id), show what it got, and misbehave on
request.

Control (``POST /_control`` with JSON, or :meth:`Control.set` in-process):

- ``{"mode": "ok"}``: accept (the default);
- ``{"mode": "fail", "status": 503}``: answer with that status (an MLLP receiver answers
  ``AE``; ``"status": 400`` or ``"ack": "AR"`` refuses the message for good);
- ``{"mode": "drop"}``: close the connection without an answer;
- ``{"delay_ms": 2000}``: answer that much later (with any mode; an accepted message is
  kept at once and answered late, as a slow system that commits and then answers);
- ``{"fail_next": 3}``: the next three messages fail as in ``fail``, then back to ``ok``.

``GET /_received`` lists what was kept (JSON), ``GET /`` shows it as a page, and
``GET /_stats`` counts accepted, duplicates, failed and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web

from integrations import hl7
from integrations.mllp import MllpServer
from integrations.signing import WebhookVerificationError, verify

log = logging.getLogger("imias.simulate")


@dataclass
class Received:
    """A message kept by a simulator."""

    message_id: str
    kind: str
    content_type: str
    body: str
    received_at: str
    order_key: str | None = None
    sequence: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Control:
    mode: str = "ok"  # ok | fail | drop
    status: int = 503
    ack: str = "AE"
    delay_ms: int = 0
    fail_next: int = 0

    def set(self, **changes: Any) -> None:
        for key, value in changes.items():
            if key not in self.__dataclass_fields__:
                raise ValueError(f"unknown control {key!r}")
            setattr(self, key, type(getattr(self, key))(value))

    def next_mode(self) -> str:
        """The mode for the message arriving now (``fail_next`` counts down)."""
        if self.fail_next > 0:
            self.fail_next -= 1
            return "fail"
        return self.mode


class Store:
    """What a simulator got, thread-safe (a simulator may run in a thread of a test).

    With a ``journal`` file, each kept message is appended to it (a JSON line, flushed
    before the answer is sent) and read back at start: a receiver stopped or killed and
    started again remembers what it had, and dedups across the restart as a real system
    with a database does."""

    def __init__(self, journal: str | None = None) -> None:
        self.lock = threading.Lock()
        self.messages: list[Received] = []
        self.ids: set[str] = set()
        self.stats = {"accepted": 0, "duplicates": 0, "failed": 0, "dropped": 0, "refused": 0}
        self.journal = journal
        if journal is not None:
            with contextlib.suppress(FileNotFoundError), open(journal, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        kept = Received(**json.loads(line))
                        self.ids.add(kept.message_id)
                        self.messages.append(kept)

    def keep(self, message: Received) -> bool:
        """Keep ``message`` unless one with its id was kept; whether it was new."""
        with self.lock:
            if message.message_id in self.ids:
                self.stats["duplicates"] += 1
                return False
            if self.journal is not None:
                with open(self.journal, "a", encoding="utf-8") as f:
                    f.write(json.dumps(asdict(message), ensure_ascii=False) + "\n")
            self.ids.add(message.message_id)
            self.messages.append(message)
            self.stats["accepted"] += 1
            return True

    def count(self, what: str) -> None:
        with self.lock:
            self.stats[what] += 1

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.ids.clear()
            if self.journal is not None:
                open(self.journal, "w").close()
            for key in self.stats:
                self.stats[key] = 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class HttpReceiver:
    """An HTTP server that takes signed messages at ``path`` (POST).

    A subclass reads what it got in :meth:`accepted` (to show it its own way, e.g. the
    school's journal) and may add pages with :meth:`routes`."""

    title = "IMIAS simulator"

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, path: str = "/messages",
        secret: str | None = None, journal: str | None = None,
    ) -> None:  # fmt: skip
        self.host, self.port, self.path, self.secret = host, port, path, secret
        self.control = Control()
        self.store = Store(journal)
        self._runner: web.AppRunner | None = None

    # -- what a subclass adds -------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        return []

    def accepted(self, message: Received) -> None:
        """A new message was kept (not a duplicate)."""

    def describe(self, message: Received) -> str:
        """A message as one line of the page (HTML-escaped by the caller)."""
        return message.body[:200]

    def extra(self, body: bytes, content_type: str) -> dict[str, Any]:
        """What of the body to keep beside it (default: the JSON of a JSON body); raise
        ValueError to refuse the message with 400."""
        if content_type.startswith("application/") and "json" in content_type:
            value = json.loads(body)
            return value if isinstance(value, dict) else {"value": value}
        return {}

    # -- the server -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.add_routes([
            web.post(self.path, self._receive),
            web.get("/", self._page),
            web.get("/_received", self._received),
            web.get("/_stats", self._stats),
            web.post("/_control", self._control),
            web.post("/_reset", self._reset),
            *self.routes(),
        ])  # fmt: skip
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server: Any = site._server
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening: the port refuses connections until :meth:`start` again."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        mode = self.control.next_mode()
        if self.control.delay_ms and mode != "ok":
            await asyncio.sleep(self.control.delay_ms / 1000)
        if mode == "drop":
            self.store.count("dropped")
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()  # never reaches the sender: the socket is gone
        if mode == "fail":
            self.store.count("failed")
            return web.json_response({"error": "told to fail"}, status=self.control.status)
        body = await request.read()
        headers: Mapping[str, str] = request.headers
        message_id = headers.get("webhook-id", "")
        if self.secret is not None:
            try:
                message_id = verify(self.secret, body, headers)
            except (WebhookVerificationError, KeyError) as exc:
                self.store.count("refused")
                return web.json_response({"error": f"bad signature: {exc}"}, status=401)
        if not message_id:
            self.store.count("refused")
            return web.json_response({"error": "no webhook-id"}, status=400)
        content_type = headers.get("content-type", "application/octet-stream")
        try:
            extra = self.extra(body, content_type)
        except ValueError as exc:
            self.store.count("refused")
            return web.json_response({"error": f"bad message: {exc}"}, status=400)
        sequence = headers.get("x-imias-sequence")
        message = Received(
            message_id=message_id,
            kind=headers.get("x-imias-kind", ""),
            content_type=content_type,
            body=body.decode("utf-8", errors="replace"),
            received_at=_now(),
            order_key=headers.get("x-imias-order-key"),
            sequence=int(sequence) if sequence and sequence.isdigit() else None,
            extra=extra,
        )
        new = self.store.keep(message)
        if new:
            self.accepted(message)
        if self.control.delay_ms:
            # slow: the message is kept at once, the answer comes late (a sender that gave
            # up sends it again, and the receiver's deduplication answers that)
            await asyncio.sleep(self.control.delay_ms / 1000)
        return web.json_response({"received": message_id, "duplicate": not new})

    async def _page(self, request: web.Request) -> web.Response:
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(cell)}</td>"
                for cell in (m.received_at, m.kind, m.order_key or "", self.describe(m))
            )
            + "</tr>"
            for m in reversed(self.store.snapshot()[-500:])
        )
        stats = ", ".join(f"{k} {v}" for k, v in self.store.stats.items())
        body = (
            "<!doctype html><html lang='ru'><head><meta charset='utf-8'>"
            f"<title>{self.title}</title></head><body><h1>{self.title}</h1>"
            f"<p>{stats}; mode {self.control.mode}</p>"
            "<table><thead><tr><th>получено</th><th>вид</th><th>пациент</th><th>сообщение</th>"
            f"</tr></thead><tbody>{rows}</tbody></table></body></html>"
        )
        return web.Response(text=body, content_type="text/html")

    async def _received(self, request: web.Request) -> web.Response:
        kind = request.query.get("kind")
        found = [asdict(m) for m in self.store.snapshot() if kind is None or m.kind == kind]
        return web.json_response(found)

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({**self.store.stats, "mode": self.control.mode})

    async def _control(self, request: web.Request) -> web.Response:
        try:
            self.control.set(**await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(asdict(self.control))

    async def _reset(self, request: web.Request) -> web.Response:
        self.store.clear()
        self.control.set(**asdict(Control()))
        return web.json_response({"reset": True})


class MllpReceiver(MllpServer):
    """An HL7 v2 receiver over MLLP: answers each message with an ACK (``AA``; ``AE`` or
    ``AR`` when told to fail), keeps it once by MSH-10. Its control is an HTTP side port
    (an :class:`HttpReceiver` without a message path) when ``control_port`` is given."""

    title = "IMIAS HL7 v2 receiver"

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, control_port: int | None = None,
        journal: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(host=host, port=port)
        self.control = Control()
        self.store = Store(journal)
        # the pages and the control, over HTTP (no message path of its own)
        self.web: HttpReceiver | None = None
        if control_port is not None:
            self.web = HttpReceiver(host=host, port=control_port, path="/_unused")
            self.web.title, self.web.store, self.web.control = self.title, self.store, self.control

    @property
    def url(self) -> str:
        return f"mllp://{self.host}:{self.port}"

    def accepted(self, message: Received) -> None:
        """A new message was kept (not a duplicate)."""

    async def start(self) -> None:
        await super().start()
        if self.web is not None:
            await self.web.start()

    async def stop(self) -> None:
        if self.web is not None:
            await self.web.stop()
        await super().stop()

    async def answer(self, block: bytes) -> bytes | None:
        mode = self.control.next_mode()
        if self.control.delay_ms and mode != "ok":
            await asyncio.sleep(self.control.delay_ms / 1000)
        if mode == "drop":
            self.store.count("dropped")
            return None
        try:
            message = hl7.parse(block)
        except ValueError as exc:
            self.store.count("refused")
            return _raw_nak(str(exc))
        if mode == "fail":
            self.store.count("failed")
            return hl7.ack(message, self.control.ack, "told to fail")
        kind = str(message.msh.msh_9.value).replace("^", ".")
        received = Received(
            message_id=hl7.control_id(message),
            kind=kind,
            content_type="x-application/hl7-v2+er7",
            body=block.decode("utf-8", errors="replace"),
            received_at=_now(),
            order_key=_patient_id(message),
        )
        if self.store.keep(received):
            self.accepted(received)
        if self.control.delay_ms:  # slow: kept at once, acknowledged late
            await asyncio.sleep(self.control.delay_ms / 1000)
        return hl7.ack(message, "AA")


def _patient_id(message: Any) -> str | None:
    """PID-3's first identifier, when the message has a PID segment."""
    for segment in message.children:
        if segment.name == "PID":
            value = str(segment.pid_3.value or "")
            return value.split("^", 1)[0] or None
    return None


def _raw_nak(error: str) -> bytes:
    text = error[:80].replace("|", "/").replace("^", " ")
    return f"MSH|^~\\&|SIM|SIM|||{hl7.timestamp()}||ACK|NAK|P|2.5\rMSA|AR||{text}".encode()


class Server(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def serve_forever(*servers: Server) -> None:
    """Run simulators until interrupted (``imias simulate``)."""
    for server in servers:
        await server.start()
    try:
        await asyncio.Event().wait()
    finally:
        for server in servers:
            await server.stop()
