"""API benchmark: booking and listing appointments under concurrent load, on SQLite and on PostgreSQL.

    cd /work/main && /tmp/venv/bin/python bench/api.py          # or: make bench
    /tmp/venv/bin/python bench/api.py --quick                   # fewer seconds per step
    /tmp/venv/bin/python bench/api.py --rates 100,200,300 --booking-rates 25,50,100 --seconds 10 --json

The hall runs as `hall serve` in its own process (one uvicorn worker, as deployed), on a fresh SQLite file
and then on a fresh database of a throwaway PostgreSQL server on 127.0.0.1. This process is the client:
httpx over keep-alive connections, open loop. Requests are sent at the rate asked, on a fixed schedule, and
each latency runs from the request's scheduled time to its answer, so a server that falls behind shows it
(no coordinated omission).

The workload: one request in five books a new petitioner into a slot (POST /api/appointments: the booking
rules, the petitioner's encryption and hashes, the appointment, its history and three queued SMS in one
transaction, then the audit record); four in five list one leader's appointments for a day (GET
/api/appointments, 20 to 40 records with leader, petitioner, outcome and rating), as the schedule page and
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
SLOT_CAPACITY = 20


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


class Workload:
    """Slots with room for every booking the run makes, and a fresh petitioner for each."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.slots: list[int] = []
        self.days: list[tuple[int, str]] = []  # (leader, day) pairs to list
        self.booked = 0
        self.serial = random.randrange(10**6)

    async def prepare(self, bookings: int) -> None:
        leader = await self.client.post("/api/leaders", json={"name": "王局长", "title": "局长"}, headers=self.headers)
        leader.raise_for_status()
        leader_id = leader.json()["id"]
        today = dt.datetime.now(ZONE).date()
        per_day = 20 * SLOT_CAPACITY  # 08:00-18:00 in 30-minute slots
        for offset in range(1, bookings // per_day + 3):
            day = (today + dt.timedelta(days=offset)).isoformat()
            body = {
                "leader_id": leader_id,
                "day": day,
                "start": "08:00",
                "end": "18:00",
                "slot_minutes": 30,
                "capacity": SLOT_CAPACITY,
            }
            opened = await self.client.post("/api/reception-days", json=body, headers=self.headers)
            opened.raise_for_status()
            self.slots.extend(s["id"] for s in opened.json()["slots"])
            self.days.append((leader_id, day))
        # Something to list from the first request on: the last slot of every day, full. The runs book the rest.
        full = [self.slots[index * 20 + 19] for index in range(len(self.days))]
        for slot in full:
            for _ in range(SLOT_CAPACITY):
                (await self.book(slot=slot)).raise_for_status()
        self.slots = [slot for slot in self.slots if slot not in full]

    def book(self, slot: int | None = None) -> Any:
        self.serial += 1
        if slot is None:  # round robin over the slots, as different clerks book different slots
            slot = self.slots[self.booked % len(self.slots)]
            self.booked += 1
        body = {
            "slot_id": slot,
            "name": f"来访人{self.serial % 1000}",
            "phone": f"139{self.serial % 10**8:08d}",
            "id_number": id_number(self.serial),
            "subject": "征地补偿",
        }
        return self.client.post("/api/appointments", json=body, headers=self.headers)

    def list_day(self) -> Any:
        leader_id, day = random.choice(self.days)
        return self.client.get(
            "/api/appointments", params={"first": day, "last": day, "leader_id": leader_id}, headers=self.headers
        )


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
        except httpx.HTTPError as exc:
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
        latencies.append(time.perf_counter() - due)

    tasks = []
    for index in range(count):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
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
        await workload.prepare(int((sum(rates) / 5 + sum(booking_rates)) * seconds) + 400)

        def mixed(index: int) -> Any:  # one booking to four listings
            return workload.book() if index % 5 == 0 else workload.list_day()

        def me(_index: int) -> Any:
            return client.get("/api/auth/me", headers=headers)

        def health(_index: int) -> Any:
            return client.get("/healthz")

        await open_loop(50, 2, mixed)  # warm up: connections, caches, the JIT of the database's plans
        steps: list[tuple[float, str, Callable[[int], Any]]] = []
        for rate in rates:
            steps += [(rate, "GET /healthz", health), (rate, "GET /api/auth/me", me), (rate, "1 book : 4 list", mixed)]
        # Each half alone: listing at the highest rate, booking at rates a hall's clerks could never reach.
        steps.append((max(rates), "list only", lambda _i: workload.list_day()))
        steps += [(rate, "book only", lambda _i: workload.book()) for rate in booking_rates]
        for rate, name, request in steps:
            await asyncio.sleep(1.0)  # the previous step's stragglers are answered
            rows.append({"rate": rate, "request": name, **await open_loop(rate, seconds, request)})
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
