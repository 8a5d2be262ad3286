#!/usr/bin/env python3
"""The relay's cost (issue 14), against two live `admit serve` processes on one PostgreSQL.

Event latency: a sender turns its mic on and off; the time until a listener hears each
`mic-changed`, for three placements of one room owned by node A:
  - one node: sender and listener on A;
  - listener relayed: sender on A, listener on B (the event crosses once);
  - both relayed: sender and listener on B (the request crosses to A, the event back).
Join rates: 60 joins into a fresh room, 10 at a time, all on A against alternating A and B.

Usage: cluster_bench.py BASE_A BASE_B [rounds]   (run by Benchmarks/cluster.sh)
"""
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.request

import jwt
import websockets

BASE_A, BASE_B = sys.argv[1], sys.argv[2]
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 300
ADMIN = os.environ["ADMIT_ADMIN_TOKEN"]


def http(base, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers={"Authorization": token}, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def token(key, secret):
    now = int(time.time())
    return jwt.encode({"apikey": key, "permissions": ["allow_join", "allow_mod"], "iat": now, "exp": now + 3600}, secret, algorithm="HS256")


async def join(base, tok, room, participant):
    url = base.replace("http", "ws", 1) + f"/rtc?token={tok}&roomId={room}&participantId={participant}"
    ws = await websockets.connect(url, open_timeout=10, max_queue=None)
    while json.loads(await ws.recv()).get("event") != "meeting-joined":
        pass
    return ws


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def latency(tok, room, sender_base, listener_base):
    sender = await join(sender_base, tok, room, "sender")
    listener = await join(listener_base, tok, room, "listener")
    samples = []
    for round in range(ROUNDS):
        enabled = round % 2 == 0
        start = time.perf_counter()
        await sender.send(json.dumps({"id": round + 1, "method": "setMic", "enabled": enabled}))
        while True:
            event = json.loads(await listener.recv())
            if event.get("event") == "mic-changed" and event.get("participantId") == "sender" and event.get("enabled") == enabled:
                break
        samples.append(time.perf_counter() - start)
        await asyncio.sleep(0.002)
    await sender.close()
    await listener.close()
    return samples


async def joins(tok, room, bases, count=60, width=10):
    queue = list(range(count))
    sockets = []

    async def worker():
        while queue:
            index = queue.pop()
            sockets.append(await join(bases[index % len(bases)], tok, room, f"j{index}"))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    seconds = time.perf_counter() - start
    for ws in sockets:
        await ws.close()
    return count / seconds


async def main():
    made = http(BASE_A, "POST", "/admin/v1/api-keys", "Bearer " + ADMIN, {"name": "cluster-bench"})
    tok = token(made["apiKey"], made["secret"])
    await asyncio.sleep(0.3)  # B learns of the key

    def room_on_a():
        # A room whose first join (A's) makes A its owner.
        return http(BASE_A, "POST", "/v2/rooms", tok, {})["roomId"]

    results = {}
    for name, sender, listener in (("one node", BASE_A, BASE_A), ("listener relayed", BASE_A, BASE_B), ("both relayed", BASE_B, BASE_B)):
        room = room_on_a()
        anchor = await join(BASE_A, tok, room, "anchor")  # A owns the room
        results[name] = await latency(tok, room, sender, listener)
        await anchor.close()
    base = statistics.median(results["one node"]) * 1000
    print(f"event latency, {ROUNDS} mic toggles each (sender's request to the listener's event):")
    for name, samples in results.items():
        added = statistics.median(samples) * 1000 - base
        print(f"  {name:18} p50 {pct(samples, 0.5):6.2f} ms  p99 {pct(samples, 0.99):6.2f} ms" + ("" if name == "one node" else f"  (p50 added {added:+.2f} ms)"))
    one = await joins(tok, room_on_a(), [BASE_A])
    split = await joins(tok, room_on_a(), [BASE_A, BASE_B])
    print(f"joins, 60 into one room 10 at a time: all on the owner {one:.0f}/s, split over two nodes {split:.0f}/s")


asyncio.run(main())
