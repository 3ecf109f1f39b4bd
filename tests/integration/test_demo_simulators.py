"""The demo's other side (``imias serve --with-simulators``, run by ``make demo``): the
simulators whose ``imias simulate`` subcommand exists are started as processes and
registered as partners, and a message queued for the partner reaches the simulator
through the partner's worker. Tried with the HL7 v2 receiver (on free ports here, not
the demo's fixed ones, and under a partner id of the test's own)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path

import asyncpg
import httpx
from simprocess import free_port
from test_outbox import eventually

from imias.platform.db import app_url
from imias.platform.ports import port_taken
from integrations import hl7
from integrations.delivery import DeliveryWorker
from integrations.demo import DEMO_SIMULATORS, DemoSimulators
from integrations.model import Message, Partner
from integrations.routing import enqueue
from integrations.signing import partner_secret

SECRET = "imias-test-demo-simulators-secret-0123456789"


async def test_the_demo_starts_the_simulators_and_registers_them(database_url, tmp_path: Path):
    (hl7_demo,) = [s for s in DEMO_SIMULATORS if s.command == "hl7"]
    assert (hl7_demo.partner_id, hl7_demo.kind, hl7_demo.url) == (
        "demo-hl7", "hl7_feed", "mllp://127.0.0.1:2575",
    )  # fmt: skip
    tag = uuid.uuid4().hex[:6]
    partner_id = f"demo-hl7-{tag}"
    sim = dataclasses.replace(
        hl7_demo, partner_id=partner_id, port=free_port(), control_port=free_port()
    )
    others = [
        dataclasses.replace(
            s,
            partner_id=f"{s.partner_id}-{tag}",
            port=free_port(),
            control_port=free_port() if s.control_port else None,
        )  # fmt: skip
        for s in DEMO_SIMULATORS
        if s.command != "hl7"
    ]
    absent = dataclasses.replace(hl7_demo, command="no-such-simulator", partner_id="demo-none")
    demo = DemoSimulators(
        database_url, SECRET, tmp_path, "http://127.0.0.1:8000",
        simulators=(sim, absent, *others),
    )  # fmt: skip
    said = demo.launch(await demo.register())
    worker = None
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        assert said[0] == (
            f"simulator hl7 ({sim.name}): page http://127.0.0.1:{sim.control_port}/;"
            f" partner {partner_id} sends to mllp://127.0.0.1:{sim.port}"
        )
        assert said[1] == "simulator no-such-simulator: no `imias simulate no-such-simulator` here"
        # the school's journal and the ambulance dispatch, when their commands are here
        for other, line in zip(others, said[2:], strict=True):
            assert line.startswith(f"simulator {other.command} (") and other.page in line

            async def page_answers(url: str = other.page) -> bool:
                try:
                    async with httpx.AsyncClient(timeout=1) as client:
                        return (await client.get(url)).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(page_answers, 60, f"the {other.command} simulator's page")
        row = await pool.fetchrow(
            "SELECT kind, transport, url, topics, enabled FROM partners WHERE id = $1", partner_id
        )
        assert dict(row) == {
            "kind": "hl7_feed", "transport": "mllp", "url": f"mllp://127.0.0.1:{sim.port}",
            "topics": ["hl7.siu", "hl7.adt"], "enabled": True,
        }  # fmt: skip
        assert await pool.fetchval("SELECT 1 FROM partners WHERE id = 'demo-none'") is None

        page = f"http://127.0.0.1:{sim.control_port}"

        async def answers() -> bool:
            try:
                async with httpx.AsyncClient(timeout=1) as client:
                    return (await client.get(page + "/_stats")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(answers, 60, "the simulator's page")

        def secret_of(p: Partner) -> str:
            return partner_secret(SECRET, p.id, p.secret_version)

        worker = DeliveryWorker(app_url(database_url), partner_id, secret_of, interval=0.1)
        worker.lock_retry = 0.1
        worker.start()
        message = hl7.new_message("ADT", "A28", "DEMO1", structure="ADT_A05")
        message.add_segment("PID")
        message.pid.pid_3 = "4242^^^IMIAS^PI"
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(
                conn,
                [
                    Message(
                        audience="hl7.adt", kind="adt.a28", content_type="x-application/hl7-v2+er7",
                        body=hl7.encode(message), patient_id=4242, partner_id=partner_id,
                        message_id=hl7.control_id(message),
                    )
                ],
                source=f"test:{partner_id}",
            )  # fmt: skip

        async def arrived() -> list:
            async with httpx.AsyncClient(timeout=5) as client:
                return (await client.get(page + "/_received")).json()

        got = await eventually(arrived, 30, "the message at the simulator")
        assert [(m["message_id"], m["order_key"]) for m in got] == [("DEMO1", "4242")]
        assert (tmp_path / "simulators" / "hl7.jsonl").exists()  # its journal
    finally:
        if worker is not None:
            await worker.stop()
        demo.stop()
        ids = [partner_id, *(o.partner_id for o in others)]
        await pool.execute("DELETE FROM deliveries WHERE partner_id = ANY ($1)", ids)
        await pool.execute("DELETE FROM partners WHERE id = ANY ($1)", ids)
        await pool.close()
    await asyncio.sleep(0.2)
    assert not port_taken("127.0.0.1", sim.control_port)  # stopped with the demo


async def test_the_demo_sms_gateway_gets_a_text_sent_with_the_partners_secret(
    database_url, tmp_path: Path
):
    """The demo's SMS gateway is given its partner's secret and takes a text sent with it
    as the api_id (the sms transport), showing it on its page."""
    (sms_demo,) = [s for s in DEMO_SIMULATORS if s.command == "sms"]
    (smtp_demo,) = [s for s in DEMO_SIMULATORS if s.command == "smtp"]
    assert (sms_demo.partner_id, sms_demo.transport, smtp_demo.partner_id) == (
        "demo-sms", "sms", "demo-smtp",
    )  # fmt: skip
    assert smtp_demo.url.startswith("smtp://127.0.0.1:2525")
    partner_id = f"demo-sms-{uuid.uuid4().hex[:6]}"
    sim = dataclasses.replace(sms_demo, partner_id=partner_id, port=free_port())
    demo = DemoSimulators(database_url, SECRET, tmp_path, "http://127.0.0.1:8000",
                          simulators=(sim,))  # fmt: skip
    demo.launch(await demo.register())
    worker = None
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        row = await pool.fetchrow(
            "SELECT kind, transport, topics FROM partners WHERE id = $1", partner_id
        )
        assert dict(row) == {"kind": "sms_gateway", "transport": "sms", "topics": ["notice.sms"]}
        page = f"http://127.0.0.1:{sim.port}"

        async def answers() -> bool:
            try:
                async with httpx.AsyncClient(timeout=1) as client:
                    return (await client.get(page + "/_stats")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(answers, 60, "the gateway's page")

        def secret_of(p: Partner) -> str:
            return partner_secret(SECRET, p.id, p.secret_version)

        worker = DeliveryWorker(app_url(database_url), partner_id, secret_of, interval=0.1)
        worker.lock_retry = 0.1
        worker.start()
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(
                conn,
                [Message(audience="notice.sms", kind="reminder", content_type="application/json",
                         body=b'{"to": "+79161234567", "text": "demo"}', partner_id=partner_id,
                         ordered=False)],
                source=f"test:{partner_id}",
            )  # fmt: skip

        async def arrived() -> list:
            async with httpx.AsyncClient(timeout=5) as client:
                return (await client.get(page + "/_received")).json()

        got = await eventually(arrived, 30, "the text at the gateway")
        assert [(m["body"], m["extra"]["to"]) for m in got] == [("demo", "+79161234567")]
        async with httpx.AsyncClient(timeout=5) as client:
            shown = (await client.get(page + "/")).text
        assert "+7********67" in shown and "+79161234567" not in shown  # masked on the page
    finally:
        if worker is not None:
            await worker.stop()
        demo.stop()
        await pool.execute("DELETE FROM deliveries WHERE partner_id = $1", partner_id)
        await pool.execute("DELETE FROM partners WHERE id = $1", partner_id)
        await pool.close()
