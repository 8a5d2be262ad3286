#!/usr/bin/env python3
"""Server memory per meeting participant as a slope: RSS after each of three rooms of 1000
participants, so one-time costs (first WebSocket, first session) stay out of the per-participant
figure. Run by Benchmarks/memory.sh.

Usage: memory_slope.py BASE_URL SERVER_PID
"""
import asyncio
import json
import sys
import urllib.request

import websockets

BASE, PID = sys.argv[1], int(sys.argv[2])
WS = BASE.replace("http", "ws", 1)
ROOM_SIZE = 1000


def http(method, path, token=None, body=None):
    headers = {"Authorization": token} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(BASE + path, data=data, headers=headers, method=method)) as response:
        return json.loads(response.read())


def rss_kib():
    for line in open(f"/proc/{PID}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


async def join_room(token, room):
    sem = asyncio.Semaphore(64)
    opened = []

    async def one(i):
        async with sem:
            ws = await websockets.connect(f"{WS}/rtc?roomId={room}&participantId=p{i}&token={token}",
                                          max_queue=None, compression=None, open_timeout=60)
            while json.loads(await ws.recv()).get("event") != "meeting-joined":
                pass
            opened.append(ws)
            asyncio.create_task(drain(ws))

    await asyncio.gather(*(one(i) for i in range(ROOM_SIZE)))
    return opened


async def drain(ws):
    try:
        async for _ in ws:
            pass
    except Exception:
        pass


async def main():
    token = http("GET", "/get-token")["token"]
    idle = rss_kib()
    readings, everyone = [], []
    for _ in range(3):
        room = http("POST", "/v2/rooms", token, {})["roomId"]
        everyone += await join_room(token, room)
        await asyncio.sleep(1)
        readings.append(rss_kib())
    first = (readings[0] - idle) / ROOM_SIZE
    slopes = [(readings[i + 1] - readings[i]) / ROOM_SIZE for i in range(2)]
    print(f"KiB per participant: first 1000 {first:.1f} (with one-time costs), "
          f"then {slopes[0]:.1f} and {slopes[1]:.1f} per participant (the slope)")
    await asyncio.gather(*(ws.close() for ws in everyone), return_exceptions=True)


asyncio.run(main())
