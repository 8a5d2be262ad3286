"""Soak: minutes of join/leave/lobby churn against one server, with its resident memory
sampled as it goes (Benchmarks/soak.sh runs it).

Workers loop over a few rooms: a host joins, guests ask to join and wait in the lobby, the
host admits most and denies one, a guest gives up while waiting, members toggle their mic,
everyone leaves. Every event a client is sent is read. At the end it prints the cycles and
joins made, every error seen (an unexpected event, a refused join, a dropped connection), and
the RSS slope over the second half of the run (the first half lets allocators settle), which
must stay flat: a leak of a few hundred bytes per join would show as MiB per minute here.

Usage: soak.py BASE_URL DATA_DIR SERVER_PID MINUTES
"""
import asyncio
import json
import random
import sys
import time
import urllib.request

import websockets

BASE, DATA, PID, MINUTES = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
WS = BASE.replace("http", "ws", 1)
WORKERS, ROOMS, GUESTS = 8, 16, 4


def http(method, path, token=None, body=None):
    headers = {"Authorization": token} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(BASE + path, data=data, headers=headers, method=method)) as r:
        return json.loads(r.read())


def rss_kib():
    for line in open(f"/proc/{PID}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


class Stats:
    cycles = 0
    joins = 0
    errors = []


async def until(ws, name, timeout=10):
    """Reads events until one named `name`; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if event.get("event") == name:
            return event
        if event.get("event") in ("error",):
            raise RuntimeError(f"unexpected {event}")


async def drain(ws):
    try:
        async for _ in ws:
            pass
    except Exception:
        pass


async def cycle(worker, n, room, host_token, guest_token):
    tag = f"w{worker}c{n}"
    connections, drains = [], []
    try:
        host = await websockets.connect(f"{WS}/rtc?roomId={room}&participantId=h-{tag}&name=Host&token={host_token}", max_queue=None)
        connections.append(host)
        await until(host, "meeting-joined")
        Stats.joins += 1
        guests = []
        for g in range(GUESTS):
            ws = await websockets.connect(f"{WS}/rtc?roomId={room}&participantId=g{g}-{tag}&name=Guest&token={guest_token}", max_queue=None)
            connections.append(ws)
            guests.append(ws)
        requested = set()
        while len(requested) < GUESTS:
            requested.add((await until(host, "entry-requested"))["participantId"])
        # One guest gives up while waiting; one is denied; the rest come in.
        await guests[0].close()
        await host.send(json.dumps({"id": 1, "method": "respondEntry", "participantId": f"g1-{tag}", "decision": "denied"}))
        for g in range(2, GUESTS):
            await host.send(json.dumps({"id": g, "method": "respondEntry", "participantId": f"g{g}-{tag}", "decision": "allowed"}))
        left = await until(guests[1], "entry-responded")
        if left.get("decision") != "denied":
            raise RuntimeError(f"expected a denial, got {left}")
        for g in range(2, GUESTS):
            await until(guests[g], "meeting-joined")
            Stats.joins += 1
            await guests[g].send(json.dumps({"id": 9, "method": "setMic", "enabled": True}))
        for ws in connections:
            drains.append(asyncio.create_task(drain(ws)))
        await asyncio.sleep(random.uniform(0.05, 0.3))
        Stats.cycles += 1
    except Exception as error:  # noqa: BLE001
        Stats.errors.append(f"{tag}: {type(error).__name__}: {error}"[:300])
    finally:
        await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)
        for task in drains:
            task.cancel()


async def worker(index, rooms, host_token, guest_token, stop):
    n = 0
    while time.monotonic() < stop:
        # Each worker keeps to its own rooms, so hosts never answer another worker's guests.
        await cycle(index, n, rooms[(index + n * WORKERS) % len(rooms)], host_token, guest_token)
        n += 1


async def main():
    admin = open(f"{DATA}/admin-token").read().strip()
    host_token = http("GET", "/get-token")["token"]
    key = http("GET", "/admin/v1/api-keys", "Bearer " + admin)["data"][0]["apiKey"]
    guest_token = http("POST", f"/admin/v1/api-keys/{key}/tokens", "Bearer " + admin, {"permissions": ["ask_join"], "expiresIn": "24h"})["token"]
    rooms = [http("POST", "/v2/rooms", host_token, {})["roomId"] for _ in range(ROOMS * WORKERS)]
    start = time.monotonic()
    stop = start + MINUTES * 60
    samples = []

    async def sample():
        while time.monotonic() < stop:
            samples.append((time.monotonic() - start, rss_kib()))
            await asyncio.sleep(5)

    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(worker(i, rooms, host_token, guest_token, stop) for i in range(WORKERS)))
    sampler.cancel()
    await asyncio.sleep(2)
    samples.append((time.monotonic() - start, rss_kib()))
    half = [s for s in samples if s[0] >= MINUTES * 30]
    n = len(half)
    mean_t = sum(t for t, _ in half) / n
    mean_r = sum(r for _, r in half) / n
    slope = sum((t - mean_t) * (r - mean_r) for t, r in half) / max(1e-9, sum((t - mean_t) ** 2 for t, _ in half))
    elapsed = time.monotonic() - start
    print(f"soak: {MINUTES:g} min, {WORKERS} workers, {Stats.cycles} cycles, {Stats.joins} joins ({Stats.joins / elapsed:.0f}/s)")
    print(f"rss: start {samples[0][1] / 1024:.1f} MiB, end {samples[-1][1] / 1024:.1f} MiB, max {max(r for _, r in samples) / 1024:.1f} MiB")
    print(f"rss slope over the second half: {slope * 60:+.1f} KiB/min ({n} samples)")
    print(f"errors: {len(Stats.errors)}")
    for line in Stats.errors[:10]:
        print("  " + line)
    sys.exit(1 if Stats.errors else 0)


asyncio.run(main())
