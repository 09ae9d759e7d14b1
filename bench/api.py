"""API benchmark: booking and listing appointments under concurrent load, on SQLite and on PostgreSQL.

    cd /work/main && /tmp/venv/bin/python bench/api.py          # or: make bench
    /tmp/venv/bin/python bench/api.py --quick                   # fewer seconds per step
    /tmp/venv/bin/python bench/api.py --rates 100,200,300 --booking-rates 25,50,100 --seconds 10 --json

The hall runs as `hall serve` in its own process (one uvicorn worker, as deployed), on a fresh SQLite file
and then on a fresh database of a throwaway PostgreSQL server on 127.0.0.1. This process is the client:
64 keep-alive connections of a minimal HTTP/1.1 client (httpx costs a few milliseconds of CPU a request, on
the same two cores as the server), open loop. Requests are sent at the rate asked, on a fixed schedule, and
each latency runs from the request's scheduled time to its answer, so a server that falls behind shows it
(no coordinated omission).

The workload: one request in five books a new petitioner into a slot (POST /api/appointments: the booking
rules, the petitioner's encryption and hashes, the appointment, its history and three queued SMS in one
transaction, then the audit record); four in five list one leader's appointments for a day (GET
/api/appointments, 20 to 40 records with leader, petitioner, outcome and rating: a leader's day of
half-hour slots of two places, half of them booked before the run), as the schedule page and
the leaders' consoles do all day while clerks book now and then. Then each alone: listing at the highest
rate, and booking at rates far above any hall's clerks, to show where it saturates. Side by side in the
same run, at the same rates: GET /healthz (the framework's floor: routing, JSON and the HTTP stack, no
database) and GET /api/auth/me (the floor of a signed-in request: the JWT and one account lookup).

Numbers are printed, never asserted. Target (issue 5): p99 at most 50 ms at 200 requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from hall_tools import free_port  # noqa: E402
from postgres_tools import fresh_database, postgres_server  # noqa: E402

from scheduler.personal import ID_CHECK, ID_WEIGHTS  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
PASSWORD = "bench-password-2026"


def id_number(serial: int) -> str:
    base = f"110105{19500101 + serial % 500000:08d}{serial % 1000:03d}"[:17]
    total = sum(int(d) * w for d, w in zip(base, ID_WEIGHTS, strict=True))
    return base + ID_CHECK[total % 11]


@contextlib.contextmanager
def hall_process(data_dir: Path, port: int, database_url: str | None) -> Iterator[str]:
    env = {**os.environ, "HALL_AUTH__SECRET_KEY": "b" * 48}
    if database_url:
        env["HALL_DATABASE__URL"] = database_url
    hall = Path(sys.executable).with_name("hall")
    command = [str(hall), "serve", "--data-dir", str(data_dir), "--port", str(port)]
    # The log goes to a file: a pipe nobody reads fills up and stops the server mid-write.
    log = (data_dir.parent / "hall.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the hall did not start: {log.name}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def add_staff(data_dir: Path, database_url: str | None) -> None:
    env = dict(os.environ)
    if database_url:
        env["HALL_DATABASE__URL"] = database_url
    hall = Path(sys.executable).with_name("hall")
    subprocess.run(
        [str(hall), "user", "add", "bench", "--role", "staff", "--data-dir", str(data_dir), "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )


class Answer:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


class LeanClient:
    """The load's HTTP/1.1 client: keep-alive connections and nothing else. httpx costs a few milliseconds of
    CPU a request, on the same two cores as the server; this costs a fraction of one."""

    def __init__(self, base: str, headers: dict[str, str], connections: int = 64) -> None:
        address = base.removeprefix("http://")
        self.host, _, port = address.partition(":")
        self.port = int(port)
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in {"Host": address, **headers}.items())
        self.free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self.opened = 0
        self.limit = connections

    async def request(self, method: str, path: str, body: bytes = b"") -> Answer:
        if self.free.empty() and self.opened < self.limit:
            self.opened += 1
            connection = await asyncio.open_connection(self.host, self.port)
        else:
            connection = await self.free.get()
        reader, writer = connection
        extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if body else ""
        writer.write(f"{method} {path} HTTP/1.1\r\n{self.headers}{extra}\r\n".encode() + body)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        answer = Answer(status, await reader.readexactly(length))
        self.free.put_nowait(connection)
        return answer

    async def close(self) -> None:
        while not self.free.empty():
            _, writer = self.free.get_nowait()
            writer.close()


class Workload:
    """Leaders' days as a hall has them: 20 half-hour slots of two places, half taken before the run starts, so a
    day's list holds 20 to 40 appointments. Every booking is a new petitioner; there are days enough for all."""

    LEADERS = 5
    SLOTS_PER_DAY = 20  # 08:00-18:00 in 30-minute slots
    CAPACITY = 2

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.free: list[int] = []  # one entry per free place, in the order they are booked
        self.days: list[tuple[int, str]] = []  # (leader, day) pairs to list
        self.serial = random.randrange(10**6)

    async def prepare(self, bookings: int) -> None:
        today = dt.datetime.now(ZONE).date()
        free_per_day = self.SLOTS_PER_DAY * (self.CAPACITY - 1)
        # Within the booking window (30 days): more leaders when more bookings are needed.
        leaders = max(self.LEADERS, -(-bookings // (free_per_day * 28)))
        day_count = bookings // (leaders * free_per_day) + 1
        for index in range(leaders):
            leader = await self.client.post("/api/leaders", json={"name": f"领导{index}"}, headers=self.headers)
            leader.raise_for_status()
            for offset in range(1, day_count + 1):
                day = (today + dt.timedelta(days=offset)).isoformat()
                body = {"leader_id": leader.json()["id"], "day": day, "start": "08:00", "end": "18:00"}
                body |= {"slot_minutes": 30, "capacity": self.CAPACITY}
                opened = await self.client.post("/api/reception-days", json=body, headers=self.headers)
                opened.raise_for_status()
                self.days.append((leader.json()["id"], day))
                for slot in opened.json()["slots"]:
                    (await self.book(slot["id"])).raise_for_status()  # the first place of every slot
                    self.free.append(slot["id"])
        random.shuffle(self.free)  # clerks book all over the calendar

    def book_body(self, slot: int | None = None) -> bytes:
        self.serial += 1
        body = {
            "slot_id": slot if slot is not None else self.free.pop(),
            "name": f"来访人{self.serial % 1000}",
            "phone": f"139{self.serial % 10**8:08d}",
            "id_number": id_number(self.serial),
            "subject": "征地补偿",
        }
        return json.dumps(body).encode()

    def list_path(self) -> str:
        leader_id, day = random.choice(self.days)
        return f"/api/appointments?first={day}&last={day}&leader_id={leader_id}"

    def book(self, slot: int) -> Any:
        body = self.book_body(slot)
        headers = {**self.headers, "Content-Type": "application/json"}
        return self.client.post("/api/appointments", content=body, headers=headers)


async def open_loop(rate: float, seconds: float, request: Callable[[int], Any]) -> dict[str, Any]:
    """Send rate x seconds requests on a fixed schedule; latency from the scheduled time to the answer."""
    count = int(rate * seconds)
    latencies: list[float] = []
    failures: dict[str, int] = {}
    start = time.perf_counter() + 0.05

    async def one(index: int, due: float) -> None:
        try:
            response = await request(index)
            if response.status_code >= 400:
                key = f"{response.status_code} {response.json().get('error', '')}"
                failures[key] = failures.get(key, 0) + 1
        except (httpx.HTTPError, OSError, asyncio.IncompleteReadError) as exc:
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
        latencies.append(time.perf_counter() - due)

    tasks = []
    # The client's own full garbage collections paused it for up to 95 ms, which showed as the server's latency:
    # none during a step, one between steps.
    gc.disable()
    try:
        for index in range(count):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
        gc.collect()
    latencies.sort()
    return {
        "sent": count,
        "rps": count / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "max_ms": 1000 * latencies[-1],
        "failures": failures,
    }


@contextlib.asynccontextmanager
async def session(base: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        login = await client.post("/api/auth/login", json={"username": "bench", "password": PASSWORD})
        login.raise_for_status()
        yield client, {"Authorization": "Bearer " + login.json()["token"]}


async def measure(base: str, rates: list[float], booking_rates: list[float], seconds: float) -> list[dict[str, Any]]:
    rows = []
    async with session(base) as (client, headers):
        workload = Workload(client, headers)
        await workload.prepare(int((sum(rates) / 5 + sum(booking_rates)) * seconds) + 200)

        lean = LeanClient(base, headers)

        def book(_index: int) -> Any:
            return lean.request("POST", "/api/appointments", workload.book_body())

        def list_day(_index: int) -> Any:
            return lean.request("GET", workload.list_path())

        def mixed(index: int) -> Any:  # one booking to four listings
            return book(index) if index % 5 == 0 else list_day(index)

        def me(_index: int) -> Any:
            return lean.request("GET", "/api/auth/me")

        def health(_index: int) -> Any:
            return lean.request("GET", "/healthz")

        await open_loop(50, 2, mixed)  # warm up: connections, caches, the JIT of the database's plans
        steps: list[tuple[float, str, Callable[[int], Any]]] = []
        for rate in rates:
            steps += [(rate, "GET /healthz", health), (rate, "GET /api/auth/me", me), (rate, "1 book : 4 list", mixed)]
        # Each half alone: listing at the highest rate, booking at rates a hall's clerks could never reach.
        steps.append((max(rates), "list only", list_day))
        steps += [(rate, "book only", book) for rate in booking_rates]
        for rate, name, request in steps:
            await asyncio.sleep(1.0)  # the previous step's stragglers are answered
            rows.append({"rate": rate, "request": name, **await open_loop(rate, seconds, request)})
        await lean.close()
    return rows


def print_rows(database: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{database}")
    print(f"  {'rate':>5}  {'request':<18} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  failures")
    for row in rows:
        failures = ", ".join(f"{k}: {v}" for k, v in row["failures"].items()) or "-"
        print(
            f"  {row['rate']:>5.0f}  {row['request']:<18} {row['rps']:>9.1f} {row['p50_ms']:>8.1f}"
            f" {row['p99_ms']:>8.1f} {row['max_ms']:>8.1f}  {failures}"
        )


def run_on(
    database: str, rates: list[float], booking_rates: list[float], seconds: float, url: str | None
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="hall-bench-api-") as folder:
        data_dir = Path(folder) / "data"
        add_staff(data_dir, url)
        port = free_port()
        with hall_process(data_dir, port, url) as base:
            rows = asyncio.run(measure(base, rates, booking_rates, seconds))
    print_rows(database, rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="100,200", help="requests per second, comma-separated")
    parser.add_argument("--booking-rates", default="25,50", help="bookings per second, alone, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each step")
    parser.add_argument("--quick", action="store_true", help="3 seconds per step")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON at the end")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    booking_rates = [float(r) for r in args.booking_rates.split(",")]
    seconds = 3.0 if args.quick else args.seconds
    machine = platform.processor() or platform.machine()
    print(f"API benchmark: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"open loop, {seconds:.0f} s per step; latency from each request's scheduled time to its answer")
    results = {"sqlite": run_on("SQLite (the embedded default)", rates, booking_rates, seconds, None)}
    if not args.skip_postgres:
        with postgres_server() as (port, _socket_dir):
            url = asyncio.run(fresh_database(port))
            results["postgresql"] = run_on("PostgreSQL (a server on 127.0.0.1)", rates, booking_rates, seconds, url)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
