"""``imias bench client``: the benches' own HTTP/1.1 client against aiohttp's, measured
in one run against the same server, to say which costs the load generator less.

The benches run on the machine they measure, so the client's CPU is taken from the
server's: :mod:`loadtest.client` was written because httpx cost 6 ms of CPU a booking.
Here each client keeps ``--concurrency`` connections busy against a server that answers
at once (:mod:`loadtest.bench.echo_app`, one granian worker: no database, no work), a
GET and a POST with a JSON body in turn, for ``--duration`` seconds; the rounds
alternate (ours, aiohttp, ours, aiohttp...) so that a change of the machine's speed
falls on both. Prints one JSON line a round and a ``client`` line with the medians:
this process's CPU per request (user and system) and requests a second, and
``ratio`` = aiohttp's CPU per request / ours.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from loadtest.client import Connection
from loadtest.machine import describe
from loadtest.report import print_line, progress
from loadtest.served import answers, child_session, free_port

POST_BODY = {"doctor_id": 1234, "starts_at": "2026-12-07T08:00:00+03:00", "channel": "web"}


def log(message: str) -> None:
    progress("bench client", message)


@contextmanager
def echo_served() -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "granian", "--interface", "asgi", "--workers", "1",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-ws",
        "loadtest.bench.echo_app:app",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with child_session(command, dict(os.environ), subprocess.DEVNULL, 10) as process:
        deadline = time.monotonic() + 30
        while not answers(url + "/answer", timeout=2):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"bench client: the echo server did not answer at {url}")
            time.sleep(0.1)
        yield url


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


Exchange = Callable[[int], Awaitable[int]]  # the i-th request; its status


async def _round(exchanges: list[Exchange], duration: float) -> tuple[int, float, float]:
    """Requests answered, seconds, CPU seconds of this process."""
    count = 0

    async def loop(exchange: Exchange) -> None:
        nonlocal count
        i = 0
        while time.perf_counter() < until:
            status = await exchange(i)
            if status != 200:
                raise RuntimeError(f"the echo server answered {status}")
            count += 1
            i += 1

    cpu0, began = _cpu(), time.perf_counter()
    until = began + duration
    await asyncio.gather(*(loop(e) for e in exchanges))
    return count, time.perf_counter() - began, _cpu() - cpu0


async def ours(url: str, concurrency: int, duration: float) -> tuple[int, float, float]:
    clients = [Connection(url) for _ in range(concurrency)]

    def exchange(client: Connection) -> Exchange:
        async def one(i: int) -> int:
            if i % 2:
                response = await client.post("/answer", json=POST_BODY)
            else:
                response = await client.get("/answer", params={"specialty": "therapist"})
            response.json()
            return response.status_code

        return one

    try:
        await _round([exchange(c) for c in clients], 0.5)  # connections open, not counted
        return await _round([exchange(c) for c in clients], duration)
    finally:
        for client in clients:
            await client.aclose()


async def aiohttp_client(url: str, concurrency: int, duration: float) -> tuple[int, float, float]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector) as session:

        async def one(i: int) -> int:
            if i % 2:
                request = session.post("/answer", json=POST_BODY)
            else:
                request = session.get("/answer", params={"specialty": "therapist"})
            async with request as response:
                await response.json()
                return response.status

        await _round([one] * concurrency, 0.5)
        return await _round([one] * concurrency, duration)


CLIENTS: dict[str, Callable[[str, int, float], Coroutine[Any, Any, tuple[int, float, float]]]] = {
    "ours": ours,
    "aiohttp": aiohttp_client,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imias bench client", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each client")
    parser.add_argument("--quick", action="store_true", help="short rounds, for CI")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds = 1.0, 1
    if args.concurrency < 1 or args.duration <= 0 or args.rounds < 1:
        print("bench client: concurrency >= 1, duration > 0, rounds >= 1", file=sys.stderr)
        return 2
    machine = describe()
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in CLIENTS}
    with echo_served() as url:
        for n in range(args.rounds):
            for name, client in CLIENTS.items():
                log(f"round {n + 1}: {name}, {args.concurrency} connections, {args.duration:g}s")
                count, seconds, cpu = asyncio.run(client(url, args.concurrency, args.duration))
                per_request = cpu * 1000 / count
                figures[name].append((per_request, count / seconds))
                print_line(
                    {
                        "workload": f"client_{name}",
                        "round": n + 1,
                        "per_second": round(count / seconds, 1),
                        "cpu_ms_per_request": round(per_request, 4),
                        "requests": count,
                    }
                )
    line: dict[str, Any] = {"workload": "client", "concurrency": args.concurrency}
    for name, values in figures.items():
        line[f"{name}_cpu_ms_per_request"] = round(statistics.median(v[0] for v in values), 4)
        line[f"{name}_per_second"] = round(statistics.median(v[1] for v in values), 1)
    line["ratio"] = round(line["aiohttp_cpu_ms_per_request"] / line["ours_cpu_ms_per_request"], 2)
    line["machine"] = machine
    print_line(line)
    return 0
