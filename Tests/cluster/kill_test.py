#!/usr/bin/env python3
"""Nodes killed with SIGKILL mid-meeting (issue 14), against live `admit serve` processes on one
PostgreSQL:
1. node A owns a room whose participants are on A and on B; A is killed; every participant
   joins again through B within 5 s, the meeting goes on with one live session, and the
   session A left live is ended with its time logs closed;
2. a notification forged without the nodes' key (any database login may NOTIFY) is ignored;
3. A is started again, a participant joins through it (relayed to B), and A is killed and
   restarted under the same id at once (its node lease never lapses): B still lets that
   participant go within seconds (the new run does not know it).

Usage: kill_test.py BASE_A BASE_B PID_A   (run by scripts/cluster-test.sh in CI, which sets
ADMIT_BIN, ADMIT_TEST_POSTGRES_NODES_URL and CLUSTER_DIR)
Exits 0 when every check passes; prints each failed check and exits 1 otherwise.
"""
import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jwt
import websockets

BASE_A, BASE_B, PID_A = sys.argv[1], sys.argv[2], int(sys.argv[3])
ADMIN = os.environ["ADMIT_ADMIN_TOKEN"]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def http(base, method, path, token=None, body=None):
    headers = {"Authorization": token} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def token(key, secret, permissions=("allow_join",)):
    now = int(time.time())
    return jwt.encode({"apikey": key, "permissions": list(permissions), "iat": now, "exp": now + 600}, secret, algorithm="HS256")


async def join(base, tok, room, participant, deadline=None):
    """Joins until meeting-joined (retrying refusals and refused connects until `deadline`)."""
    url = base.replace("http", "ws", 1) + f"/rtc?token={tok}&roomId={room}&participantId={participant}"
    while True:
        try:
            ws = await websockets.connect(url, open_timeout=3)
            first = json.loads(await asyncio.wait_for(ws.recv(), 3))
            if first.get("event") == "meeting-joined":
                return ws, first
            await ws.close()
        except Exception:
            pass
        if deadline is None or time.monotonic() > deadline:
            raise RuntimeError(f"{participant} could not join through {base}")
        await asyncio.sleep(0.1)


async def until_closed(ws, limit):
    """Reads until the connection closes; its close code, or None after `limit` seconds."""
    try:
        async with asyncio.timeout(limit):
            async for _ in ws:
                pass
    except TimeoutError:
        return None
    except websockets.ConnectionClosed:
        pass
    return ws.close_code


def terminate(node):
    """Cuts `node`'s listening connections to PostgreSQL (its node link's and its change feed's)."""
    channel = "admit_node_" + hashlib.sha256(node.encode()).hexdigest()[:32]
    sql = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
           f"WHERE query LIKE 'LISTEN \"{channel}\"%' OR (query LIKE 'LISTEN \"admit_changes\"%' AND pid IN "
           f"(SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%'))")
    out = subprocess.run(["psql", "-At", os.environ["ADMIT_TEST_POSTGRES_NODES_URL"], "-c", sql], check=True, capture_output=True, text=True)
    check(int(out.stdout.strip() or 0) >= 1, f"{node}'s listening connections cut ({out.stdout.strip()})")


def start_a():
    """Node A again (same id, a new run), waited for."""
    directory = os.path.join(os.environ["CLUSTER_DIR"], f"a-{time.monotonic_ns()}")
    os.makedirs(directory)
    process = subprocess.Popen(
        [os.environ["ADMIT_BIN"], "serve", "--host", "127.0.0.1", "--port", BASE_A.rsplit(":", 1)[1], "--database",
         os.environ["ADMIT_TEST_POSTGRES_NODES_URL"], "--data-dir", directory, "--node-id", "a", "--no-janus"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(directory, "log"), "w"))
    for _ in range(150):
        try:
            urllib.request.urlopen(BASE_A + "/health", timeout=1)
            return process
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("node A did not start again")


async def next_event(ws, name, limit):
    """The next event called `name` within `limit` seconds, or None."""
    try:
        async with asyncio.timeout(limit):
            while True:
                event = json.loads(await ws.recv())
                if event.get("event") == name:
                    return event
    except (TimeoutError, websockets.ConnectionClosed):
        return None


async def expect_everyone(ws, first, everyone, limit=5):
    """Whether `ws` hears of everyone (meeting-joined's list, then participant-joined) in time."""
    seen = {p["participantId"] for p in first.get("participants", [])} | {first.get("participantId")}
    try:
        async with asyncio.timeout(limit):
            while not everyone <= seen:
                event = json.loads(await ws.recv())
                if event.get("event") == "participant-joined":
                    seen.add(event["participantId"])
    except (TimeoutError, websockets.ConnectionClosed):
        pass
    return everyone <= seen


