"""The demo's other side (``imias serve --with-simulators``, which ``make demo`` runs):
each simulator of :data:`DEMO_SIMULATORS` whose ``imias simulate`` subcommand exists is
started as a process on its fixed local port and registered as a partner with its
kind's topics, so that what the demo's users do arrives there and shows on the
simulator's page. A simulator that checks signatures is given its partner's secret in
``IMIAS_SIMULATE_SECRET`` (never on the command line, which other users of the machine
see); each keeps what it got in a journal under ``IMIAS_DATA_DIR/simulators``, so a
restarted demo still shows it.

A subcommand is given the options it has among ``--port``, ``--control-port``,
``--journal``, ``--imias-url`` (where IMIAS serves: a simulator that sends to IMIAS,
as the ambulance dispatch does, posts there) and ``--partner`` (the partner id it sends
as); its ``--secret`` option reads ``IMIAS_SIMULATE_SECRET``. The partners stay registered when the
demo stops: what the demo queues meanwhile waits, and is delivered when the
simulators are back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from imias.platform.ports import port_taken
from integrations import repository as repo
from integrations.model import KIND_TOPICS, Partner, Transport
from integrations.signing import partner_secret

HOST = "127.0.0.1"


@dataclass(frozen=True)
class DemoSimulator:
    """A simulator the demo starts (``imias simulate <command>``) and its partner."""

    command: str
    partner_id: str
    kind: str
    name: str
    port: int  # where it takes messages (HTTP, or MLLP for HL7)
    control_port: int | None = None  # its page and control, when not on ``port``
    path: str = "/messages"  # where an HTTP simulator takes messages
    mllp: bool = False
    page_path: str = "/"  # its page (the school's journal is at /journal)
    transport: Transport = "http"  # how IMIAS sends to it (mllp when ``mllp``)

    @property
    def url(self) -> str:
        if self.mllp:
            return f"mllp://{HOST}:{self.port}"
        if self.transport == "smtp":
            return f"smtp://{HOST}:{self.port}?from=IMIAS%20%3Cnoreply%40imias.localhost%3E"
        return f"http://{HOST}:{self.port}{self.path}"

    @property
    def page(self) -> str:
        return f"http://{HOST}:{self.control_port or self.port}{self.page_path}"


DEMO_SIMULATORS: tuple[DemoSimulator, ...] = (
    DemoSimulator(
        "school", "demo-school-journal", "school_journal", "Школьный электронный журнал (демо)",
        8580, page_path="/journal",
    ),
    DemoSimulator(
        "ambulance", "demo-ambulance", "ambulance_dispatch", "Диспетчерская 03 (демо)", 8590
    ),
    DemoSimulator(
        "hl7", "demo-hl7", "hl7_feed", "Получатель HL7 v2 (демо)", 2575, control_port=8575,
        mllp=True,
    ),
    DemoSimulator(
        "sms", "demo-sms", "sms_gateway", "SMS-шлюз (демо)", 8560, path="/sms/send",
        transport="sms",
    ),
    DemoSimulator(
        "smtp", "demo-smtp", "smtp_relay", "Почтовый сервер (демо)", 2525, control_port=8565,
        transport="smtp",
    ),
)  # fmt: skip


@dataclass
class DemoSimulators:
    """Start the demo's simulators and register their partners; stop them after."""

    database_url: str
    deployment_secret: str
    data_dir: Path
    imias_url: str
    simulators: tuple[DemoSimulator, ...] = DEMO_SIMULATORS
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> list[str]:
        """Register the partners and start the simulators; what to tell the operator."""
        return self.launch(asyncio.run(self.register()))

    def available(self) -> list[DemoSimulator]:
        from integrations.commands import simulate

        return [s for s in self.simulators if s.command in simulate.commands]

    async def register(self) -> dict[str, int]:
        """Upsert the partner of each simulator whose subcommand exists; the
        generation of each one's secret, by subcommand."""
        return {sim.command: await self._register(sim) for sim in self.available()}

    def launch(self, versions: dict[str, int]) -> list[str]:
        """Start each registered simulator (``versions``: :meth:`register`'s)."""
        from integrations.commands import simulate

        folder = self.data_dir / "simulators"
        folder.mkdir(parents=True, exist_ok=True)
        said = []
        for sim in self.simulators:
            command = simulate.commands.get(sim.command)
            if command is None or sim.command not in versions:
                said.append(f"simulator {sim.command}: no `imias simulate {sim.command}` here")
                continue
            taken = [p for p in (sim.port, sim.control_port) if p and port_taken(HOST, p)]
            if taken:
                said.append(
                    f"simulator {sim.command}: port {taken[0]} is in use (already running?);"
                    f" partner {sim.partner_id} sends to {sim.url}"
                )
                continue
            options = {p.name for p in command.params}
            args = [sys.executable, "-m", "imias.cli", "simulate", sim.command]
            if "host" in options:
                args += ["--host", HOST]
            if "port" in options:
                args += ["--port", str(sim.port)]
            if "control_port" in options and sim.control_port:
                args += ["--control-port", str(sim.control_port)]
            if "journal" in options:
                args += ["--journal", str(folder / f"{sim.command}.jsonl")]
            if "imias_url" in options:
                args += ["--imias-url", self.imias_url]
            if "partner_id" in options:  # a simulator that sends to IMIAS as this partner
                args += ["--partner", sim.partner_id]
            environ = dict(os.environ)
            environ["IMIAS_SIMULATE_SECRET"] = partner_secret(
                self.deployment_secret, sim.partner_id, versions[sim.command]
            )
            with open(folder / f"{sim.command}.log", "ab") as log:
                self.processes.append(subprocess.Popen(args, env=environ, stdout=log, stderr=log))
            said.append(
                f"simulator {sim.command} ({sim.name}): page {sim.page};"
                f" partner {sim.partner_id} sends to {sim.url}"
            )
        return said

    async def _register(self, sim: DemoSimulator) -> int:
        """Upsert the simulator's partner; its secret's generation."""
        conn = await asyncpg.connect(self.database_url)
        try:
            await repo.save_partner(
                conn,
                Partner(
                    id=sim.partner_id, kind=sim.kind, name=sim.name,
                    transport="mllp" if sim.mllp else sim.transport, url=sim.url,
                    topics=list(KIND_TOPICS[sim.kind]),
                ),
            )  # fmt: skip
            version: int = await conn.fetchval(
                "SELECT secret_version FROM partners WHERE id = $1", sim.partner_id
            )
            return version
        finally:
            await conn.close()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)
        self.processes.clear()
