"""Join-storm benchmark over real WebSockets on loopback (Benchmarks/meetings.sh runs it).

Prints, in one run against one server: memory per participant, the bare WebSocket connect
rate (/bench/ws, no admission), admission throughput (2000 joins over 200 rooms of 10), then
joins into one room at 100, 1000 and 2000 participants (joins/s, p50/p99
from connect to meeting-joined, server memory per participant), then 500 ask_join guests
admitted by one host. Every client reads every event it is sent, so the fan-out (one
participant-joined to each member per join) is paid in full. Memory per participant is
measured first, on the idle server: RSS with 2000 participants in one room, minus idle
RSS, divided by 2000.

With --slope it prints only memory per participant as a slope: RSS after each of three
rooms of 1000, so one-time costs (first WebSocket, first session) stay out of the figure
that compares two builds (Benchmarks/memory.sh).
Usage: meetings.py BASE_URL DATA_DIR SERVER_PID [--slope]
"""
import asyncio
import json
import statistics
import sys
import time
import urllib.request

import websockets

BASE, DATA, PID = sys.argv[1], sys.argv[2], int(sys.argv[3])
WS = BASE.replace("http", "ws", 1)
CONCURRENCY = 64


def http(method, path, token=None, body=None):
    headers = {"Authorization": token} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(BASE + path, data=data, headers=headers, method=method)) as r:
        return json.loads(r.read())


def rss_kib():
    for line in open(f"/proc/{PID}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


async def drain(ws):
    try:
        async for _ in ws:
            pass
    except Exception:
        pass


async def storm(urls, expect):
    """Opens every URL (CONCURRENCY at a time); returns connections, latencies, elapsed seconds."""
    sem = asyncio.Semaphore(CONCURRENCY)
    opened, latencies = [], []

    async def one(url):
        async with sem:
            start = time.perf_counter()
            ws = await websockets.connect(url, max_queue=None, compression=None, open_timeout=60)
            while True:
                event = json.loads(await ws.recv())
                if event.get("event") == expect:
                    break
            latencies.append(time.perf_counter() - start)
            opened.append((ws, asyncio.create_task(drain(ws))))

    start = time.perf_counter()
    await asyncio.gather(*(one(url) for url in urls))
    return opened, latencies, time.perf_counter() - start


async def close_all(opened):
    await asyncio.gather(*(ws.close() for ws, _ in opened), return_exceptions=True)
    for _, task in opened:
        task.cancel()
    await asyncio.sleep(1)


async def settle(token, room):
    """Waits until the room's session has ended: after a big room closes, the server is still
    sending participant-left to the members left, and the next round must not run into that."""
    for _ in range(600):
        sessions = http("GET", f"/v2/sessions?roomId={room}", token)["data"]
        if sessions and sessions[0]["status"] == "ended":
            return
        await asyncio.sleep(0.2)


def line(name, count, latencies, elapsed, extra=""):
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(f"{name:<34} {count:>5} in {elapsed:6.2f} s  {count / elapsed:8.0f}/s   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms{extra}", flush=True)
    return count / elapsed


async def main():
    admin = open(f"{DATA}/admin-token").read().strip()
    token = http("GET", "/get-token")["token"]
    key = http("GET", "/admin/v1/api-keys", "Bearer " + admin)["data"][0]["apiKey"]
    guest_token = http("POST", f"/admin/v1/api-keys/{key}/tokens", "Bearer " + admin, {"permissions": ["ask_join"], "expiresIn": "1h"})["token"]

    # Memory first, on the idle server: RSS with 2000 participants in one room, minus idle RSS.
    idle = rss_kib()
    room = http("POST", "/v2/rooms", token, {})["roomId"]
    urls = [f"{WS}/rtc?roomId={room}&participantId=m{i}&token={token}" for i in range(2000)]
    opened, _, _ = await storm(urls, "meeting-joined")
    await asyncio.sleep(1)
    print(f"server memory with 2000 participants in one room: {(rss_kib() - idle) / 2000:.1f} KiB per participant (RSS over idle)", flush=True)
    await close_all(opened)
    await settle(token, room)

    opened, latencies, elapsed = await storm([f"{WS}/bench/ws"] * 2000, "connected")
    bare = line("bare WebSocket connects", 2000, latencies, elapsed)
    await close_all(opened)

    # Admission throughput without a big fan-out: 2000 joins spread over 200 rooms of 10.
    rooms = [http("POST", "/v2/rooms", token, {})["roomId"] for _ in range(200)]
    urls = [f"{WS}/rtc?roomId={rooms[i % 200]}&participantId=s{i}&token={token}" for i in range(2000)]
    opened, latencies, elapsed = await storm(urls, "meeting-joined")
    spread = line("joins into 200 rooms of 10", 2000, latencies, elapsed)
    await close_all(opened)
    for room in rooms[:5]:
        await settle(token, room)

    rates = {}
    for size in (100, 1000, 2000):
        room = http("POST", "/v2/rooms", token, {})["roomId"]
        urls = [f"{WS}/rtc?roomId={room}&participantId=p{i}&token={token}" for i in range(size)]
        opened, latencies, elapsed = await storm(urls, "meeting-joined")
        rates[size] = line(f"joins into one room of {size}", size, latencies, elapsed)
        await close_all(opened)
        await settle(token, room)

    room = http("POST", "/v2/rooms", token, {})["roomId"]
    host = await websockets.connect(f"{WS}/rtc?roomId={room}&participantId=host&token={token}", max_queue=None)
    await host.recv()
    answered = 0

    async def admit_all():
        nonlocal answered
        request_id = 0
        async for text in host:
            event = json.loads(text)
            if event.get("event") == "entry-requested":
                request_id += 1
                answered += 1
                await host.send(json.dumps({"id": request_id, "method": "respondEntry", "participantId": event["participantId"], "decision": "allowed"}))

    admitter = asyncio.create_task(admit_all())
    urls = [f"{WS}/rtc?roomId={room}&participantId=g{i}&token={guest_token}" for i in range(500)]
    opened, latencies, elapsed = await storm(urls, "meeting-joined")
    line("ask_join guests admitted by a host", 500, latencies, elapsed)
    admitter.cancel()
    await close_all(opened)
    await host.close()

    print()
    print(f"admission throughput / bare connects (200 rooms of 10): {spread / bare:.0%}")
    print(f"per-join cost, 2000 vs 100: {rates[100] / rates[2000]:.1f}x (room size 20x)")


async def slope():
    token = http("GET", "/get-token")["token"]
    idle = rss_kib()
    readings, everyone = [], []
    for _ in range(3):
        room = http("POST", "/v2/rooms", token, {})["roomId"]
        opened, _, _ = await storm([f"{WS}/rtc?roomId={room}&participantId=p{i}&token={token}" for i in range(1000)], "meeting-joined")
        everyone += opened
        await asyncio.sleep(1)
        readings.append(rss_kib())
    print(f"KiB per participant: first 1000 {(readings[0] - idle) / 1000:.1f} (with one-time costs), "
          f"then {(readings[1] - readings[0]) / 1000:.1f} and {(readings[2] - readings[1]) / 1000:.1f} per participant (the slope)")
    await close_all(everyone)


asyncio.run(slope() if "--slope" in sys.argv[4:] else main())