async def main():
    status, made = http(BASE_A, "POST", "/admin/v1/api-keys", "Bearer " + ADMIN, {"name": "cluster-test"})
    check(status == 200 and "apiKey" in made, f"a key made on A ({status})")
    key, secret = made["apiKey"], made["secret"]
    host = token(key, secret, ("allow_join", "allow_mod"))
    # B learns of the key by notification.
    for _ in range(50):
        if http(BASE_B, "GET", "/v2/rooms?page=1&perPage=1", host)[0] == 200:
            break
        await asyncio.sleep(0.05)
    status, room = http(BASE_A, "POST", "/v2/rooms", host, {})
    room_id = room["roomId"]

    # alice and bob on A (alice first: A owns the room), carol on B (relayed to A).
    alice, first = await join(BASE_A, host, room_id, "alice")
    bob, _ = await join(BASE_A, host, room_id, "bob")
    carol, carol_first = await join(BASE_B, host, room_id, "carol")
    everyone = {"alice", "bob", "carol"}
    check(await expect_everyone(alice, first, everyone), "alice on A hears of carol on B")
    check({p["participantId"] for p in carol_first["participants"]} == {"alice", "bob"}, "carol on B sees alice and bob on A")
    metrics = urllib.request.urlopen(BASE_A + "/metrics", timeout=5).read().decode()
    check('admit_node_info{node="a"} 1' in metrics, "A's /metrics names its node")

    # B's listening connections are cut (a proxy restart, a failover): B reconnects; relays that
    # may have lost messages close with 1012 and join again; changes still reach B.
    terminate("b")
    code = await until_closed(carol, 5)
    check(code == 1012, f"carol's relay closes with 1012 when B's link was cut ({code})")
    carol, carol_first = await join(BASE_B, host, room_id, "carol", time.monotonic() + 5)
    check({p["participantId"] for p in carol_first["participants"]} == {"alice", "bob"}, "carol joins again through B")
    status, other = http(BASE_A, "POST", "/admin/v1/api-keys", "Bearer " + ADMIN, {"name": "after-reconnect"})
    other_token = token(other["apiKey"], other["secret"])
    took = None
    started = time.monotonic()
    while time.monotonic() - started < 3:
        if http(BASE_B, "GET", "/v2/rooms?page=1&perPage=1", other_token)[0] == 200:
            took = time.monotonic() - started
            break
        await asyncio.sleep(0.05)
    check(took is not None, f"after the reconnect B takes a key made on A ({took})")
    _, sessions = http(BASE_B, "GET", f"/v2/sessions?roomId={room_id}", host)
    check([s["status"] for s in sessions["data"]] == ["ongoing"], "one live session before the kill")
    before = sessions["data"][0]["id"]

    # A dies. Its participants' connections drop; carol's relay is closed by B (1012) once A's lease lapses.
    os.kill(PID_A, signal.SIGKILL)
    killed = time.monotonic()
    carol_code = await until_closed(carol, 6)
    check(carol_code == 1012, f"carol's relayed connection on B closes with 1012 (service restart), got {carol_code}")
    deadline = killed + 5
    rejoined = await asyncio.gather(*(join(BASE_B, host, room_id, name, deadline) for name in ("alice", "bob", "carol")), return_exceptions=True)
    took = time.monotonic() - killed
    joined = [r for r in rejoined if not isinstance(r, Exception)]
    check(len(joined) == 3 and took <= 5, f"every participant joined again through B within 5 s ({took:.2f} s)")
    print(f"takeover: all three back through B {took:.2f} s after SIGKILL")
    if len(joined) == 3:
        heard = await asyncio.gather(*(expect_everyone(ws, first, everyone) for ws, first in joined))
        check(all(heard), "after the takeover everyone sees everyone")
    _, sessions = http(BASE_B, "GET", f"/v2/sessions?roomId={room_id}", host)
    states = {s["id"]: s for s in sessions["data"]}
    live = [s for s in sessions["data"] if s["status"] == "ongoing"]
    check(len(live) == 1 and live[0]["id"] != before, f"one live session after the takeover ({[s['status'] for s in sessions['data']]})")
    old = states.get(before, {})
    stays = [stay for p in old.get("participants", []) for stay in p["timelog"]]
    check(old.get("status") == "ended" and stays and all(stay["end"] for stay in stays),
          "the dead node's session is ended, every stay in its time log closed")
    # The gauges follow each second's lease round.
    owned = False
    for _ in range(30):
        owned = "admit_rooms_owned 1" in urllib.request.urlopen(BASE_B + "/metrics", timeout=5).read().decode()
        if owned:
            break
        await asyncio.sleep(0.1)
    check(owned, "B's /metrics counts the room it took over")
    # 2. A forged notification (the right channel and format, no key) is dropped: the meeting goes on.
    alice_ws = joined[0][0] if joined else None
    channel = "admit_node_" + hashlib.sha256(b"b").hexdigest()[:32]
    forged = "v2 a x 1 0 AAAA\n" + json.dumps({"t": "call", "op": "end", "rq": 1, "key": key, "room": room_id})
    subprocess.run(["psql", "-q", os.environ["ADMIT_TEST_POSTGRES_NODES_URL"], "-c", f"SELECT pg_notify('{channel}', $${forged}$$)"], check=True,
                   stdout=subprocess.DEVNULL)
    ended = None
    if alice_ws:
        ended = await next_event(alice_ws, "meeting-left", 1.5)
    check(alice_ws is not None and ended is None, "a forged 'end' notification without the nodes' key is ignored")

    # 3. A again; dave joins through it (relayed to B, the owner now); A is killed and restarted at once.
    a2 = start_a()
    dave, _ = await join(BASE_A, host, room_id, "dave", time.monotonic() + 5)
    if alice_ws:
        check(await next_event(alice_ws, "participant-joined", 3) is not None, "dave, relayed through the restarted A, joins B's meeting")
    a2.kill()
    a2.wait()
    a3 = start_a()
    restarted = time.monotonic()
    left = await next_event(alice_ws, "participant-left", 8) if alice_ws else None
    took = time.monotonic() - restarted
    check(left is not None and left.get("participantId") == "dave" and took < 6,
          f"B lets dave go after A restarts under the same id ({took:.2f} s)")
    print(f"restart under the same id: dave gone from B's meeting {took:.2f} s after A came back")
    a3.terminate()
    a3.wait()
    for ws, _ in joined:
        await ws.close()
    if failures:
        print(f"{len(failures)} failed")
        sys.exit(1)
    print("cluster kill test: all checks passed")


asyncio.run(main())
